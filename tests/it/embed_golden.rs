//! The embedder against dlib's own descriptors, on committed licence-clean chips.
//!
//! `tests/fixtures/embed/<name>.png` are dlib's 150×150 chips (dlib.get_face_chip) of the photos in
//! `tests/fixtures/photos/`, and `reference.json` holds dlib-bin's descriptors of those chips; both
//! are written by `models/tools/dlib_reference.py fixtures`.

use crate::common;
use gestaltcam::embed::{cosine, EmbedError, EmbedOptions, Embedder};
use gestaltcam::manifest::{Manifest, ManifestError, Metric, Role};
use image::RgbImage;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

const INT8: &str = "dlib-resnet-v1-int8";
const F32: &str = "dlib-resnet-v1-f32";
/// The int8 model in QOperator form (QLinearConv), which tract computes with int8 kernels.
const QLINEAR: &str = "dlib-resnet-v1-qlinear";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn manifest() -> Manifest {
    Manifest::load_dir(&root().join("models")).expect("models/MANIFEST.toml loads")
}

fn embedder(id: &str) -> &'static Embedder {
    static F: OnceLock<Embedder> = OnceLock::new();
    static Q: OnceLock<Embedder> = OnceLock::new();
    static L: OnceLock<Embedder> = OnceLock::new();
    let cell = match id {
        F32 => &F,
        QLINEAR => &L,
        _ => &Q,
    };
    cell.get_or_init(|| {
        let m = manifest();
        let e = m.model(id).expect("entry exists");
        Embedder::load(&m, e, EmbedOptions::default()).expect("embedder loads")
    })
}

struct Golden {
    name: String,
    chip: RgbImage,
    dlib: Vec<f32>,
}

fn golden() -> Vec<Golden> {
    let dir = root().join("tests/fixtures/embed");
    let text = std::fs::read_to_string(dir.join("reference.json")).expect("reference.json");
    let v: serde_json::Value = serde_json::from_str(&text).expect("reference.json parses");
    let chips = v["chips"].as_object().expect("chips object");
    let out: Vec<Golden> = chips
        .iter()
        .map(|(name, c)| {
            let dlib: Vec<f32> = c["descriptor"]
                .as_array()
                .expect("descriptor array")
                .iter()
                .map(|x| x.as_f64().expect("number") as f32)
                .collect();
            let chip = image::open(dir.join(format!("{name}.png")))
                .expect("chip png")
                .to_rgb8();
            Golden {
                name: name.clone(),
                chip,
                dlib,
            }
        })
        .collect();
    assert!(
        out.len() >= 5,
        "expected at least 5 golden chips, got {}",
        out.len()
    );
    out
}

#[test]
fn manifest_lists_int8_first_and_describes_dlib_input() {
    let m = manifest();
    let first = m.first_with_role(Role::Embedder).expect("an embedder");
    assert_eq!(first.id, INT8);
    assert!(first.quantized);
    for id in [INT8, F32, QLINEAR] {
        let e = m.model(id).expect("entry");
        assert_eq!(e.input_shape, vec![1, 3, 150, 150]);
        assert_eq!(e.embedding_size, Some(128));
        assert_eq!(e.metric, Some(Metric::Euclidean));
        let t = e.template.as_ref().expect("template");
        assert_eq!(t.size, [150, 150]);
        // Subject's right eye is on the image's left, eyes above nose above mouth.
        assert!(t.points[0][0] < t.points[1][0] && t.points[3][0] < t.points[4][0]);
        assert!(t.points[0][1] < t.points[2][1] && t.points[2][1] < t.points[3][1]);
    }
    let size = std::fs::metadata(m.file_path(first))
        .expect("int8 file")
        .len();
    assert!(size <= 6_000_000, "int8 model is {size} bytes");
}

#[test]
fn f32_matches_dlib_descriptors() {
    let e = embedder(F32);
    assert_eq!(e.embedding_size(), 128);
    for g in common::qemu_first(golden(), 2) {
        let v = e.embed_chip(&g.chip).expect("embeds");
        assert_eq!(v.len(), 128);
        let c = cosine(&v, &g.dlib);
        assert!(c >= 0.9999, "{}: cosine to dlib {c}", g.name);
    }
}

/// A quantized embedder `id`: marked quantized, at most 6 MB, and cosine ≥ 0.999 to f32 on the
/// golden chips.
fn assert_quantized_matches_f32(id: &str) {
    let m = manifest();
    let entry = m.model(id).expect("entry");
    assert!(entry.quantized, "{id} is not marked quantized");
    let size = std::fs::metadata(m.file_path(entry))
        .expect("model file")
        .len();
    assert!(size <= 6_000_000, "{id} is {size} bytes");
    let (f, q) = (embedder(F32), embedder(id));
    for g in common::qemu_first(golden(), 2) {
        let a = f.embed_chip(&g.chip).expect("f32 embeds");
        let b = q.embed_chip(&g.chip).expect("quantized model embeds");
        let c = cosine(&a, &b);
        assert!(c >= 0.999, "{}: {id} vs f32 cosine {c}", g.name);
    }
}

#[test]
fn int8_matches_f32() {
    assert_quantized_matches_f32(INT8);
}

/// The QOperator model runs through other code in tract (QLinearConv: i8/u8 packing, i32
/// accumulation, requantization), so it gets the same check as the QDQ one.
#[test]
fn qlinear_int8_matches_f32() {
    assert_quantized_matches_f32(QLINEAR);
}

