//! The neutral-file readers on the fixtures `models/tools/gmarc_fixtures.py` writes (and
//! `gmarc_convert.py` converts), cross-checked against GM-Arc's own `;`-CSV form, and on small
//! inline files for the refusals.

use super::*;

/// The fixtures' text, compiled in (a test binary never looks into the build tree).
const METADATA: &str = include_str!("../../../tests/fixtures/gmarc/gmarc_metadata.jsonl");
const ENCODINGS: &str = include_str!("../../../tests/fixtures/gmarc/gmarc_encodings.jsonl");
const ENCODINGS_CSV: &str = include_str!("../../../tests/fixtures/gmarc/gmarc_encodings.csv");

fn line_of_error(e: &GalleryError) -> u64 {
    match e {
        GalleryError::LabelLine { line, .. } => *line,
        other => panic!("unexpected error {other}"),
    }
}

#[test]
fn metadata_fixture_field_by_field() {
    let m = read_metadata_from(METADATA.as_bytes(), Path::new("m.jsonl")).unwrap();
    let disorder = |name: &str, omim| Disorder {
        name: name.into(),
        omim,
    };
    assert_eq!(m.disorders.len(), 2);
    assert_eq!(m.disorders["11"], disorder("Test syndrome A", Some(900001)));
    assert_eq!(m.disorders["12"], disorder("Test syndrome B", None));
    assert_eq!(m.genes.len(), 2);
    assert_eq!(m.genes["71"].name, "FAKE1");
    assert_eq!(m.genes["71"].entrez_id, Some(990001));
    assert_eq!(m.genes["72"].entrez_id, None);
    let image = |d: &str, p: &str, g: &[&str]| ImageMeta {
        disorder_id: d.into(),
        patient_id: p.into(),
        gene_ids: g.iter().map(|s| s.to_string()).collect(),
    };
    assert_eq!(m.images.len(), 3);
    assert_eq!(m.images["9001"], image("11", "501", &["71", "72"]));
    assert_eq!(m.images["9002"], image("11", "501", &["71"]));
    assert_eq!(m.images["9003"], image("12", "502", &[]));
    let names: Vec<String> = m.genes_of("9001").into_iter().map(|g| g.name).collect();
    assert_eq!(names, ["FAKE1", "FAKE2"]);
    assert!(m.genes_of("4242").is_empty());
}

#[test]
fn metadata_refusals_name_the_line() {
    let d = r#"{"kind":"disorder","id":"1","name":"A","omim":null}"#;
    let g = r#"{"kind":"gene","id":"5","name":"G","entrez_id":7}"#;
    let cases = [
        (format!("{d}\n{d}\n"), 2, "already appears on line 1"),
        (
            format!("{d}\n\n{{\"kind\":\"image\",\"id\":\"9\",\"disorder_id\":\"2\",\"patient_id\":\"3\"}}\n"),
            3,
            "disorder `2`",
        ),
        (
            format!("{d}\n{g}\n{{\"kind\":\"image\",\"id\":\"9\",\"disorder_id\":\"1\",\"patient_id\":\"3\",\"gene_ids\":[\"5\",\"6\"]}}\n"),
            3,
            "gene `6`",
        ),
        (format!("{d}\n{{\"kind\":\"virus\"}}\n"), 2, "virus"),
        (format!("{g}\n{{\"kind\":\"disorder\",\"id\":\"1\",\"name\":\"A\",\"omim\":12.5}}\n"), 2, "12.5"),
    ];
    for (text, line, needle) in cases {
        let e = read_metadata_from(text.as_bytes(), Path::new("m.jsonl")).unwrap_err();
        assert_eq!(line_of_error(&e), line, "{e}");
        assert!(e.to_string().contains(needle), "{e}");
        assert!(e.to_string().contains("m.jsonl"), "{e}");
    }
    assert!(matches!(
        read_metadata_from(&b"\n \n"[..], Path::new("m.jsonl")),
        Err(GalleryError::LabelEmpty { .. })
    ));
}

