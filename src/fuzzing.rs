//! Fuzzing entry points: one function per target, each taking arbitrary bytes, running the real
//! parser/decoder and checking invariants on what it accepts (round trips, bounds, sortedness),
//! not just "no panic". A broken invariant panics, which libFuzzer reports as a crash.
//!
//! Used by the cargo-fuzz crate in `fuzz/` (instrumented, nightly) and by `tests/it/fuzz_smoke.rs`
//! (plain `cargo test`: the committed corpus plus deterministic mutations). Not a stable API.

use crate::camera::{self, PixelFormat};
use crate::config::Config;
use crate::gallery::{self, Gallery, GalleryError};
use crate::lab::{self, LabelSet};
use crate::manifest::{Manifest, ModelEntry, Role, Template};
use crate::photo;
use crate::vision::{align, detect::Detector, quality};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// A fuzz entry point.
pub type Target = fn(&[u8]);

/// Every target, by the name its `fuzz/fuzz_targets/<name>.rs` and `fuzz/corpus/<name>/` use.
pub const TARGETS: &[(&str, Target)] = &[
    ("gallery", gallery),
    ("manifest", manifest),
    ("config", config),
    ("label_csv", label_csv),
    ("gmdb", gmdb),
    ("photo", photo),
    ("camera_frame", camera_frame),
];

// ------------------------------------------------------------------------------------ gallery

/// `Gallery::from_bytes` on the raw bytes, then on a copy whose length field and content hash
/// are fixed up (so mutations get past the hash check into the body parser). What loads must
/// re-encode canonically, load again to the same gallery, and rank without NaN.
pub fn gallery(data: &[u8]) {
    if let Ok(g) = Gallery::from_bytes(data) {
        check_gallery(&g, data);
    }
    if data.len() >= 80 {
        let mut fixed = data.to_vec();
        let len = fixed.len() as u64;
        fixed[40..48].copy_from_slice(&len.to_le_bytes());
        gallery::rehash(&mut fixed);
        match Gallery::from_bytes(&fixed) {
            Ok(g) => check_gallery(&g, &fixed),
            Err(GalleryError::HashMismatch { .. } | GalleryError::Truncated { .. }) => {
                // Only possible when the magic/version was already wrong... or never.
                if fixed.starts_with(&gallery::MAGIC) && fixed[8..10] == [1, 0] {
                    panic!("a fixed-up hash and length were still refused");
                }
            }
            Err(_) => {}
        }
    }
}

fn check_gallery(g: &Gallery, input: &[u8]) {
    assert!(!g.is_empty());
    assert!(g.embedding_size() >= 1 && g.embedding_size() <= 4096);
    let h = g.header();
    assert_eq!(h.case_count, g.cases().len());
    assert_eq!(h.label_count, g.labels().len());
    assert_eq!(g.content_hash(), hex::encode(&input[48..80]));
    if let Some(t) = g.threshold() {
        assert!(t.is_finite());
    }
    let mut ids = std::collections::HashSet::new();
    for c in g.cases() {
        assert!((c.label as usize) < g.labels().len());
        assert!(ids.insert(c.case_id.as_str()), "duplicate case id loaded");
    }
    // Canonical re-encoding: identical bytes, except the threshold field, which is ignored (and
    // written as 0) when its flag is clear.
    let bytes = g.to_bytes();
    let threshold_ignored = g.threshold().is_none() && input[28..32] != [0; 4];
    if !threshold_ignored {
        assert!(
            bytes == input,
            "re-encoding a loaded gallery changed its bytes"
        );
    }
    let again = Gallery::from_bytes(&bytes).expect("a re-encoded gallery loads");
    assert_eq!(again.to_bytes(), bytes, "encoding is not a fixed point");
    assert_eq!(again.labels(), g.labels());
    assert_eq!(again.cases(), g.cases());
    assert_eq!(again.meta(), g.meta());
    for i in 0..g.len() {
        let v = g.vector(i);
        assert_eq!(v.len(), g.embedding_size());
        assert!(v.iter().all(|x| x.is_finite()), "non-finite vector {i}");
        assert_eq!(v, again.vector(i));
    }
    // Rank the gallery's own first vector and a constant query.
    let dim = g.embedding_size();
    let k = 5;
    for q in [g.vector(0), vec![1.0 / (dim as f32).sqrt(); dim]] {
        match g.rank(&q, k) {
            Ok(r) => check_ranking(g, &r, k),
            Err(GalleryError::Input(_)) => {} // an all-zero query for cosine
            Err(e) => panic!("ranking a valid query failed: {e}"),
        }
    }
    // The other storage keeps labels and cases and still loads.
    let other = g.to_storage(match g.storage() {
        gallery::Storage::F32 => gallery::Storage::Int8,
        gallery::Storage::Int8 => gallery::Storage::F32,
    });
    let other_loaded = Gallery::from_bytes(&other.to_bytes()).expect("converted gallery loads");
    assert_eq!(other_loaded.cases(), g.cases());
}

