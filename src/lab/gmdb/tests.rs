//! The GMDB readers on the fixtures `models/tools/gmarc_fixtures.py` writes
//! (`tests/fixtures/gmarc/`), and on small inline files for the refusals.

use super::*;
use crate::lab::gmarc::{attach_metadata, read_metadata_from};
use crate::lab::labels::Gene;

/// A fixture file's text, compiled in (a test binary never looks into the build tree).
fn fixture(name: &str) -> &'static str {
    match name {
        "gmdb_syndromes.tsv" => include_str!("../../../tests/fixtures/gmarc/gmdb_syndromes.tsv"),
        "gmdb_syndromes_bad_omim.tsv" => {
            include_str!("../../../tests/fixtures/gmarc/gmdb_syndromes_bad_omim.tsv")
        }
        "gmdb_frequent_gallery.csv" => {
            include_str!("../../../tests/fixtures/gmarc/gmdb_frequent_gallery.csv")
        }
        "gmdb_rare_gallery.csv" => {
            include_str!("../../../tests/fixtures/gmarc/gmdb_rare_gallery.csv")
        }
        "gmarc_metadata.jsonl" => {
            include_str!("../../../tests/fixtures/gmarc/gmarc_metadata.jsonl")
        }
        other => panic!("no fixture {other}"),
    }
}

/// A GMDB split and syndromes fixture pair, read under their own names.
fn read(split: &str, tsv: &str) -> Result<LabelSet> {
    read_gmdb_from(
        fixture(split).as_bytes(),
        Path::new(split),
        fixture(tsv).as_bytes(),
        Path::new(tsv),
        "img/{image_id}.jpg",
    )
}

fn read_inline(split: &str, tsv: &str) -> Result<LabelSet> {
    read_gmdb_from(
        split.as_bytes(),
        Path::new("split.csv"),
        tsv.as_bytes(),
        Path::new("syndromes.tsv"),
        "{image_id}.jpg",
    )
}

const TSV: &str = "syndrome_id\tsyndrome_name\tOMIM\n1\tA\t900001.0\n2\tB\t\n";

#[test]
fn omim_text_to_integer() {
    assert_eq!(parse_omim("122470"), Ok(122470));
    assert_eq!(parse_omim("122470.0"), Ok(122470));
    assert_eq!(parse_omim(" 122470.000 "), Ok(122470));
    for bad in [
        "122470.5",
        "abc",
        "",
        ".0",
        "-1",
        "1e5",
        "122470.0x",
        "99999999999",
    ] {
        assert!(parse_omim(bad).is_err(), "`{bad}` accepted");
    }
    assert!(parse_omim("12.5").unwrap_err().contains("`12.5`"));
}

#[test]
fn syndromes_tsv_omim_float_and_empty() {
    let s = read("gmdb_frequent_gallery.csv", "gmdb_syndromes.tsv").unwrap();
    let names: Vec<&str> = s.labels.iter().map(|l| l.name.as_str()).collect();
    assert_eq!(names, ["Test syndrome A", "Test syndrome B"]);
    assert_eq!(
        s.labels[0].omim.as_deref(),
        Some("900001"),
        "900001.0 is 900001"
    );
    assert_eq!(s.labels[1].omim, None, "an empty OMIM is none");
    assert!(s.labels.iter().all(|l| l.genes.is_empty()));
}

#[test]
fn non_integer_omim_names_file_and_line() {
    let e = read("gmdb_frequent_gallery.csv", "gmdb_syndromes_bad_omim.tsv").unwrap_err();
    match &e {
        GalleryError::LabelLine {
            path,
            line,
            message,
        } => {
            assert!(path.ends_with("gmdb_syndromes_bad_omim.tsv"), "{e}");
            assert_eq!(*line, 3);
            assert!(message.contains("900002.5"), "{e}");
        }
        other => panic!("unexpected error {other}"),
    }
}

