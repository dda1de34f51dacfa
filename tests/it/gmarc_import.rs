//! `gallery import` (issue 28 item 7): GestaltMatcher-Arc's encodings (the committed 32-d
//! fixtures of `models/tools/gmarc_fixtures.py`: images 9001–9003, models m0/m1, 4 variants)
//! → a gallery bound to a manifest ensemble → a query. The ensemble's members are declared
//! with `embedding_size = 32`; an import never reads the model files.

use gestaltcam::embed::EmbeddingRecipe;
use gestaltcam::gallery::Gallery;
use gestaltcam::lab::{self, BuildOptions, BuildSummary, ImportTarget, ModelMap};
use gestaltcam::manifest::{Manifest, MANIFEST_FILE};
use std::path::{Path, PathBuf};

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/gmarc")
}

/// One embedder entry of `size` values (the file is never opened by an import).
fn entry(id: &str, size: usize) -> String {
    format!(
        r#"
[[model]]
id = "{id}"
role = "embedder"
file = "{id}.onnx"
sha256 = "{hash:0>64}"
input_shape = [1, 3, 112, 112]
colour_order = "rgb"
mean = [127.5, 127.5, 127.5]
std = [127.5, 127.5, 127.5]
embedding_size = {size}
metric = "cosine"
template = {{ size = [112, 112], points = [[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366], [41.5493, 92.3655], [70.7299, 92.2041]] }}
"#,
        hash = id.len()
    )
}