#[test]
#[cfg_attr(
    not(target_arch = "x86_64"),
    ignore = "more inferences of a model already checked here: too slow under qemu-user (runs on the host)"
)]
fn different_people_are_farther_than_same_person() {
    // dlib's own decision threshold is 0.6 on raw descriptors; on normalised vectors the
    // Obama photos must still be closer to each other than to Biden's.
    let q = embedder(INT8);
    let g = golden();
    let get = |n: &str| {
        let c = &g.iter().find(|x| x.name == n).expect("chip").chip;
        q.embed_chip(c).expect("embeds")
    };
    let dist = |a: &[f32], b: &[f32]| {
        a.iter()
            .zip(b)
            .map(|(x, y)| (x - y) * (x - y))
            .sum::<f32>()
            .sqrt()
    };
    let (o1, o2, b) = (get("obama"), get("obama2"), get("biden"));
    assert!(dist(&o1, &o2) < dist(&o1, &b), "same person not closer");
}

#[test]
fn tampered_model_is_refused() {
    let m = manifest();
    let entry = m.model(INT8).expect("entry").clone();
    let dir = tempfile::tempdir().expect("tempdir");
    let mut bytes = std::fs::read(m.file_path(&entry)).expect("model bytes");
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x01;
    std::fs::write(dir.path().join(&entry.file), &bytes).expect("write copy");
    let text = std::fs::read_to_string(&m.path).expect("manifest text");
    let tampered =
        Manifest::parse(&text, &dir.path().join("MANIFEST.toml"), dir.path()).expect("parses");
    let err = Embedder::load(
        &tampered,
        tampered.model(INT8).expect("entry"),
        EmbedOptions::default(),
    )
    .expect_err("tampered file must be refused");
    match &err {
        EmbedError::Manifest(ManifestError::HashMismatch {
            path,
            expected,
            actual,
            ..
        }) => {
            assert_eq!(path.file_name(), Some(Path::new(&entry.file).as_os_str()));
            assert_eq!(*expected, entry.sha256);
            assert_ne!(actual, expected);
        }
        other => panic!("expected HashMismatch, got {other:?}"),
    }
    assert!(
        err.to_string().contains(&entry.file),
        "message names the file: {err}"
    );
}

#[test]
fn wrong_chip_size_is_a_typed_error() {
    let q = embedder(INT8);
    for (w, h) in [(112, 112), (150, 149), (1, 1)] {
        match q.embed_chip(&RgbImage::new(w, h)) {
            Err(EmbedError::ChipSize {
                expected_w,
                expected_h,
                actual_w,
                actual_h,
                ..
            }) => {
                assert_eq!((expected_w, expected_h), (150, 150));
                assert_eq!((actual_w, actual_h), (w, h));
            }
            other => panic!("{w}×{h}: expected ChipSize, got {other:?}"),
        }
    }
}

#[test]
#[cfg_attr(
    not(target_arch = "x86_64"),
    ignore = "10 more inferences: too slow under qemu-user (runs on the host)"
)]
fn flip_tta_is_unit_length_and_close_to_plain() {
    let m = manifest();
    let tta = Embedder::load(
        &m,
        m.model(INT8).expect("entry"),
        EmbedOptions { flip_tta: true },
    )
    .expect("loads");
    assert!(tta.options().flip_tta);
    let plain = embedder(INT8);
    for g in golden() {
        let a = plain.embed_chip(&g.chip).expect("plain");
        let b = tta.embed_chip(&g.chip).expect("tta");
        let norm = b.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-4, "{}: |tta| = {norm}", g.name);
        let c = cosine(&a, &b);
        assert!(
            c > 0.95 && c < 0.999_999,
            "{}: tta vs plain cosine {c}",
            g.name
        );
    }
}

#[test]
#[cfg_attr(
    not(target_arch = "x86_64"),
    ignore = "more inferences of a model already checked here: too slow under qemu-user (runs on the host)"
)]
fn plain_embedding_is_unit_length_and_deterministic() {
    let q = embedder(INT8);
    let g = &golden()[0];
    let a = q.embed_chip(&g.chip).expect("embeds");
    let b = q.embed_chip(&g.chip).expect("embeds again");
    assert_eq!(a, b);
    let norm = a.iter().map(|x| x * x).sum::<f32>().sqrt();
    assert!((norm - 1.0).abs() < 1e-5, "|v| = {norm}");
}

/// tract's matrix products split over threads (`multithread-mm`, what the device turns on with
/// `inference_threads`) compute the same embedding as one thread. Scoped to this test's thread,
/// so the other tests keep the single-threaded default.
#[test]
#[cfg_attr(
    not(target_arch = "x86_64"),
    ignore = "more inferences of a model already checked here: too slow under qemu-user (runs on the host)"
)]
fn two_inference_threads_embed_like_one() {
    use tract_linalg::multithread::{multithread_tract_scope, Executor};
    let q = embedder(INT8);
    let g = &golden()[0];
    let one = q.embed_chip(&g.chip).expect("one thread");
    let two = multithread_tract_scope(Executor::multithread(2), || q.embed_chip(&g.chip))
        .expect("two threads");
    let c = cosine(&one, &two);
    assert!(c > 0.999_999, "1 vs 2 threads: cosine {c}");
}