#[test]
fn frequent_split_one_case_per_row() {
    let s = read("gmdb_frequent_gallery.csv", "gmdb_syndromes.tsv").unwrap();
    let rows: Vec<(&str, &str, usize, &Path)> = s
        .cases
        .iter()
        .map(|c| {
            (
                c.case_id.as_str(),
                c.subject.as_str(),
                c.label,
                c.image.as_path(),
            )
        })
        .collect();
    assert_eq!(
        rows,
        [
            ("9001", "501", 0, Path::new("img/9001.jpg")),
            ("9002", "501", 0, Path::new("img/9002.jpg")),
            ("9003", "502", 1, Path::new("img/9003.jpg")),
        ]
    );
    assert!(s
        .cases
        .iter()
        .all(|c| c.splits.is_empty() && c.role.is_none() && c.genes.is_empty()));
}

#[test]
fn rare_split_repeated_ids_are_one_image_in_several_splits() {
    let s = read("gmdb_rare_gallery.csv", "gmdb_syndromes.tsv").unwrap();
    let cases: Vec<(&str, &str, usize, Vec<&str>)> = s
        .cases
        .iter()
        .map(|c| {
            let splits = c.splits.iter().map(String::as_str).collect();
            (c.case_id.as_str(), c.subject.as_str(), c.label, splits)
        })
        .collect();
    assert_eq!(
        cases,
        [
            ("9001", "501", 0, vec!["0", "1", "2"]),
            ("9003", "502", 1, vec!["0"]),
            ("9002", "501", 0, vec!["1"]),
        ]
    );
    let path = Path::new("gmdb_rare_gallery.csv");
    let ids = |split: &str| -> Vec<String> {
        let set = s.in_split(split, path).unwrap();
        assert_eq!(set.labels, s.labels, "labels are kept");
        set.cases.into_iter().map(|c| c.case_id).collect()
    };
    assert_eq!(ids("0"), ["9001", "9003"]);
    assert_eq!(ids("1"), ["9001", "9002"]);
    assert_eq!(ids("2"), ["9001"]);
    let e = s.in_split("7", path).unwrap_err();
    assert!(e.to_string().contains("split `7`"), "{e}");
}

#[test]
fn rare_split_refuses_conflicting_or_doubled_rows() {
    let head = "image_id,subject,label,split\n9001,501,1,0\n";
    let e = read_inline(&format!("{head}9001,501,1,0\n"), TSV).unwrap_err();
    assert!(
        matches!(&e, GalleryError::DuplicateCase { line: 3, first_line: 2, case_id, .. } if case_id == "9001"),
        "{e}"
    );
    for other in ["9001,502,1,1\n", "9001,501,2,1\n"] {
        let e = read_inline(&format!("{head}{other}"), TSV).unwrap_err();
        assert!(
            matches!(&e, GalleryError::LabelLine { line: 3, message, .. } if message.contains("line 2")),
            "{other}: {e}"
        );
    }
    let e = read_inline("image_id,subject,label,split\n9001,501,1,\n", TSV).unwrap_err();
    assert!(
        matches!(&e, GalleryError::LabelLine { line: 2, message, .. } if message == "empty split"),
        "{e}"
    );
}

#[test]
fn metadata_genes_reach_cases_and_the_label_table() {
    let mut s = read("gmdb_frequent_gallery.csv", "gmdb_syndromes.tsv").unwrap();
    let text = fixture("gmarc_metadata.jsonl");
    let meta = read_metadata_from(text.as_bytes(), Path::new("gmarc_metadata.jsonl")).unwrap();
    attach_metadata(&mut s, &meta);
    let fake1 = Gene {
        name: "FAKE1".into(),
        entrez_id: Some(990001),
    };
    let fake2 = Gene {
        name: "FAKE2".into(),
        entrez_id: None,
    };
    assert_eq!(s.cases[0].genes, [fake1.clone(), fake2]);
    assert_eq!(s.cases[1].genes, [fake1]);
    assert!(s.cases[2].genes.is_empty());
    assert_eq!(s.labels[0].genes, ["FAKE1", "FAKE2"]);
    assert!(s.labels[1].genes.is_empty());
}
