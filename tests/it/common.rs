//! Helpers shared by several integration-test modules (`use crate::common;`). Not every module
//! uses every helper.
#![allow(dead_code)]

use gestaltcam::analysis::FrameSummary;
use gestaltcam::app::{AppContext, Notice, Notifier, RunOptions, ViewSink};
use gestaltcam::gallery::{Case, Gallery, GalleryMeta, Label, Storage};
use gestaltcam::manifest::Metric;
use gestaltcam::ui::view::View;
use std::path::{Path, PathBuf};
use std::time::Duration;

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

/// Every file under `dir` (sub-folders walked, not listed), sorted.
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).expect("read dir").flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// [`files_under`], each relative to `dir`.
pub fn relative_files_under(dir: &Path) -> Vec<PathBuf> {
    files_under(dir)
        .into_iter()
        .map(|p| p.strip_prefix(dir).expect("under dir").to_path_buf())
        .collect()
}

/// Every file and folder under `dir`, folders listed too (for "nothing was written at all").
pub fn entries_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(entries_under(&p));
        }
        out.push(p);
    }
    out
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

/// The manual clock's step per run-loop iteration in the device-loop tests.
pub const TICK: Duration = Duration::from_millis(100);

/// The session settings of the device-loop tests: `photos` per patient, the best `top_k`
/// candidates two to a page, the idle timeout, a watchdog ping every second, no saving, no
/// viewfinder.
pub fn ctx(photos: usize, top_k: usize, idle_timeout: Duration) -> AppContext {
    AppContext {
        photos_wanted: photos,
        top_k,
        per_page: 2,
        idle_timeout,
        saving: false,
        watchdog_interval: Some(Duration::from_secs(1)),
        viewfinder: None,
    }
}

/// A run of at most `iterations` loop iterations, one [`TICK`] each.
pub fn opts(iterations: u64) -> RunOptions {
    RunOptions {
        frame_interval: Some(TICK),
        max_iterations: Some(iterations),
        ..RunOptions::default()
    }
}

