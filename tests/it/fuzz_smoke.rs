//! Fuzz smoke test for CI (no nightly, no instrumentation): every committed corpus file in
//! `fuzz/corpus/<target>/` plus deterministic mutations of them (bit flips, byte sets,
//! truncation, insertion, deletion, duplication, splicing) go through the same
//! `gestaltcam::fuzzing` entry points the cargo-fuzz targets call. A panic names the target,
//! the input and writes it to `target/fuzz-smoke-failures/` for `cargo fuzz run <target> FILE`.
//!
//! The generated seeds (galleries, small images, camera frames) are written by the code itself:
//! `cargo test --test it fuzz_smoke::write_generated_seeds -- --ignored` rewrites them.

use crate::common;

use gestaltcam::fuzzing;
use gestaltcam::gallery::{Case, Gallery, GalleryMeta, Label, Storage};
use gestaltcam::manifest::Metric;
use image::{DynamicImage, ImageFormat};
use std::path::{Path, PathBuf};

fn corpus_dir(target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target)
}

fn corpus(target: &str) -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<_> = std::fs::read_dir(corpus_dir(target))
        .unwrap_or_else(|e| panic!("fuzz/corpus/{target}: {e}"))
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read(&p).expect("read corpus file"))
        })
        .collect()
}

/// xorshift64*: deterministic, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
}

const INTERESTING: [u8; 10] = [0, 1, 0x7F, 0x80, 0xFF, b'\n', b',', b'"', b'=', b'['];

/// One to four random edits of `input`, sometimes spliced with `other`.
fn mutate(rng: &mut Rng, input: &[u8], other: &[u8]) -> Vec<u8> {
    let mut d = input.to_vec();
    for _ in 0..1 + rng.below(4) {
        let len = d.len();
        match rng.below(8) {
            0 if len > 0 => {
                let i = rng.below(len);
                d[i] ^= 1 << rng.below(8);
            }
            1 if len > 0 => {
                let i = rng.below(len);
                d[i] = INTERESTING[rng.below(INTERESTING.len())];
            }
            2 if len > 0 => {
                let i = rng.below(len);
                d[i] = rng.next() as u8;
            }
            3 => d.truncate(rng.below(len + 1)),
            4 => {
                let at = rng.below(len + 1);
                let n = 1 + rng.below(8);
                let bytes: Vec<u8> = (0..n).map(|_| rng.next() as u8).collect();
                d.splice(at..at, bytes);
            }
            5 if len > 0 => {
                let a = rng.below(len);
                let b = (a + 1 + rng.below(16)).min(len);
                d.drain(a..b);
            }
            6 if len > 0 => {
                let a = rng.below(len);
                let b = (a + 1 + rng.below(32)).min(len);
                let chunk = d[a..b].to_vec();
                let at = rng.below(len + 1);
                d.splice(at..at, chunk);
            }
            _ if !other.is_empty() => {
                // Splice: our head, the other input's tail.
                let cut = rng.below(d.len() + 1);
                let from = rng.below(other.len());
                d.truncate(cut);
                d.extend_from_slice(&other[from..]);
            }
            _ => {}
        }
    }
    d
}

fn run_one(target: &str, f: fn(&[u8]), what: &str, data: &[u8]) {
    let r = std::panic::catch_unwind(|| f(data));
    if r.is_err() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/fuzz-smoke-failures");
        let _ = std::fs::create_dir_all(&dir);
        let file = dir.join(format!("{target}-{}", what.replace(['/', ' '], "_")));
        let _ = std::fs::write(&file, data);
        panic!(
            "fuzz target `{target}` failed on {what} ({} bytes, saved to {})",
            data.len(),
            file.display()
        );
    }
}

/// Replays the corpus and `mutations` mutants of it through `f` (`FUZZ_SMOKE_MUTATIONS`
/// overrides the count, for a longer local run).
fn smoke(target: &str, f: fn(&[u8]), mutations: usize) -> usize {
    let mutations = std::env::var("FUZZ_SMOKE_MUTATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(mutations);
    let files = corpus(target);
    assert!(!files.is_empty(), "fuzz/corpus/{target} is empty");
    for (name, data) in &files {
        run_one(target, f, name, data);
    }
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ target.len() as u64);
    for m in 0..mutations {
        let (name, data) = &files[m % files.len()];
        let (_, other) = &files[rng.below(files.len())];
        let mutant = mutate(&mut rng, data, other);
        run_one(target, f, &format!("mutation {m} of {name}"), &mutant);
    }
    files.len() + mutations
}

