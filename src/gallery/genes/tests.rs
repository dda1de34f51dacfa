//! Gene ranking on synthetic galleries: per-case genes, the label-table fallback, fusion, and
//! the case-genes block's round trip through the file.

use super::*;
use crate::gallery::{Case, GalleryMeta, Label, Storage};
use crate::manifest::Metric;

fn gene(name: &str, entrez: Option<u64>) -> Gene {
    Gene {
        name: name.into(),
        entrez_id: entrez,
    }
}

/// Syndromes A (genes G1, G2) and B (genes G1, G3); cases a1 = (1, 0) and a2 = (0, 1) of A,
/// b1 = (0.8, 0.6) of B. No genes per case yet.
fn two_syndromes() -> Gallery {
    let meta = GalleryMeta {
        embedder_id: "test-embedder".into(),
        metric: Metric::Cosine,
        name: "genes-test-1".into(),
        created_unix: 0,
        threshold: None,
        storage: Storage::F32,
    };
    let label = |name: &str, genes: &[&str]| Label {
        name: name.into(),
        omim: None,
        genes: genes.iter().map(|g| g.to_string()).collect(),
    };
    let case = |id: &str, label: u32| Case {
        case_id: id.into(),
        subject: format!("s-{id}"),
        label,
    };
    Gallery::from_parts(
        meta,
        vec![label("A", &["G1", "G2"]), label("B", &["G1", "G3"])],
        vec![case("a1", 0), case("a2", 0), case("b1", 1)],
        2,
        vec![1.0, 0.0, 0.0, 1.0, 0.8, 0.6],
    )
    .unwrap()
}

/// The same gallery with genes per case: a1 carries G2, a2 carries G1, b1 carries G1 and G3.
fn with_case_genes() -> Gallery {
    let mut g = two_syndromes();
    g.set_case_genes(vec![
        vec![gene("G2", Some(2))],
        vec![gene("G1", Some(1))],
        vec![gene("G1", Some(1)), gene("G3", None)],
    ])
    .unwrap();
    g
}

/// (name, entrez, nearest case, distance) of each ranked gene.
fn summary(ms: &[GeneMatch]) -> Vec<(String, Option<u64>, String, f32)> {
    ms.iter()
        .map(|m| {
            (
                m.name.clone(),
                m.entrez_id,
                m.nearest_case.clone(),
                m.distance,
            )
        })
        .collect()
}

#[test]
fn a_gene_shared_by_two_syndromes_takes_the_nearer_case() {
    let g = with_case_genes();
    // Query (1, 0): a1 at 0, b1 at 0.2, a2 at 1. G1 is carried by a2 (A) and b1 (B).
    let ms = g.rank_genes(&[1.0, 0.0], 10).unwrap();
    let s = summary(&ms);
    assert_eq!(s.len(), 3);
    assert_eq!(
        (s[0].0.as_str(), s[0].1, s[0].2.as_str()),
        ("G2", Some(2), "a1")
    );
    // G1 and G3 tie at b1's distance: the smaller gene first.
    assert_eq!(
        (s[1].0.as_str(), s[1].1, s[1].2.as_str()),
        ("G1", Some(1), "b1")
    );
    assert_eq!(
        (s[2].0.as_str(), s[2].1, s[2].2.as_str()),
        ("G3", None, "b1")
    );
    assert!(s[0].3.abs() < 1e-6);
    assert!((s[1].3 - 0.2).abs() < 1e-6 && (s[2].3 - 0.2).abs() < 1e-6);
    assert_eq!(ms.iter().map(|m| m.rank).collect::<Vec<_>>(), [1, 2, 3]);
    assert_eq!(ms[1].nearest_subject, "s-b1");
    // Query (0, 1): now A's case a2 is G1's nearest (distance 0), b1 is at 0.4.
    let ms = g.rank_genes(&[0.0, 1.0], 1).unwrap();
    assert_eq!(
        summary(&ms),
        [("G1".to_string(), Some(1), "a2".to_string(), 0.0)]
    );
}

#[test]
fn gene_distances_equal_the_syndrome_ranking_on_the_same_cases() {
    let g = with_case_genes();
    let q = [0.3, -0.7];
    let syndromes = g.rank(&q, 10).unwrap();
    let genes = g.rank_genes(&q, 10).unwrap();
    // G2 is only on a1 and G3 only on b1: their distances are those cases' exact distances.
    let norm = (0.3f32 * 0.3 + 0.7 * 0.7).sqrt();
    let to_a1 = 1.0 - 0.3 / norm;
    let to_b1 = 1.0 - (0.3 * 0.8 - 0.7 * 0.6) / norm;
    let find = |n: &str| genes.iter().find(|m| m.name == n).unwrap().distance;
    assert!((find("G2") - to_a1).abs() < 1e-6);
    assert!((find("G3") - to_b1).abs() < 1e-6);
    let b = syndromes.matches.iter().find(|m| m.name == "B").unwrap();
    assert_eq!(b.distance, find("G3"));
}

#[test]
fn without_case_genes_every_case_carries_its_syndromes_genes() {
    let g = two_syndromes();
    assert!(!g.has_case_genes());
    let ms = g.rank_genes(&[1.0, 0.0], 10).unwrap();
    let s = summary(&ms);
    let names: Vec<(&str, &str)> = s.iter().map(|x| (x.0.as_str(), x.2.as_str())).collect();
    // G1 and G2 from A's list (a1 at 0), G3 from B's (b1 at 0.2); no Entrez ids.
    assert_eq!(names, [("G1", "a1"), ("G2", "a1"), ("G3", "b1")]);
    assert!(s.iter().all(|x| x.1.is_none()));
}