fn check_ranking(g: &Gallery, r: &gallery::Ranking, k: usize) {
    let with_cases: std::collections::BTreeSet<u32> = g.cases().iter().map(|c| c.label).collect();
    assert_eq!(
        r.matches.len(),
        with_cases.len().min(k),
        "labels missing from the ranking"
    );
    let mut seen = std::collections::HashSet::new();
    for (i, m) in r.matches.iter().enumerate() {
        assert_eq!(m.rank, i + 1);
        assert!(!m.distance.is_nan(), "NaN distance for label {}", m.label);
        assert!(m.distance >= -1e-3 || g.metric() == crate::manifest::Metric::Cosine);
        assert!(seen.insert(m.label));
        assert_eq!(m.name, g.labels()[m.label].name);
        let case = g
            .cases()
            .iter()
            .find(|c| c.case_id == m.nearest_case)
            .expect("nearest case exists");
        assert_eq!(case.label as usize, m.label);
        if i > 0 {
            assert!(
                r.matches[i - 1].distance <= m.distance,
                "ranking not sorted"
            );
        }
    }
}

// ----------------------------------------------------------------------------------- manifest

#[derive(serde::Serialize)]
struct ManifestOut<'a> {
    model: &'a [ModelEntry],
}

/// `Manifest::parse`: every accepted entry validates, ids are unique, model files stay inside
/// the models directory, and the entries serialise back to TOML that parses to the same.
pub fn manifest(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let dir = Path::new("/models");
    let Ok(m) = Manifest::parse(&text, Path::new("/models/MANIFEST.toml"), dir) else {
        return;
    };
    let mut ids = std::collections::HashSet::new();
    for e in &m.models {
        e.validate().expect("accepted entries validate");
        assert!(ids.insert(e.id.as_str()));
        let p = m.file_path(e);
        assert!(
            p.parent() == Some(dir) && p.file_name().is_some(),
            "model file `{}` resolves to {}, not a file in the models directory",
            e.file,
            p.display()
        );
        let id = e.embedder_id();
        assert!(id.len() == 64 && id.bytes().all(|b| b.is_ascii_hexdigit()));
        let (h, w) = e.input_hw();
        assert!(h > 0 && w > 0);
        assert!(m.model(&e.id).is_ok());
    }
    for role in [Role::Detector, Role::Embedder] {
        let first = m.first_with_role(role);
        assert_eq!(first.is_ok(), m.models.iter().any(|e| e.role == role));
    }
    let out = toml::to_string(&ManifestOut { model: &m.models }).expect("manifest serialises");
    let back = Manifest::parse(&out, Path::new("/models/MANIFEST.toml"), dir)
        .unwrap_or_else(|e| panic!("re-serialised manifest refused: {e}\n{out}"));
    let out2 = toml::to_string(&ManifestOut {
        model: &back.models,
    })
    .expect("serialises");
    assert_eq!(out, out2, "manifest round trip is not a fixed point");
    if !out.contains("nan") {
        assert_eq!(back.models, m.models);
    }
}

// ------------------------------------------------------------------------------------- config

/// `Config::parse`: what parses validates, warnings name only unknown keys, and the config
/// serialised back to TOML parses (without warnings) to the same config.
pub fn config(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let Ok(loaded) = Config::parse(&text) else {
        return;
    };
    loaded.config.validate().expect("a parsed config validates");
    // Warnings name keys the config does not have (`"" = 1` is a legal, unknown, empty key).
    let known = toml::Value::try_from(&loaded.config).expect("config serialises");
    for w in &loaded.warnings {
        let (table, key) = match w.key.split_once('.') {
            Some((t, k)) if known.get(t).is_some_and(|v| v.is_table()) => (known.get(t), k),
            _ => (Some(&known), w.key.as_str()),
        };
        assert!(
            table.and_then(|t| t.get(key)).is_none(),
            "known key `{}` reported as unknown",
            w.key
        );
        if let Some(line) = w.line {
            assert!(line >= 1 && line <= text.lines().count().max(1));
        }
    }
    let out = toml::to_string(&loaded.config).expect("config serialises");
    let back = Config::parse(&out).unwrap_or_else(|e| panic!("re-serialised config: {e}\n{out}"));
    assert!(back.warnings.is_empty(), "{:?}", back.warnings);
    let out2 = toml::to_string(&back.config).expect("serialises");
    assert_eq!(out, out2, "config round trip is not a fixed point");
    if !out.contains("nan") {
        assert_eq!(back.config, loaded.config);
    }
}

// ------------------------------------------------------------------------------------- labels