/// Mutations per cheap target: a few thousand in all on x86_64 (dev profile: a few seconds);
/// far fewer under qemu-user in CI.
const MUTATIONS: usize = if cfg!(target_arch = "x86_64") {
    1500
} else {
    100
};

fn target_fn(name: &str) -> fn(&[u8]) {
    fuzzing::TARGETS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, f)| *f)
        .unwrap_or_else(|| panic!("no fuzz target {name}"))
}

#[test]
fn every_target_has_a_corpus_and_a_fuzz_target() {
    for (name, _) in fuzzing::TARGETS {
        assert!(!corpus(name).is_empty(), "{name}");
        let src =
            Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("fuzz/fuzz_targets/{name}.rs"));
        let text =
            std::fs::read_to_string(&src).unwrap_or_else(|e| panic!("{}: {e}", src.display()));
        assert!(
            text.contains(&format!("gestaltcam::fuzzing::{name}(")),
            "{}",
            src.display()
        );
    }
}

#[test]
fn smoke_gallery() {
    smoke("gallery", target_fn("gallery"), MUTATIONS);
}

#[test]
fn smoke_manifest() {
    smoke("manifest", target_fn("manifest"), MUTATIONS);
}

#[test]
fn smoke_config() {
    smoke("config", target_fn("config"), MUTATIONS);
}

#[test]
fn smoke_label_csv() {
    smoke("label_csv", target_fn("label_csv"), MUTATIONS);
}

#[test]
fn smoke_gmdb() {
    smoke("gmdb", target_fn("gmdb"), MUTATIONS);
}

#[test]
fn smoke_camera_frame() {
    smoke("camera_frame", target_fn("camera_frame"), MUTATIONS);
}

/// Decoding only, many mutants.
#[test]
fn smoke_photo_decode() {
    fn decode_only(d: &[u8]) {
        fuzzing::photo_with(d, false)
    }
    smoke("photo", decode_only, MUTATIONS / 2);
}

/// Decoding plus the detector, quality check and alignment: x86_64 only (the detector is ~250x
/// slower under qemu-user), and few mutants.
#[test]
#[cfg_attr(
    not(target_arch = "x86_64"),
    ignore = "runs the face detector: too slow under qemu-user"
)]
fn smoke_photo_pipeline() {
    fuzzing::set_models_dir(&Path::new(env!("CARGO_MANIFEST_DIR")).join("models"));
    smoke("photo", target_fn("photo"), 40);
}

/// The committed gallery seeds load, so the fuzzer starts from valid files.
#[test]
fn gallery_seeds_load_and_are_current() {
    let files = corpus("gallery");
    for (name, bytes) in generated_galleries() {
        let committed = files.iter().find(|(n, _)| *n == name).unwrap_or_else(|| {
            panic!("fuzz/corpus/gallery/{name} missing: run --ignored write_generated_seeds")
        });
        assert_eq!(
            committed.1, bytes,
            "{name} is stale: run --ignored write_generated_seeds"
        );
        Gallery::from_bytes(&committed.1).expect("seed gallery loads");
    }
}

/// Every seed (not the `crash-*` inputs that found bugs) is accepted by its parser, so the
/// targets start from valid inputs and reach the invariant checks.
#[test]
fn seeds_are_valid_inputs() {
    use gestaltcam::{camera, config::Config, lab, manifest::Manifest};
    let corpus = |t: &str| {
        let mut v = corpus(t);
        v.retain(|(n, _)| !n.starts_with("crash-"));
        v
    };
    for (name, d) in corpus("gallery") {
        Gallery::from_bytes(&d).unwrap_or_else(|e| panic!("{name}: {e}"));
    }
    for (name, d) in corpus("manifest") {
        let text = String::from_utf8(d).expect("utf-8");
        Manifest::parse(&text, Path::new("M.toml"), Path::new("."))
            .unwrap_or_else(|e| panic!("{name}: {e}"));
    }
    for (name, d) in corpus("config") {
        Config::parse(std::str::from_utf8(&d).expect("utf-8"))
            .unwrap_or_else(|e| panic!("{name}: {e}"));
    }
    for (name, d) in corpus("label_csv") {
        lab::read_label_csv_from(&d[..], Path::new(&name))
            .unwrap_or_else(|e| panic!("{name}: {e}"));
    }
    for (name, d) in corpus("gmdb") {
        let cut = d.iter().position(|&b| b == 0).expect("a NUL");
        lab::read_gmdb_from(
            &d[cut + 1..],
            Path::new("s"),
            &d[..cut],
            Path::new("t"),
            "{image_id}",
        )
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    }
    for (name, d) in corpus("camera_frame") {
        let format = [
            camera::PixelFormat::Yuyv,
            camera::PixelFormat::Nv12,
            camera::PixelFormat::Mjpeg,
        ][usize::from(d[0] % 3)];
        let (w, h) = (
            u16::from_le_bytes([d[1], d[2]]),
            u16::from_le_bytes([d[3], d[4]]),
        );
        camera::decode(format, &d[5..], w.into(), h.into())
            .unwrap_or_else(|e| panic!("{name}: {e}"));
    }
    for (name, d) in corpus("photo") {
        gestaltcam::photo::decode(&d, &name).unwrap_or_else(|e| panic!("{name}: {e}"));
    }
}

