//! Which embedder the device runs (`embedder = "auto"` or an id) and which of the configured
//! galleries goes with it: `setup::choose_model` on chosen CPUs, then `setup::analyzer_for` with
//! the real models on this machine's CPU.

use std::path::{Path, PathBuf};

use crate::common::make_gallery;
use gestaltcam::config::Config;
use gestaltcam::embed::EmbeddingRecipe;
use gestaltcam::gallery::{Case, Gallery, GalleryMeta, Label, LoadOptions, Storage};
use gestaltcam::manifest::{CpuFeatures, Manifest, Metric};
use gestaltcam::pipeline::Members;
use gestaltcam::setup::doctor::{check_models, check_pipeline};
use gestaltcam::setup::{analyzer_for, choose_model, LastGood};

const QDQ: &str = "dlib-resnet-v1-int8";
const QLINEAR: &str = "dlib-resnet-v1-qlinear";
const F32: &str = "dlib-resnet-v1-f32";
const DOT: CpuFeatures = CpuFeatures { dotprod: true };
const PLAIN: CpuFeatures = CpuFeatures { dotprod: false };

fn manifest() -> Manifest {
    Manifest::load_dir(&Path::new(env!("CARGO_MANIFEST_DIR")).join("models")).unwrap()
}

fn id_of(model: &str) -> String {
    manifest().model(model).unwrap().embedder_id()
}

/// A two-case gallery named `name` ([`make_gallery`]), recorded as made by the embedder with
/// id `embedder_id`, written to `path`.
fn write_gallery(path: &Path, name: &str, embedder_id: &str) -> PathBuf {
    make_gallery(1, name, 1, 2, embedder_id).save(path).unwrap();
    path.to_path_buf()
}

fn config(dir: &Path, embedder: &str, gallery: PathBuf, variants: Vec<PathBuf>) -> Config {
    Config {
        models_dir: Path::new(env!("CARGO_MANIFEST_DIR")).join("models"),
        embedder: embedder.into(),
        gallery,
        gallery_variants: variants,
        state_dir: dir.join("state"),
        flip_tta: false,
        photos_per_patient: 1,
        ..Config::default()
    }
}

/// A gallery per int8 model: the dot-product CPU (Pi 5) runs the QLinear model with its
/// gallery, the others (Pi 4, Zero 2 W, x86) the QDQ model with its gallery, whichever file is
/// listed first.
#[test]
fn auto_takes_the_cpus_model_when_a_gallery_was_made_by_it() {
    let tmp = tempfile::tempdir().unwrap();
    let qdq = write_gallery(&tmp.path().join("qdq.gmg"), "by qdq", &id_of(QDQ));
    let qlinear = write_gallery(&tmp.path().join("ql.gmg"), "by qlinear", &id_of(QLINEAR));
    let m = manifest();
    for (gallery, variants) in [
        (qdq.clone(), vec![qlinear.clone()]),
        (qlinear.clone(), vec![qdq.clone()]),
    ] {
        let cfg = config(tmp.path(), "auto", gallery, variants);
        let on_dot = choose_model(&cfg, &m, DOT).unwrap();
        assert_eq!(
            (on_dot.embedder.as_str(), &on_dot.gallery),
            (QLINEAR, &qlinear)
        );
        assert!(on_dot.why.contains("dot product"), "{}", on_dot.why);
        let on_plain = choose_model(&cfg, &m, PLAIN).unwrap();
        assert_eq!((on_plain.embedder.as_str(), &on_plain.gallery), (QDQ, &qdq));
        assert!(on_plain.why.contains("no dot product"), "{}", on_plain.why);
    }
}

/// A gallery stays bound to its model: with one gallery only, "auto" runs the model that made
/// it on every CPU, and the log says the preferred one had no gallery.
#[test]
fn auto_follows_the_only_gallery_to_its_model() {
    let tmp = tempfile::tempdir().unwrap();
    let m = manifest();
    for (model, name) in [(QDQ, "qdq"), (F32, "f32"), (QLINEAR, "qlinear")] {
        let g = write_gallery(&tmp.path().join(format!("{name}.gmg")), name, &id_of(model));
        let cfg = config(tmp.path(), "auto", g.clone(), vec![]);
        for cpu in [DOT, PLAIN] {
            let c = choose_model(&cfg, &m, cpu).unwrap();
            assert_eq!((c.embedder.as_str(), &c.gallery), (model, &g), "{cpu:?}");
            let preferred = m.default_embedder(cpu).unwrap().id.clone();
            assert_eq!(
                c.why.contains("no gallery was made by"),
                preferred != model,
                "{cpu:?}: {}",
                c.why
            );
        }
    }
}