/// What a fake analyzer reports for a frame with one face, centred and ready to capture.
pub fn ready_face() -> FrameSummary {
    FrameSummary {
        face_count: 1,
        face_box: Some([0.3, 0.2, 0.7, 0.8]),
        face: None,
        issue: None,
    }
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

/// The SSD1306 bus traffic, written from the datasheet (I2C at 0x3C): every write starts with
/// a control byte, 0x00 = commands follow, 0x40 = display data follows; GDDRAM is 8 pages of
/// 128 bytes, bit n of a byte = row 8p+n. Used by `display_bus` and `faults::display`.
pub mod ssd1306 {
    use embedded_graphics::pixelcolor::BinaryColor;
    use embedded_hal_mock::eh1::i2c::Transaction as I2cTransaction;
    use gestaltcam::display::MonoPngDisplay;

    /// A command write: control byte 0x00 (Co = 0, D/C# = 0), then the command bytes.
    pub fn cmd(addr: u8, bytes: &[u8]) -> I2cTransaction {
        let mut v = vec![0x00];
        v.extend_from_slice(bytes);
        I2cTransaction::write(addr, v)
    }

    /// The SSD1306 datasheet's recommended initialisation for a 128x64 module with the internal
    /// charge pump, in horizontal addressing mode, rotated so that (0,0) is top-left.
    pub fn init(addr: u8) -> Vec<I2cTransaction> {
        let cmd = |b: &[u8]| cmd(addr, b);
        vec![
            cmd(&[0xAE]),       // display off
            cmd(&[0xD5, 0x80]), // clock: default oscillator, divide by 1
            cmd(&[0xA8, 0x3F]), // multiplex ratio 64
            cmd(&[0xD3, 0x00]), // no display offset
            cmd(&[0x40]),       // start line 0
            cmd(&[0x8D, 0x14]), // charge pump on
            cmd(&[0x20, 0x00]), // horizontal addressing
            cmd(&[0xDA, 0x12]), // COM pins: alternative, no left/right remap (128x64)
            cmd(&[0xA1]),       // segment remap: column 127 -> SEG0
            cmd(&[0xC8]),       // COM scan direction remapped
            cmd(&[0xD9, 0x21]), // pre-charge: phase 1 = 1, phase 2 = 2
            cmd(&[0x81, 0x5F]), // contrast
            cmd(&[0xDB, 0x40]), // VCOMH deselect level
            cmd(&[0xA4]),       // show RAM content
            cmd(&[0xA6]),       // normal (not inverted)
            cmd(&[0x2E]),       // scrolling off
            cmd(&[0xAF]),       // display on
        ]
    }

    /// GDDRAM bytes of a 128x64 image: 8 pages x 128 columns, bit n = row 8*page + n.
    pub fn gddram(fb: &MonoPngDisplay) -> Vec<u8> {
        let mut out = Vec::with_capacity(1024);
        for page in 0..8u32 {
            for x in 0..128u32 {
                let mut byte = 0u8;
                for bit in 0..8u32 {
                    if fb.pixel(x, page * 8 + bit) == Some(BinaryColor::On) {
                        byte |= 1 << bit;
                    }
                }
                out.push(byte);
            }
        }
        out
    }

    /// A full-screen update: window = all columns, all pages, then 1024 data bytes.
    /// Data writes start with control byte 0x40 (D/C# = 1); the driver sends 16 bytes per write.
    pub fn frame(addr: u8, gddram: &[u8]) -> Vec<I2cTransaction> {
        let mut t = vec![
            cmd(addr, &[0x21, 0, 127]), // columns 0..127
            cmd(addr, &[0x22, 0, 7]),   // pages 0..7
        ];
        for chunk in gddram.chunks(16) {
            let mut v = vec![0x40];
            v.extend_from_slice(chunk);
            t.push(I2cTransaction::write(addr, v));
        }
        t
    }
}

/// The `gestaltcam` binary with `args` in `cwd` (its HOME and TMPDIR too, so nothing lands
/// elsewhere): success, stdout, stderr.
pub fn run_gestaltcam(args: &[&str], cwd: &Path) -> (bool, String, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_gestaltcam"))
        .args(args)
        .current_dir(cwd)
        .env("HOME", cwd)
        .env("TMPDIR", cwd)
        .output()
        .expect("run gestaltcam");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The device's counters file or usage report (JSON) holds nothing of a patient: no name
/// from `names` (photo files, gallery labels, candidates), no number but whole counts (no
/// embedding, no score), no list of numbers, no time finer than a day, no long string (an
/// encoded image), and it is small.
pub fn assert_no_patient_data(what: &str, text: &str, names: &[&str]) {
    assert!(text.len() < 256 * 1024, "{what}: {} bytes", text.len());
    for name in names {
        assert!(!text.contains(name), "{what} names {name:?}:\n{text}");
    }
    let value: serde_json::Value = serde_json::from_str(text).expect("JSON");
    let mut todo = vec![(String::new(), &value)];
    while let Some((at, v)) = todo.pop() {
        match v {
            serde_json::Value::Number(n) => {
                assert!(n.is_u64(), "{what}: {at} = {n} is not a whole count")
            }
            serde_json::Value::String(s) => {
                assert!(s.len() <= 100, "{what}: {at} is a {}-byte string", s.len());
                let clock = s
                    .as_bytes()
                    .windows(3)
                    .any(|w| w[0].is_ascii_digit() && w[1] == b':' && w[2].is_ascii_digit());
                assert!(!clock, "{what}: {at} = {s:?} holds a time of day");
            }
            serde_json::Value::Array(a) => {
                let numbers = a.iter().filter(|x| x.is_number()).count();
                assert!(numbers == 0, "{what}: {at} is a list of numbers");
                todo.extend(a.iter().map(|x| (format!("{at}[]"), x)));
            }
            serde_json::Value::Object(m) => {
                todo.extend(m.iter().map(|(k, x)| (format!("{at}.{k}"), x)))
            }
            serde_json::Value::Bool(_) | serde_json::Value::Null => {}
        }
    }
    // Every day is a day (`YYYY-MM-DD`) or `undated`.
    let days: Vec<String> = match &value["days"] {
        serde_json::Value::Object(m) => m.keys().cloned().collect(),
        serde_json::Value::Array(a) => a
            .iter()
            .map(|d| d["day"].as_str().expect("a day").to_string())
            .collect(),
        other => panic!("{what}: `days` is {other}"),
    };
    for k in days {
        let is_day = k.len() == 10 && k.chars().filter(|c| *c == '-').count() == 2;
        assert!(is_day || k == "undated", "{what}: day {k:?}");
    }
}