#[test]
#[cfg_attr(
    not(target_arch = "x86_64"),
    ignore = "runs the face detector: too slow under qemu-user"
)]
fn photo_seed_reaches_the_detector_and_alignment() {
    use gestaltcam::pipeline::{FacePipeline, PhotoEmbedder};
    let (_, d) = corpus("photo")
        .into_iter()
        .find(|(n, _)| n == "obama_200.jpg")
        .expect("obama_200.jpg seed");
    let img = gestaltcam::photo::decode(&d, "seed").expect("decodes");
    assert!(u64::from(img.width()) * u64::from(img.height()) <= fuzzing::PHOTO_PIPELINE_MAX_PIXELS);
    let p = FacePipeline::load(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("models"),
        Some("dlib-resnet-v1-int8"),
        Default::default(),
    )
    .expect("models load");
    let check = p.check_frame(&img).expect("detects");
    assert!(check.chosen.is_some(), "{check:?}");
    p.embed_photo(&img).expect("the seed face is usable");
}

// ------------------------------------------------------------------------------ generated seeds

fn generated_galleries() -> Vec<(String, Vec<u8>)> {
    let meta = |metric, storage, threshold| GalleryMeta {
        embedder_id: "fuzz-seed".into(),
        metric,
        name: "seed 1".into(),
        created_unix: 1_700_000_000,
        threshold,
        storage,
    };
    let label = |name: &str, omim: Option<&str>, genes: &[&str]| Label {
        name: name.into(),
        omim: omim.map(str::to_string),
        genes: genes.iter().map(|g| g.to_string()).collect(),
    };
    let case = |id: &str, subject: &str, label: u32| Case {
        case_id: id.into(),
        subject: subject.into(),
        label,
    };
    let labels = vec![
        label("Noonan", Some("163950"), &["PTPN11", "SOS1"]),
        label("Williams", None, &[]),
        label("Kabuki", Some("147920"), &["KMT2D"]),
    ];
    let cases = vec![
        case("c1", "p1", 0),
        case("c2", "p1", 0),
        case("c3", "p2", 1),
        case("c4", "p3", 2),
    ];
    let emb = |dim: usize, n: usize| -> Vec<f32> {
        (0..dim * n)
            .map(|i| ((i * 37 % 11) as f32 - 5.0) / 4.0)
            .collect()
    };
    let make = |meta: GalleryMeta, labels: Vec<Label>, cases: Vec<Case>, dim: usize| {
        let n = cases.len();
        Gallery::from_parts(meta, labels, cases, dim, emb(dim, n))
            .expect("seed gallery")
            .to_bytes()
    };
    vec![
        (
            "f32_cosine_threshold.gmg".into(),
            make(
                meta(Metric::Cosine, Storage::F32, Some(0.4)),
                labels.clone(),
                cases.clone(),
                8,
            ),
        ),
        (
            "int8_euclidean.gmg".into(),
            make(
                meta(Metric::Euclidean, Storage::Int8, None),
                labels.clone(),
                cases.clone(),
                5,
            ),
        ),
        (
            "int8_cosine_one_case.gmg".into(),
            make(
                meta(Metric::Cosine, Storage::Int8, Some(0.9)),
                labels[..1].to_vec(),
                cases[..1].to_vec(),
                3,
            ),
        ),
        (
            "f32_euclidean.gmg".into(),
            make(
                meta(Metric::Euclidean, Storage::F32, None),
                labels,
                cases[..3].to_vec(),
                2,
            ),
        ),
    ]
}