/// An id in the configuration is obeyed: its gallery is used if one was made by it, else the
/// configured `gallery` (which the full load then refuses as made by another model). An id the
/// manifest lacks, or the detector's, is refused naming the problem.
#[test]
fn a_configured_embedder_is_obeyed_or_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let qdq = write_gallery(&tmp.path().join("qdq.gmg"), "by qdq", &id_of(QDQ));
    let f32 = write_gallery(&tmp.path().join("f32.gmg"), "by f32", &id_of(F32));
    let m = manifest();
    let cfg = config(tmp.path(), F32, qdq.clone(), vec![f32.clone()]);
    let c = choose_model(&cfg, &m, DOT).unwrap();
    assert_eq!((c.embedder.as_str(), &c.gallery), (F32, &f32));
    assert!(c.why.starts_with("configured"), "{}", c.why);
    let cfg = config(tmp.path(), QLINEAR, qdq.clone(), vec![f32]);
    let c = choose_model(&cfg, &m, PLAIN).unwrap();
    assert_eq!((c.embedder.as_str(), &c.gallery), (QLINEAR, &qdq));

    let unknown = config(tmp.path(), "arcface-r100", qdq.clone(), vec![]);
    let e = choose_model(&unknown, &m, DOT).unwrap_err().to_string();
    assert!(e.contains("arcface-r100") && e.contains(QDQ), "{e}");
    let detector = config(tmp.path(), "retinaface-mnet025-320", qdq, vec![]);
    let e = choose_model(&detector, &m, DOT).unwrap_err().to_string();
    assert!(e.contains("not an embedder"), "{e}");
}

/// No configured gallery names a model of the manifest (damaged, missing, foreign): the model
/// of the last good copy, so that copy can take over; without one, the CPU's default.
#[test]
fn without_a_usable_gallery_the_last_good_copys_model_is_chosen() {
    let tmp = tempfile::tempdir().unwrap();
    let foreign = write_gallery(&tmp.path().join("x.gmg"), "foreign", "some-other-embedder");
    let garbage = tmp.path().join("garbage.gmg");
    std::fs::write(&garbage, b"not a gallery").unwrap();
    let missing = tmp.path().join("missing.gmg");
    let m = manifest();
    let cfg = config(tmp.path(), "auto", foreign, vec![garbage, missing]);
    let c = choose_model(&cfg, &m, DOT).unwrap();
    assert_eq!(c.embedder, QLINEAR);
    assert!(c.why.contains("the CPU's default"), "{}", c.why);

    // A last good copy made by the QDQ model: chosen even on the dot-product CPU.
    let good = write_gallery(&tmp.path().join("good.gmg"), "good", &id_of(QDQ));
    let opts = LoadOptions {
        public_key: None,
        embedder_id: Some(id_of(QDQ)),
    };
    let loaded = Gallery::load_with(&good, &opts).unwrap();
    LastGood::new(&cfg.state_dir)
        .remember(&good, &loaded, &opts)
        .unwrap();
    let c = choose_model(&cfg, &m, DOT).unwrap();
    assert_eq!((c.embedder.as_str(), &c.gallery), (QDQ, &cfg.gallery));
    assert!(c.why.contains("last good"), "{}", c.why);
    // ... and the device then runs on that copy, with the refusal on its start screen.
    let a = analyzer_for(&cfg);
    assert_eq!(a.pipeline().unwrap().embedder().entry().id, QDQ);
    assert_eq!(a.gallery().unwrap().name(), "good");
    assert!(a.gallery_refused.is_some());
}