fn check_label_set(set: &LabelSet) {
    assert!(!set.cases.is_empty());
    let mut ids = std::collections::HashSet::new();
    let mut used = vec![false; set.labels.len()];
    for c in &set.cases {
        assert!(c.label < set.labels.len());
        used[c.label] = true;
        assert!(ids.insert(c.case_id.as_str()), "duplicate case id");
        for s in [&c.case_id, &c.subject] {
            assert!(!s.is_empty() && s.trim() == s.as_str());
        }
    }
    assert!(used.iter().all(|&u| u), "a label without cases");
    let mut names = std::collections::HashSet::new();
    for l in &set.labels {
        assert!(!l.name.is_empty() && l.name.trim() == l.name);
        if let Some(o) = &l.omim {
            assert!(!o.is_empty() && o.trim() == o.as_str());
        }
        assert!(l.genes.iter().all(|g| !g.is_empty()));
        let _ = names.insert(l.name.as_str());
    }
}

/// The plain label CSV: accepted sets are consistent, and writing one back as CSV (all columns)
/// reads back to the same set.
pub fn label_csv(data: &[u8]) {
    let Ok(set) = lab::read_label_csv_from(data, Path::new("fuzz.csv")) else {
        return;
    };
    check_label_set(&set);
    let mut names = std::collections::HashSet::new();
    for l in &set.labels {
        assert!(names.insert(l.name.as_str()), "label `{}` twice", l.name);
        assert!(l.genes.windows(2).all(|w| w[0] < w[1]), "genes not sorted");
    }
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record([
        "image", "label", "omim", "genes", "subject", "case_id", "role",
    ])
    .expect("write");
    for c in &set.cases {
        let l = &set.labels[c.label];
        w.write_record([
            c.image.to_str().expect("utf-8 path"),
            &l.name,
            l.omim.as_deref().unwrap_or(""),
            &l.genes.join(";"),
            &c.subject,
            &c.case_id,
            c.role.as_deref().unwrap_or(""),
        ])
        .expect("write");
    }
    let bytes = w.into_inner().expect("flush");
    let back = lab::read_label_csv_from(&bytes[..], Path::new("back.csv")).unwrap_or_else(|e| {
        panic!(
            "re-written label CSV refused: {e}\n{}",
            String::from_utf8_lossy(&bytes)
        )
    });
    assert_eq!(back, set, "label CSV round trip");
}

/// The GMDB pair: the bytes before the first NUL are the syndromes TSV, the rest the split CSV.
pub fn gmdb(data: &[u8]) {
    let (tsv, split) = match data.iter().position(|&b| b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[][..]),
    };
    let pattern = "img/{image_id}.jpg";
    let Ok(set) = lab::read_gmdb_from(
        split,
        Path::new("split.csv"),
        tsv,
        Path::new("syndromes.tsv"),
        pattern,
    ) else {
        return;
    };
    check_label_set(&set);
    let mut max_label = 0;
    for c in &set.cases {
        assert_eq!(
            c.image.to_str(),
            Some(pattern.replace("{image_id}", &c.case_id).as_str())
        );
        // Labels are numbered in order of first appearance.
        assert!(c.label <= max_label);
        if c.label == max_label {
            max_label += 1;
        }
    }
    assert_eq!(max_label, set.labels.len());
}

// ------------------------------------------------------------------------------------- photos

/// Largest decoded image (pixels) that goes on through the detector, so one run stays fast.
pub const PHOTO_PIPELINE_MAX_PIXELS: u64 = 256 * 256;

/// Photo bytes → RGB, then (small images only) face detection, face choice, quality measures and
/// alignment as the real pipeline runs them (the detector from the folder given to
/// [`set_models_dir`]).
pub fn photo(data: &[u8]) {
    photo_with(data, true)
}

/// [`photo`], with the detector stage optional (the smoke test skips it under emulation).
pub fn photo_with(data: &[u8], run_detector: bool) {
    let Ok(img) = photo::decode(data, "fuzz") else {
        return;
    };
    let (w, h) = img.dimensions();
    assert!(w >= 2 && h >= 2 && w <= photo::MAX_SIDE && h <= photo::MAX_SIDE);
    assert!(u64::from(w) * u64::from(h) <= photo::MAX_PIXELS);
    assert_eq!(img.as_raw().len(), w as usize * h as usize * 3);
    if !run_detector || u64::from(w) * u64::from(h) > PHOTO_PIPELINE_MAX_PIXELS {
        return;
    }
    let (det, template) = detector();
    let faces = det.detect(&img).expect("detection of a decoded image");
    assert!(faces.len() <= det.params().max_faces);
    for (i, f) in faces.iter().enumerate() {
        assert!((0.0..=1.0).contains(&f.score), "score {}", f.score);
        assert!(f.bbox.iter().all(|v| v.is_finite()));
        assert!(f.landmarks.iter().flatten().all(|v| v.is_finite()));
        assert!(f.bbox[0] <= f.bbox[2] && f.bbox[1] <= f.bbox[3]);
        if i > 0 {
            assert!(faces[i - 1].score >= f.score, "faces not sorted by score");
        }
    }
    let t = quality::QualityThresholds::default();
    let Ok(i) = quality::choose_face(&faces, (w, h), &t) else {
        return;
    };
    let face = &faces[i];
    let m = quality::measure(&img, face);
    assert!((0.0..=255.0).contains(&m.brightness), "{m:?}");
    assert!(m.sharpness.is_finite() && m.sharpness >= 0.0, "{m:?}");
    assert!(m.inter_ocular.is_finite() && m.yaw.is_finite(), "{m:?}");
    let _ = quality::judge(&m, &t);
    if let Ok(a) = align::align(&img, &face.landmarks, template) {
        assert_eq!(a.chip.dimensions(), (template.size[0], template.size[1]));
        assert!(a.residual.is_finite());
    }
}