fn encode(img: DynamicImage, fmt: ImageFormat) -> Vec<u8> {
    let mut buf = std::io::Cursor::new(Vec::new());
    img.write_to(&mut buf, fmt).expect("encode");
    buf.into_inner()
}

fn fixture(name: &str) -> DynamicImage {
    image::open(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/photos")
            .join(name),
    )
    .expect("fixture photo")
}

fn frame(format: u8, w: u16, h: u16, data: &[u8]) -> Vec<u8> {
    let mut v = vec![format];
    v.extend_from_slice(&w.to_le_bytes());
    v.extend_from_slice(&h.to_le_bytes());
    v.extend_from_slice(data);
    v
}

fn generated_photos_and_frames() -> Vec<(&'static str, String, Vec<u8>)> {
    use image::imageops::FilterType;
    let obama = fixture("obama.jpg").resize(200, 250, FilterType::Triangle);
    let astronaut = fixture("astronaut.png").resize(96, 96, FilterType::Triangle);
    let rgba = fixture("32bit.png").resize(24, 24, FilterType::Triangle);
    let grey16 = DynamicImage::ImageLuma16(image::ImageBuffer::from_fn(6, 4, |x, y| {
        image::Luma([(x * 9000 + y * 3000) as u16])
    }));
    let small_jpeg = encode(
        DynamicImage::ImageRgb8(astronaut.resize(16, 16, FilterType::Triangle).to_rgb8()),
        ImageFormat::Jpeg,
    );
    let (w, h) = (8u16, 4u16);
    let yuyv: Vec<u8> = (0..w as usize * h as usize * 2)
        .map(|i| (i * 7 % 256) as u8)
        .collect();
    let mut yuyv_padded = Vec::new();
    for row in yuyv.chunks(w as usize * 2) {
        yuyv_padded.extend_from_slice(row);
        yuyv_padded.extend_from_slice(&[0xAA; 4]);
    }
    let nv12: Vec<u8> = (0..w as usize * h as usize * 3 / 2)
        .map(|i| (i * 13 % 256) as u8)
        .collect();
    vec![
        (
            "photo",
            "obama_200.jpg".into(),
            encode(DynamicImage::ImageRgb8(obama.to_rgb8()), ImageFormat::Jpeg),
        ),
        (
            "photo",
            "astronaut_96.png".into(),
            encode(
                DynamicImage::ImageRgb8(astronaut.to_rgb8()),
                ImageFormat::Png,
            ),
        ),
        (
            "photo",
            "rgba_24.png".into(),
            encode(DynamicImage::ImageRgba8(rgba.to_rgba8()), ImageFormat::Png),
        ),
        (
            "photo",
            "grey16_6x4.png".into(),
            encode(grey16, ImageFormat::Png),
        ),
        ("photo", "astronaut_16.jpg".into(), small_jpeg.clone()),
        ("camera_frame", "yuyv_8x4".into(), frame(0, w, h, &yuyv)),
        (
            "camera_frame",
            "yuyv_8x4_padded".into(),
            frame(0, w, h, &yuyv_padded),
        ),
        ("camera_frame", "nv12_8x4".into(), frame(1, w, h, &nv12)),
        (
            "camera_frame",
            "mjpeg_16".into(),
            frame(2, 16, 16, &small_jpeg),
        ),
        (
            "camera_frame",
            "mjpeg_16_no_dht".into(),
            frame(2, 16, 16, &common::strip_dht(&small_jpeg)),
        ),
    ]
}

/// Rewrites the generated seeds in `fuzz/corpus/` (run by hand after a format change).
#[test]
#[ignore = "writes fuzz/corpus/: run by hand to regenerate the seeds"]
fn write_generated_seeds() {
    let mut all: Vec<(&str, String, Vec<u8>)> = generated_galleries()
        .into_iter()
        .map(|(n, b)| ("gallery", n, b))
        .collect();
    all.extend(generated_photos_and_frames());
    for (target, name, bytes) in all {
        let dir = corpus_dir(target);
        std::fs::create_dir_all(&dir).expect("corpus dir");
        std::fs::write(dir.join(name), bytes).expect("write seed");
    }
}