/// The device as it starts on this machine: galleries for both int8 models, "auto" runs the
/// one this CPU computes cheapest (`CpuFeatures::detect`), with its own gallery; a configured
/// id with no gallery of its own shows the "made by another model" refusal.
#[test]
fn the_device_runs_the_model_for_its_cpu_with_that_models_gallery() {
    let tmp = tempfile::tempdir().unwrap();
    let qdq = write_gallery(&tmp.path().join("qdq.gmg"), "by qdq", &id_of(QDQ));
    let qlinear = write_gallery(&tmp.path().join("ql.gmg"), "by qlinear", &id_of(QLINEAR));
    let cpu = CpuFeatures::detect();
    let expected = manifest().default_embedder(cpu).unwrap().id.clone();
    let a = analyzer_for(&config(tmp.path(), "auto", qdq.clone(), vec![qlinear]));
    let p = a.pipeline().expect("models load");
    assert_eq!(p.embedder().entry().id, expected, "{cpu:?}");
    let by = if expected == QLINEAR {
        "by qlinear"
    } else {
        "by qdq"
    };
    assert_eq!(a.gallery().expect("its gallery loads").name(), by);

    let a = analyzer_for(&config(&tmp.path().join("f32"), F32, qdq, vec![]));
    assert_eq!(a.pipeline().unwrap().embedder().entry().id, F32);
    assert!(
        a.gallery().is_none(),
        "an f32 device must refuse a QDQ gallery"
    );
}

/// A gallery of two unit cases made by `recipe` (its id and recipe block), `dim` values each.
fn write_ensemble_gallery(path: &Path, recipe: &EmbeddingRecipe, dim: usize) -> PathBuf {
    let meta = GalleryMeta {
        embedder_id: recipe.gallery_id(),
        metric: Metric::Cosine,
        name: "by pair".into(),
        created_unix: 1,
        threshold: None,
        storage: Storage::F32,
    };
    let label = Label {
        name: "syndrome 0".into(),
        omim: None,
        genes: vec![],
    };
    let cases = (0..2)
        .map(|i| Case {
            case_id: format!("case-{i}"),
            subject: format!("subject-{i}"),
            label: 0,
        })
        .collect();
    let mut flat = vec![0f32; 2 * dim];
    flat[0] = 1.0;
    flat[dim + 1] = 1.0;
    let mut g = Gallery::from_parts(meta, vec![label], cases, dim, flat).unwrap();
    g.set_recipe(recipe.clone()).unwrap();
    g.save(path).unwrap();
    path.to_path_buf()
}

/// `embedder = "pair"` (a manifest `[[ensemble]]` of the two committed tiny networks): the
/// device chooses the ensemble with the gallery its recipe made, `analyzer_for` loads both
/// members and that gallery, and `doctor`'s rows say so.
#[test]
fn a_configured_ensemble_runs_with_the_gallery_its_recipe_made() {
    let models = crate::ensemble::models_dir();
    let tmp = tempfile::tempdir().unwrap();
    let m = Manifest::load_dir(models.path()).unwrap();
    let recipe = Members::named(&m, "pair").unwrap().recipe().unwrap();
    let dlib = write_gallery(&tmp.path().join("dlib.gmg"), "by qdq", &id_of(QDQ));
    let pair = write_ensemble_gallery(&tmp.path().join("pair.gmg"), &recipe, 2 * 4 * 512);
    let cfg = Config {
        models_dir: models.path().to_path_buf(),
        ..config(tmp.path(), "pair", dlib, vec![pair.clone()])
    };
    let choice = choose_model(&cfg, &m, PLAIN).unwrap();
    assert_eq!((choice.embedder.as_str(), &choice.gallery), ("pair", &pair));

    let a = analyzer_for(&cfg);
    let p = a.pipeline().expect("the ensemble loads");
    assert_eq!(p.embedding_recipe(), recipe);
    assert_eq!(a.gallery().expect("its gallery loads").name(), "by pair");

    let (rows, chosen) = check_models(&cfg);
    let embedder = rows.iter().find(|r| r.what == "embedder").unwrap();
    assert!(
        embedder.ok && embedder.detail.starts_with("pair ("),
        "{embedder:?}"
    );
    let rows = check_pipeline(&cfg, chosen.as_ref());
    let gallery = rows.iter().find(|r| r.what == "gallery").unwrap();
    assert!(gallery.ok, "{gallery:?}");
}
