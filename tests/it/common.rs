//! Helpers shared by several integration-test modules (`use crate::common;`). Not every module
//! uses every helper.
#![allow(dead_code)]

use gestaltcam::app::{Notice, Notifier, ViewSink};
use gestaltcam::gallery::{Case, Gallery, GalleryMeta, Label, Storage};
use gestaltcam::manifest::Metric;
use gestaltcam::ui::view::View;
use std::path::PathBuf;

/// `../shared/faces` (the labelled dev photos beside the checkout; two levels up from a worktree
/// under `/work/wt-*`). Absent: `None` after printing "skipped" when `CI` is unset, a failure
/// when it is set (CI must not pass by skipping the accuracy tests).
pub fn shared_faces() -> Option<PathBuf> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let found = ["../shared/faces", "../../shared/faces"]
        .iter()
        .map(|rel| root.join(rel))
        .find(|p| p.join("dev.csv").is_file());
    if found.is_none() {
        let want = root.join("../shared/faces/dev.csv");
        assert!(
            std::env::var_os("CI").is_none(),
            "CI is set but the shared faces are missing: {} not found",
            want.display()
        );
        eprintln!(
            "skipped: {} not found (set CI to make this a failure)",
            want.display()
        );
    }
    found
}

/// Deterministic splitmix64.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
    /// Uniform in [-1, 1).
    pub fn f32(&mut self) -> f32 {
        (self.next() >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0
    }
    pub fn vec(&mut self, n: usize) -> Vec<f32> {
        (0..n).map(|_| self.f32()).collect()
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// A small gallery of unit vectors (the device model's size, 128) for `embedder_id`.
pub fn make_gallery(
    seed: u64,
    name: &str,
    n_labels: usize,
    n_cases: usize,
    embedder_id: &str,
) -> Gallery {
    let mut rng = Rng(seed);
    let dim = 128;
    let labels = (0..n_labels)
        .map(|i| Label {
            name: format!("syndrome {i}"),
            omim: None,
            genes: vec![],
        })
        .collect();
    let cases = (0..n_cases)
        .map(|i| Case {
            case_id: format!("case-{i}"),
            subject: format!("subject-{i}"),
            label: (i % n_labels) as u32,
        })
        .collect();
    let mut emb = Vec::with_capacity(n_cases * dim);
    for _ in 0..n_cases {
        let v: Vec<f32> = (0..dim)
            .map(|_| (rng.next() >> 40) as f32 / (1u64 << 24) as f32 - 0.5)
            .collect();
        let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        emb.extend(v.iter().map(|x| x / n));
    }
    let meta = GalleryMeta {
        embedder_id: embedder_id.into(),
        metric: Metric::Euclidean,
        name: name.into(),
        created_unix: 1_700_000_000,
        threshold: None,
        storage: Storage::F32,
    };
    Gallery::from_parts(meta, labels, cases, dim, emb).unwrap()
}

/// A display that keeps every view it was sent.
#[derive(Default)]
pub struct Screen(pub Vec<View>);

impl ViewSink for Screen {
    fn show(&mut self, view: &View) {
        self.0.push(view.clone());
    }
}

/// A notifier that keeps every notice.
#[derive(Default)]
pub struct Notices(pub Vec<Notice>);

impl Notifier for Notices {
    fn notify(&mut self, n: &Notice) {
        self.0.push(n.clone());
    }
}

/// Drops every DHT (FF C4) segment before the scan: an MJPEG frame as many UVC cameras send it.
pub fn strip_dht(jpeg: &[u8]) -> Vec<u8> {
    let mut out = jpeg[..2].to_vec();
    let mut i = 2;
    while i + 4 <= jpeg.len() && jpeg[i] == 0xFF && jpeg[i + 1] != 0xDA {
        let len = usize::from(jpeg[i + 2]) << 8 | usize::from(jpeg[i + 3]);
        if jpeg[i + 1] != 0xC4 {
            out.extend_from_slice(&jpeg[i..i + 2 + len]);
        }
        i += 2 + len;
    }
    out.extend_from_slice(&jpeg[i..]);
    out
}

/// True when the tests run under qemu-user: every non-x86_64 run on the x86_64 CI machine, where
/// a model inference costs seconds instead of milliseconds.
pub const UNDER_QEMU: bool = !cfg!(target_arch = "x86_64");

/// The items a model-heavy test checks: all of them on the host, the first `n` under qemu-user
/// (enough to prove the aarch64 arithmetic; the host run covers the rest).
pub fn qemu_first<T>(mut items: Vec<T>, n: usize) -> Vec<T> {
    if UNDER_QEMU {
        items.truncate(n);
    }
    items
}