#[test]
fn several_photos_fuse_per_gene_like_syndromes() {
    let g = with_case_genes();
    let photos = vec![vec![1.0, 0.0], vec![0.0, 1.0]];
    let ms = g
        .rank_genes_photos(&photos, 10, FusionMode::MinDistance)
        .unwrap();
    // Min over photos: G2 at a1 (0, photo 1), G1 at a2 (0, photo 2), G3 at b1 (0.2 / 0.4).
    let s = summary(&ms);
    assert_eq!((s[0].0.as_str(), s[0].2.as_str()), ("G1", "a2"));
    assert_eq!((s[1].0.as_str(), s[1].2.as_str()), ("G2", "a1"));
    assert_eq!((s[2].0.as_str(), s[2].2.as_str()), ("G3", "b1"));
    assert!((s[2].3 - 0.2).abs() < 1e-6);
    let mean = g
        .rank_genes_photos(&photos, 10, FusionMode::MeanDistance)
        .unwrap();
    let g3 = mean.iter().find(|m| m.name == "G3").unwrap();
    assert!((g3.distance - 0.3).abs() < 1e-6, "{}", g3.distance);
}

#[test]
fn case_genes_survive_the_file_and_int8() {
    let g = with_case_genes();
    let back = Gallery::from_bytes(&g.to_bytes()).unwrap();
    assert_eq!(back, g);
    assert_eq!(back.case_genes(2), [gene("G1", Some(1)), gene("G3", None)]);
    let int8 = Gallery::from_bytes(&g.to_storage(Storage::Int8).to_bytes()).unwrap();
    assert_eq!(int8.case_genes(0), [gene("G2", Some(2))]);
    assert_eq!(
        summary(&int8.rank_genes(&[1.0, 0.0], 10).unwrap())
            .iter()
            .map(|s| s.0.clone())
            .collect::<Vec<_>>(),
        ["G2", "G1", "G3"]
    );
}

#[test]
fn a_gallery_without_case_genes_writes_the_bytes_it_always_did() {
    let plain = two_syndromes();
    let mut empty = two_syndromes();
    empty.set_case_genes(vec![Vec::new(); 3]).unwrap();
    assert_eq!(empty.to_bytes(), plain.to_bytes());
    assert_eq!(empty.content_hash(), plain.content_hash());
    // The flag word (bytes 12..16) has no case-genes bit; with genes it has.
    assert_eq!(plain.to_bytes()[12..16], [0, 0, 0, 0]);
    assert_eq!(with_case_genes().to_bytes()[12..16], [8, 0, 0, 0]);
}

#[test]
fn case_gene_lists_must_match_the_cases() {
    let mut g = two_syndromes();
    let e = g.set_case_genes(vec![Vec::new()]).unwrap_err();
    assert!(
        e.to_string().contains("1 case gene lists for 3 cases"),
        "{e}"
    );
}

#[test]
fn a_truncated_case_genes_block_is_refused() {
    let mut bytes = with_case_genes().to_bytes();
    // Drop the last gene's Entrez id and fix the length and hash: the reader must refuse it.
    bytes.truncate(bytes.len() - 8);
    let len = bytes.len() as u64;
    bytes[40..48].copy_from_slice(&len.to_le_bytes());
    crate::gallery::rehash(&mut bytes);
    let e = Gallery::from_bytes(&bytes).unwrap_err();
    assert!(
        matches!(&e, GalleryError::Malformed(m) if m.contains("case genes")),
        "{e}"
    );
}

#[test]
fn the_gestaltmatcher_answer_has_gm_arcs_keys_and_types() {
    use crate::gallery::answer::GestaltMatcherAnswer;
    let mut g = with_case_genes();
    g.labels[0].omim = Some("122470.0".into());
    let q = [1.0, 0.0];
    let answer = GestaltMatcherAnswer::new(
        "test-model",
        &g,
        &g.rank(&q, 10).unwrap(),
        &g.rank_genes(&q, 10).unwrap(),
    );
    let v = serde_json::to_value(&answer).unwrap();
    let keys = |v: &serde_json::Value| {
        let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
        k.sort();
        k
    };
    assert_eq!(
        keys(&v),
        [
            "gallery_version",
            "model_version",
            "suggested_genes_list",
            "suggested_syndromes_list"
        ]
    );
    assert_eq!(v["model_version"], "test-model");
    assert_eq!(v["gallery_version"], "genes-test-1");
    let s = &v["suggested_syndromes_list"];
    assert_eq!(
        keys(&s[0]),
        [
            "distance",
            "gestalt_score",
            "image_id",
            "omim_id",
            "subject_id",
            "syndrome_name"
        ]
    );
    assert_eq!(s[0]["syndrome_name"], "A");
    assert_eq!(s[0]["omim_id"], 122470);
    assert!(s[0]["omim_id"].is_u64());
    assert!(s[1]["omim_id"].is_null());
    assert_eq!(s[0]["image_id"], "a1");
    assert_eq!(s[0]["subject_id"], "s-a1");
    assert!(s[1]["distance"].is_f64());
    assert_eq!(s[1]["distance"], s[1]["gestalt_score"]);
    let genes = &v["suggested_genes_list"];
    assert_eq!(
        keys(&genes[0]),
        [
            "distance",
            "gene_entrez_id",
            "gene_name",
            "gestalt_score",
            "image_id",
            "subject_id"
        ]
    );
    assert_eq!(genes[1]["gene_name"], "G1");
    assert_eq!(genes[1]["gene_entrez_id"], 1);
    assert!(genes[2]["gene_entrez_id"].is_null());
    assert_eq!(genes[1]["image_id"], "b1");
    assert_eq!(genes[1]["subject_id"], "s-b1");
    assert_eq!(genes[1]["distance"], genes[1]["gestalt_score"]);
}