/// GM-Arc's `;`-CSV form of the same table, read here without the converter (the image id
/// taken from `img_name`).
fn csv_rows() -> Vec<EncodingRow> {
    let mut rdr = csv::ReaderBuilder::new()
        .delimiter(b';')
        .from_reader(ENCODINGS_CSV.as_bytes());
    let list = |s: &str| -> Vec<f32> {
        let body = s.trim().trim_start_matches('[').trim_end_matches(']');
        body.split(',').map(|x| x.trim().parse().unwrap()).collect()
    };
    rdr.records()
        .map(|r| {
            let r = r.unwrap();
            EncodingRow {
                image_id: image_id_of(&r[0]).to_string(),
                img_name: r[0].to_string(),
                model: r[1].to_string(),
                flip: &r[2] == "1",
                gray: &r[3] == "1",
                class_conf: list(&r[4]),
                representation: list(&r[5]),
            }
        })
        .collect()
}

#[test]
fn encodings_fixture_matches_the_csv_form() {
    let rows = read_encodings_from(ENCODINGS.as_bytes(), Path::new("e.jsonl")).unwrap();
    assert_eq!(rows.len(), 3 * 2 * 4, "3 images x 2 models x 4 variants");
    assert_eq!(rows, csv_rows(), "every field of every row");
    assert!(rows.iter().all(|r| r.representation.len() == 32));
    assert!(rows.iter().all(|r| r.class_conf.len() == 4));
    let first = &rows[0];
    assert_eq!(first.image_id, "9001");
    assert_eq!(first.img_name, "9001_rot_aligned.jpg");
    assert_eq!(
        (first.model.as_str(), first.flip, first.gray),
        ("m0", false, false)
    );
    let variants: Vec<(bool, bool)> = rows[..4].iter().map(|r| (r.flip, r.gray)).collect();
    assert_eq!(
        variants,
        [(false, false), (true, false), (false, true), (true, true)]
    );
    assert_eq!(rows[4].model, "m1");
    assert_eq!(rows[8].image_id, "9002");
    assert_eq!(rows[0].representation[0], 0.291_337_58);
}

#[test]
fn image_id_is_the_text_before_the_first_underscore() {
    assert_eq!(image_id_of("1001_rot_aligned.jpg"), "1001");
    assert_eq!(image_id_of("1001.jpg"), "1001.jpg");
}

#[test]
fn encodings_refusals_name_the_line() {
    let row = |id: &str, name: &str, flip: u8, rep: &str| {
        format!(
            r#"{{"image_id":"{id}","img_name":"{name}","model":"m0","flip":{flip},"gray":0,"class_conf":[],"representation":{rep}}}"#
        )
    };
    let ok = row("1", "1_a.jpg", 0, "[1.0,2.0]");
    let cases = [
        (
            format!("{ok}\n{}\n", row("1", "1_a.jpg", 0, "[3.0,4.0]")),
            2,
            "already appears on line 1",
        ),
        (
            format!("{ok}\n{}\n", row("2", "2_a.jpg", 0, "[3.0]")),
            2,
            "1 values",
        ),
        (
            format!("{ok}\n{}\n", row("3", "2_a.jpg", 1, "[3.0,4.0]")),
            2,
            "img_name",
        ),
        (
            format!("{ok}\n\n{}\n", row("2", "2_a.jpg", 2, "[3.0,4.0]")),
            3,
            "0 or 1",
        ),
        (
            format!("{ok}\n{}\n", row("2", "2_a.jpg", 1, "[]")),
            2,
            "0 values",
        ),
    ];
    for (text, line, needle) in cases {
        let e = read_encodings_from(text.as_bytes(), Path::new("e.jsonl")).unwrap_err();
        assert_eq!(line_of_error(&e), line, "{e}");
        assert!(e.to_string().contains(needle), "{e}");
    }
    let two = format!("{ok}\n{}\n", row("1", "1_a.jpg", 1, "[3.0,4.0]"));
    let rows = read_encodings_from(two.as_bytes(), Path::new("e.jsonl")).unwrap();
    assert_eq!(rows[1].representation, [3.0, 4.0]);
    assert!(rows[1].flip && !rows[1].gray && rows[1].class_conf.is_empty());
}