/// Two members (`arc-a`, `arc-b`) of `size` values, the ensemble `pair` of them with GM-Arc's
/// 4 variants and `pair-reversed` with the members swapped.
fn manifest_text(size: usize) -> String {
    format!(
        "{}{}
[[ensemble]]
id = \"pair\"
embedders = [\"arc-a\", \"arc-b\"]
variants = [\"plain\", \"flip\", \"grey\", \"flip-grey\"]

[[ensemble]]
id = \"pair-reversed\"
embedders = [\"arc-b\", \"arc-a\"]
variants = [\"plain\", \"flip\", \"grey\", \"flip-grey\"]
",
        entry("arc-a", size),
        entry("arc-b", size)
    )
}

fn manifest(size: usize) -> Manifest {
    Manifest::parse(
        &manifest_text(size),
        Path::new(MANIFEST_FILE),
        Path::new("."),
    )
    .expect("the test manifest parses")
}

fn labels() -> lab::LabelSet {
    let f = fixtures();
    let mut set = lab::read_gmdb(
        &f.join("gmdb_frequent_gallery.csv"),
        &f.join("gmdb_syndromes.tsv"),
        "{image_id}.jpg",
    )
    .expect("GMDB fixtures");
    let meta = lab::read_metadata(&f.join("gmarc_metadata.jsonl")).expect("metadata");
    lab::attach_metadata(&mut set, &meta);
    set
}

fn rows() -> Vec<lab::EncodingRow> {
    lab::read_encodings(&fixtures().join("gmarc_encodings.jsonl")).expect("encodings")
}

fn import(rows: &[lab::EncodingRow], ensemble: &str) -> (Gallery, BuildSummary) {
    let target = ImportTarget::from_manifest(&manifest(32), ensemble).expect("target");
    let opts = BuildOptions {
        name: "gmarc-import".into(),
        created_unix: Some(1),
        ..Default::default()
    };
    lab::import_encodings(
        rows,
        &labels(),
        &target,
        &ModelMap::by_order(&target),
        &opts,
    )
    .expect("import")
}

/// The per-pair formula written out: models m0, m1; variants plain, flip, grey, flip-grey;
/// each representation L2-normalised and scaled by 1/√8, concatenated.
fn per_pair_directly(rows: &[lab::EncodingRow], image: &str) -> Vec<f32> {
    let mut out = Vec::new();
    for model in ["m0", "m1"] {
        for (flip, gray) in [(false, false), (true, false), (false, true), (true, true)] {
            let r = rows
                .iter()
                .find(|r| {
                    r.image_id == image && r.model == model && r.flip == flip && r.gray == gray
                })
                .expect("the fixture has every pair");
            let norm = r.representation.iter().map(|x| x * x).sum::<f32>().sqrt();
            out.extend(r.representation.iter().map(|x| x / norm / 8f32.sqrt()));
        }
    }
    out
}

#[test]
fn imported_vectors_are_the_per_pair_formula_and_a_stored_image_ranks_itself_first() {
    let rows = rows();
    let (g, summary) = import(&rows, "pair");
    assert_eq!((summary.listed, summary.used, summary.labels), (3, 3, 2));
    assert!(summary.skipped.is_empty(), "{summary}");
    let ids: Vec<&str> = g.cases().iter().map(|c| c.case_id.as_str()).collect();
    assert_eq!(ids, ["9001", "9002", "9003"]);
    assert_eq!(g.cases()[2].subject, "502");
    assert_eq!(g.labels()[0].omim.as_deref(), Some("900001"));
    let genes: Vec<&str> = g.case_genes(0).iter().map(|x| x.name.as_str()).collect();
    assert_eq!(genes, ["FAKE1", "FAKE2"]);
    for (i, id) in ids.iter().enumerate() {
        let direct = per_pair_directly(&rows, id);
        let stored = g.vector(i);
        assert_eq!(stored.len(), 2 * 4 * 32);
        let worst = stored
            .iter()
            .zip(&direct)
            .map(|(a, b)| (a - b).abs())
            .fold(0f32, f32::max);
        assert!(worst < 1e-6, "image {id}: stored differs by {worst}");
    }
    // An `analyze`-style query equal to 9003's stored pairs: its syndrome first at distance ~0.
    let ranking = g.rank(&per_pair_directly(&rows, "9003"), 5).expect("ranks");
    let first = &ranking.matches[0];
    assert_eq!(
        (first.name.as_str(), first.nearest_case.as_str()),
        ("Test syndrome B", "9003")
    );
    assert!(first.distance.abs() < 1e-5, "distance {}", first.distance);
    assert!(ranking.matches[1].distance > 1e-3);
}

#[test]
fn an_image_missing_a_pair_is_skipped_with_the_reason() {
    let rows: Vec<_> = rows()
        .into_iter()
        .filter(|r| !(r.image_id == "9003" && r.model == "m1" && r.flip && r.gray))
        .collect();
    let (g, summary) = import(&rows, "pair");
    assert_eq!((summary.listed, summary.used, g.len()), (3, 2, 2));
    assert_eq!(summary.skipped.len(), 1);
    assert_eq!(summary.skipped[0].case_id, "9003");
    assert_eq!(summary.skipped_by_reason.get("missing-pair"), Some(&1));
    let reason = summary.skipped[0].reason.to_string();
    assert!(
        reason.contains("`m1` (arc-b)") && reason.contains("flip-grey"),
        "{reason}"
    );
    assert_eq!(summary.labels_without_cases, ["Test syndrome B"]);
}

#[test]
fn a_vector_of_the_wrong_length_is_an_error_naming_the_member() {
    let target = ImportTarget::from_manifest(&manifest(512), "pair").expect("target");
    let err = lab::import_encodings(
        &rows(),
        &labels(),
        &target,
        &ModelMap::by_order(&target),
        &BuildOptions::default(),
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("has 32 values") && err.contains("`arc-a` gives 512"),
        "{err}"
    );
}

#[test]
fn the_imported_gallery_refuses_another_recipe_naming_both() {
    let (g, _) = import(&rows(), "pair");
    let ours: EmbeddingRecipe = ImportTarget::from_manifest(&manifest(32), "pair")
        .expect("target")
        .recipe;
    assert!(g.check_recipe(&ours).is_ok());
    let other = ImportTarget::from_manifest(&manifest(32), "pair-reversed")
        .expect("target")
        .recipe;
    let err = g.check_recipe(&other).unwrap_err().to_string();
    assert!(err.contains(&ours.describe()), "{err}");
    assert!(err.contains(&other.describe()), "{err}");
}

#[test]
fn the_model_map_is_explicit_or_by_order_and_refuses_unknown_members() {
    let target = ImportTarget::from_manifest(&manifest(32), "pair").expect("target");
    let by_order = ModelMap::by_order(&target);
    assert_eq!((by_order.key(0), by_order.key(1)), ("m0", "m1"));
    let swapped = ModelMap::parse("m1=arc-a, m0=arc-b", &target).expect("a full map");
    assert_eq!((swapped.key(0), swapped.key(1)), ("m1", "m0"));
    let unknown = ModelMap::parse("m0=arc-a,m1=nope", &target)
        .unwrap_err()
        .to_string();
    assert!(unknown.contains("`nope`"), "{unknown}");
    let partial = ModelMap::parse("m0=arc-a", &target)
        .unwrap_err()
        .to_string();
    assert!(partial.contains("`arc-b`"), "{partial}");
    let single = ImportTarget::from_manifest(&manifest(32), "arc-a").unwrap_err();
    assert!(
        single.to_string().contains("not an [[ensemble]]"),
        "{single}"
    );
}

/// The command line: `gallery import` writes a gallery `gallery info` reads, bound to `pair`.
#[test]
#[cfg_attr(
    not(target_arch = "x86_64"),
    ignore = "spawns the binary: needs binfmt under qemu-user"
)]
fn gallery_import_on_the_command_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join(MANIFEST_FILE), manifest_text(32)).expect("manifest");
    let f = fixtures();
    let out = dir.path().join("imported.gcg");
    let arg = |p: PathBuf| p.to_string_lossy().into_owned();
    let run = std::process::Command::new(env!("CARGO_BIN_EXE_gestaltcam"))
        .args(["gallery", "import", "--embedder", "pair", "--models"])
        .arg(dir.path())
        .args(["--encodings", &arg(f.join("gmarc_encodings.jsonl"))])
        .args(["--labels", &arg(f.join("gmdb_frequent_gallery.csv"))])
        .args(["--syndromes", &arg(f.join("gmdb_syndromes.tsv"))])
        .args(["--model-map", "m0=arc-a,m1=arc-b", "--out"])
        .arg(&out)
        .output()
        .expect("runs");
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(
        run.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert!(stdout.contains("3 of 3 images used"), "{stdout}");
    let g = Gallery::load(&out).expect("the imported gallery loads");
    assert_eq!(g.len(), 3);
    assert_eq!(g.recipe().embedders[1].id, "arc-b");
}