/// The models folder of the `photo` target's detector, set by the caller
/// ([`set_models_dir`]).
static MODELS_DIR: OnceLock<PathBuf> = OnceLock::new();

/// Names the models folder the `photo` target loads its detector from: the caller knows where
/// its checkout's `models/` is (the fuzz target passes `fuzz/../models`, the smoke test the
/// crate's `models/`). Only the first call counts.
pub fn set_models_dir(dir: &Path) {
    let _ = MODELS_DIR.set(dir.to_path_buf());
}

/// The folder given to [`set_models_dir`], else `$GESTALTCAM_MODELS`.
fn models_dir() -> PathBuf {
    MODELS_DIR
        .get()
        .cloned()
        .or_else(|| std::env::var_os("GESTALTCAM_MODELS").map(PathBuf::from))
        .expect("the photo target needs its models folder: fuzzing::set_models_dir or GESTALTCAM_MODELS")
}

/// The detector and the default embedder's template from [`models_dir`], loaded once.
fn detector() -> &'static (Detector, Template) {
    static DET: OnceLock<(Detector, Template)> = OnceLock::new();
    DET.get_or_init(|| {
        let dir = models_dir();
        let m = Manifest::load_dir(&dir).expect("models/MANIFEST.toml");
        let entry = m.first_with_role(Role::Detector).expect("a detector");
        let det = Detector::load(&m, entry).expect("the detector loads");
        let template = m
            .first_with_role(Role::Embedder)
            .ok()
            .and_then(|e| e.template.clone())
            .expect("an embedder template");
        (det, template)
    })
}

// -------------------------------------------------------------------------------- camera frames

/// `camera::decode`: byte 0 picks the format (YUYV, NV12, MJPEG), bytes 1..3 and 3..5 are the
/// negotiated width and height (u16 LE), the rest is the buffer. Decoded frames have the
/// negotiated size (raw formats) and corner pixels that match the BT.601 formula.
pub fn camera_frame(data: &[u8]) {
    if data.len() < 5 {
        return;
    }
    let format = match data[0] % 3 {
        0 => PixelFormat::Yuyv,
        1 => PixelFormat::Nv12,
        _ => PixelFormat::Mjpeg,
    };
    let width = u32::from(u16::from_le_bytes([data[1], data[2]]));
    let height = u32::from(u16::from_le_bytes([data[3], data[4]]));
    let buf = &data[5..];
    let Ok(img) = camera::decode(format, buf, width, height) else {
        return;
    };
    let (w, h) = (width as usize, height as usize);
    let px = |x: u32, y: u32| img.get_pixel(x, y).0;
    let yc = camera::decode::ycbcr_to_rgb;
    match format {
        PixelFormat::Yuyv => {
            assert_eq!(img.dimensions(), (width, height));
            let row = w * 2;
            let stride = if buf.len() % h == 0 {
                buf.len() / h
            } else {
                row
            };
            assert!(stride >= row);
            assert_eq!(px(0, 0), yc(buf[0], buf[1], buf[3]));
            let last = (h - 1) * stride + (w - 2) * 2;
            assert_eq!(
                px(width - 1, height - 1),
                yc(buf[last + 2], buf[last + 1], buf[last + 3])
            );
        }
        PixelFormat::Nv12 => {
            assert_eq!(img.dimensions(), (width, height));
            let luma = w * h;
            assert_eq!(px(0, 0), yc(buf[0], buf[luma], buf[luma + 1]));
            let uv = luma + ((h - 1) / 2) * w + (w - 2);
            assert_eq!(
                px(width - 1, height - 1),
                yc(buf[luma - 1], buf[uv], buf[uv + 1])
            );
        }
        PixelFormat::Mjpeg => {
            assert!(img.width() >= 1 && img.height() >= 1);
            assert!(img.width() <= 65_535 && img.height() <= 65_535);
        }
    }
}
