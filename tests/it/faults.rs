//! Fault injection (issue 6): each fault the device must survive, injected into the real
//! library code (real gallery files in temp folders, the real models in `models/`, the real
//! run loop), asserting what the clinician sees (the views) and what is left on disk.
//!
//! | issue bullet | tests here | also covered by |
//! |---|---|---|
//! | camera disappears mid-capture and returns | `camera_lost_between_photos_keeps_the_session` | `tests/it/app.rs` `camera_unplugged_mid_session_then_replugged_continues`, `camera_missing_at_start_shows_error_then_resumes`; `tests/it/camera.rs` `reconnecting_reopens_with_backoff_on_the_clock` |
//! | camera gives garbage or zero-length frames | `garbage_and_empty_frames_are_skipped_and_the_session_completes` | `tests/it/camera.rs` `bad_frames_are_typed_errors` |
//! | display bus errors | `display_i2c_errors_are_logged_once_and_the_view_is_redrawn` (embedded-hal-mock), `display_spi_outage_does_not_stop_the_device` | `tests/it/display_bus.rs` (the bus protocol itself) |
//! | model file corrupted on disk / hash ≠ manifest | `tampered_model_is_refused_with_a_screen` | `tests/it/embed_golden.rs` `tampered_model_is_refused` |
//! | gallery corrupted on disk: clear screen, last good gallery kept | `corrupt_gallery_uses_the_last_good_copy_with_a_warning_screen`, `every_refusal_falls_back_to_the_last_good_copy`, `refused_gallery_without_last_good_copy_is_an_error_screen` | `tests/it/gallery.rs` `truncated_files_give_typed_errors_never_panic`, `garbage_with_valid_hash_never_panics`, `flipped_byte_is_a_hash_error`, `other_embedder_is_refused_naming_both_ids` |
//! | tampered or unsigned gallery with a public key is refused, with a screen | `signed_gallery_tampered_or_unsigned_is_refused` | `tests/it/gallery.rs` `signatures` |
//! | power cut during a gallery write | `power_cut_during_gallery_write_leaves_old_or_new` (SIGKILLed child writer, seeded, 200 rounds) | `tests/it/gallery.rs` `interrupted_write_leaves_the_old_gallery` (failing writer) |
//! | disk full | `disk_full_gallery_write_keeps_the_old_gallery`, `disk_full_capture_leaves_no_partial_file` (real ENOSPC from `/dev/full`), `failing_capture_save_keeps_the_session_running`, `unwritable_state_dir_does_not_stop_the_device` | |
//! | the detector fails on preview frames | `a_failing_preview_is_logged_and_shown_without_a_face` | `src/screening.rs` and `src/app/run/worker.rs` unit tests |
//! | config with wrong types or unknown keys | `config_wrong_types_name_key_and_line`, `config_unknown_keys_are_warnings_and_ignored`, `config_bad_values_are_refused` | `src/config.rs` unit tests |
//!
//! A power cut is simulated with SIGKILL: it proves the writer never exposes a partial file
//! (temp file + rename). That the data also survives losing the page cache rests on the fsyncs
//! in `gallery::write_atomic_via` (file, then folder after the rename), read in the code.

use std::cell::{Cell, RefCell};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::Duration;

use crate::common;
use embedded_graphics::{pixelcolor::raw::ToBytes, pixelcolor::BinaryColor, prelude::*};

use common::{make_gallery, Notices, Rng, Screen};
use gestaltcam::analysis::{
    AnalyseError, AnalysisOutcome, Analyzer, Capture as Photo, FrameSummary, Refined,
};
use gestaltcam::app::{
    run_device, AppContext, ButtonEvent, Device, Notice, RunOptions, RunReport, ScriptedButtons,
    ViewSink,
};
use gestaltcam::camera::{decode, Camera, CameraError, Frame, ManualClock, PixelFormat};
use gestaltcam::config::{Config, ConfigError};
use gestaltcam::display::{MonoPngDisplay, PanelConfig, PngDisplay, Ssd1306Panel, St7789Panel};
use gestaltcam::gallery::{self, Gallery, GalleryError, LoadOptions};
use gestaltcam::manifest::{Manifest, Role};
use gestaltcam::setup::{analyzer_for, LastGood, PanelSink, PANEL_RETRY_EVERY};
use gestaltcam::ui::view::{Band, Basis, Candidate, CheckState, ErrorKind, SelfCheck, View};
use gestaltcam::ui::{self, Layout};
use image::RgbImage;

use ButtonEvent::Capture;

// ------------------------------------------------------------------ helpers

/// Log records of the current thread (each test runs on its own thread).
mod logs {
    use std::cell::RefCell;

    thread_local! {
        static RECORDS: RefCell<Vec<(log::Level, String, String)>> = const { RefCell::new(Vec::new()) };
    }

    struct Capture;

    impl log::Log for Capture {
        fn enabled(&self, m: &log::Metadata) -> bool {
            m.level() <= log::Level::Info
        }
        fn log(&self, r: &log::Record) {
            if self.enabled(r.metadata()) {
                RECORDS.with(|v| {
                    v.borrow_mut()
                        .push((r.level(), r.target().to_string(), r.args().to_string()))
                });
            }
        }
        fn flush(&self) {}
    }

    static CAPTURE: Capture = Capture;

    /// Starts capturing (once per process) and drops this thread's earlier records.
    pub fn start() {
        static ONCE: std::sync::Once = std::sync::Once::new();
        ONCE.call_once(|| {
            let _ = log::set_logger(&CAPTURE);
            log::set_max_level(log::LevelFilter::Info);
        });
        RECORDS.with(|v| v.borrow_mut().clear());
    }

    /// This thread's records from `target` (a module path prefix).
    pub fn from(target: &str) -> Vec<(log::Level, String)> {
        RECORDS.with(|v| {
            v.borrow()
                .iter()
                .filter(|(_, t, _)| t.starts_with(target))
                .map(|(l, _, m)| (*l, m.clone()))
                .collect()
        })
    }
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn models_dir() -> PathBuf {
    repo().join("models")
}

/// The id galleries must carry for the device's default embedder.
fn device_embedder_id() -> String {
    Manifest::load_dir(&models_dir())
        .unwrap()
        .first_with_role(Role::Embedder)
        .unwrap()
        .embedder_id()
}

/// A device configuration with its gallery and state folder under `dir`.
fn device_config(dir: &Path) -> Config {
    Config {
        models_dir: models_dir(),
        gallery: dir.join("gallery.gmg"),
        state_dir: dir.join("state"),
        flip_tta: false,
        photos_per_patient: 1,
        ..Config::default()
    }
}

fn photo(name: &str) -> RgbImage {
    image::open(repo().join("tests/fixtures/photos").join(name))
        .unwrap()
        .to_rgb8()
}

fn jpeg(img: &RgbImage) -> Vec<u8> {
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 90)
        .encode_image(img)
        .unwrap();
    out
}

/// A short name for each view, to compare sequences.
fn tag(v: &View) -> String {
    match v {
        View::Blank => "blank".into(),
        View::Starting { checks } => {
            if checks.iter().any(|c| c.state == CheckState::Warning) {
                "starting WARN".into()
            } else {
                "starting".into()
            }
        }
        View::Preview {
            photos_taken,
            photos_wanted,
            ..
        } => format!("preview {photos_taken}/{photos_wanted}"),
        View::Capturing { photo, of } => format!("capture {photo}/{of}"),
        View::Analysing { photos } => format!("analysing {photos}"),
        View::Results { .. } => "results".into(),
        View::Question { .. } => "question".into(),
        View::NoCloseMatch { .. } => "no match".into(),
        View::Error { kind, .. } => format!("error {kind:?}"),
    }
}

fn ctx(photos: usize) -> AppContext {
    AppContext {
        photos_wanted: photos,
        idle_timeout: Duration::from_secs(600),
        ..AppContext::default()
    }
}

fn opts(iterations: u64) -> RunOptions {
    RunOptions {
        frame_interval: Some(Duration::from_millis(100)),
        max_iterations: Some(iterations),
        timeouts_as_lost: 3,
        ..RunOptions::default()
    }
}

struct Run<A> {
    views: Vec<View>,
    notices: Vec<Notice>,
    report: RunReport,
    #[allow(dead_code)]
    analyzer: A,
}

fn run<C: Camera, A: Analyzer + Send>(
    camera: C,
    analyzer: A,
    script: &[(u64, ButtonEvent)],
    ctx: &AppContext,
    opts: &RunOptions,
) -> Run<A> {
    let mut dev = Device {
        camera,
        buttons: ScriptedButtons::at_frames(script.iter().copied()),
        clock: ManualClock::new(),
        analyzer,
        display: Screen::default(),
        notifier: Notices::default(),
    };
    let report = run_device(&mut dev, ctx, opts);
    Run {
        views: dev.display.0,
        notices: dev.notifier.0,
        report,
        analyzer: dev.analyzer,
    }
}

fn tags(views: &[View]) -> Vec<String> {
    views.iter().map(tag).collect()
}

fn basis_of(v: &View) -> Option<&Basis> {
    match v {
        View::Results { basis, .. } | View::NoCloseMatch { basis } => Some(basis),
        _ => None,
    }
}

fn check<'a>(checks: &'a [SelfCheck], name: &str) -> &'a SelfCheck {
    checks
        .iter()
        .find(|c| c.name == name)
        .unwrap_or_else(|| panic!("no {name} line in {checks:?}"))
}

fn files_in(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|r| {
            r.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

// ------------------------------------------------------------------ model and gallery on disk

#[test]
#[cfg_attr(
    not(target_arch = "x86_64"),
    ignore = "loads the real models (a minute or more each under qemu-user): runs on the host"
)]
fn tampered_model_is_refused_with_a_screen() {
    let tmp = tempfile::tempdir().unwrap();
    let models = tmp.path().join("models");
    std::fs::create_dir(&models).unwrap();
    let manifest = Manifest::load_dir(&models_dir()).unwrap();
    let embedder = manifest.first_with_role(Role::Embedder).unwrap().clone();
    let detector = manifest.first_with_role(Role::Detector).unwrap().clone();
    std::fs::copy(
        models_dir().join("MANIFEST.toml"),
        models.join("MANIFEST.toml"),
    )
    .unwrap();
    std::fs::copy(
        models_dir().join(&detector.file),
        models.join(&detector.file),
    )
    .unwrap();
    let mut bytes = std::fs::read(models_dir().join(&embedder.file)).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x40;
    std::fs::write(models.join(&embedder.file), &bytes).unwrap();

    let mut cfg = device_config(tmp.path());
    cfg.models_dir = models;
    // A valid gallery and a last good copy exist: there is no fallback for models.
    make_gallery(1, "ref A", 3, 6, &device_embedder_id())
        .save(&cfg.gallery)
        .unwrap();
    let mut analyzer = analyzer_for(&cfg);
    assert!(analyzer.pipeline().is_none());
    let checks = analyzer.self_test();
    let model = check(&checks, "Model");
    assert_eq!(model.state, CheckState::Failed);
    assert!(model.detail.contains(&embedder.file), "{}", model.detail);
    assert!(model.detail.contains("sha256"), "{}", model.detail);

    let cam =
        gestaltcam::camera::ReplayCamera::from_images(vec![photo("obama2.jpg")], 10.0).unwrap();
    let out = run(
        cam,
        analyzer,
        &[(2, Capture), (3, Capture)],
        &ctx(1),
        &opts(6),
    );
    assert_eq!(tags(&out.views), ["starting", "error ModelRefused"]);
    let View::Error {
        technical: detail, ..
    } = &out.views[1]
    else {
        unreachable!()
    };
    assert!(detail.starts_with("Model: "), "{detail}");
    assert!(detail.contains(&embedder.file), "{detail}");
    assert_eq!(out.report.analyses, 0);
    assert!(!out.notices.contains(&Notice::Ready));
}

/// What was done to the file, the reason the screen gives, and how to do it.
type Corruption = (&'static str, &'static str, fn(&Path));

/// Ways a configured gallery is refused.
fn corruptions() -> Vec<Corruption> {
    fn truncate(p: &Path) {
        let b = std::fs::read(p).unwrap();
        std::fs::write(p, &b[..b.len() * 2 / 3]).unwrap();
    }
    fn flip(p: &Path) {
        let mut b = std::fs::read(p).unwrap();
        let n = b.len();
        b[n - 7] ^= 0x01;
        std::fs::write(p, &b).unwrap();
    }
    fn garbage(p: &Path) {
        std::fs::write(p, Rng(7).bytes(4000)).unwrap();
    }
    fn zero_length(p: &Path) {
        std::fs::write(p, b"").unwrap();
    }
    fn other_model(p: &Path) {
        make_gallery(5, "other model", 3, 6, "some-other-embedder")
            .save(p)
            .unwrap();
    }
    fn missing(p: &Path) {
        std::fs::remove_file(p).unwrap();
    }
    vec![
        ("truncated", "truncated", truncate),
        ("flipped byte", "altered or corrupted", flip),
        ("random bytes", "corrupt", garbage),
        ("zero length", "truncated", zero_length),
        (
            "made by another model",
            "made for another model",
            other_model,
        ),
        ("deleted", "file missing", missing),
    ]
}

#[test]
#[cfg_attr(
    not(target_arch = "x86_64"),
    ignore = "loads the real models (a minute or more each under qemu-user): runs on the host"
)]
fn corrupt_gallery_uses_the_last_good_copy_with_a_warning_screen() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = device_config(tmp.path());
    let good = make_gallery(1, "ref A", 3, 6, &device_embedder_id());
    good.save(&cfg.gallery).unwrap();

    // A good start keeps a copy in the state folder and shows no warning.
    let mut first = analyzer_for(&cfg);
    let checks = first.self_test();
    assert_eq!(check(&checks, "Gallery").state, CheckState::Ok);
    assert!(
        checks.iter().all(|c| c.state == CheckState::Ok),
        "{checks:?}"
    );
    let copy = LastGood::new(&cfg.state_dir).current().unwrap().unwrap();
    assert_eq!(std::fs::read(&copy).unwrap(), good.to_bytes());

    // The configured gallery is damaged on disk (one flipped byte).
    let mut b = std::fs::read(&cfg.gallery).unwrap();
    let n = b.len();
    b[n / 2] ^= 0x08;
    std::fs::write(&cfg.gallery, &b).unwrap();

    let analyzer = analyzer_for(&cfg);
    assert_eq!(
        analyzer.gallery().unwrap().content_hash(),
        good.content_hash()
    );
    let cam =
        gestaltcam::camera::ReplayCamera::from_images(vec![photo("obama2.jpg")], 10.0).unwrap();
    // Capture at 3 only acknowledges the warning; capture at 6 takes the photo.
    let out = run(
        cam,
        analyzer,
        &[(3, Capture), (6, Capture)],
        &ctx(1),
        &opts(8),
    );
    let t = tags(&out.views);
    let ack = t.iter().position(|s| s.starts_with("preview")).unwrap();
    assert_eq!(t[0], "starting");
    assert!(
        t[1..ack].iter().all(|s| s == "starting WARN"),
        "the warning stays up until a button: {t:?}"
    );
    assert!(ack >= 2, "{t:?}");
    assert_eq!(
        t[ack..],
        ["preview 0/1", "capture 1/1", "analysing 1", "results"]
    );
    // What the warning screen says.
    let View::Starting { checks } = &out.views[1] else {
        unreachable!()
    };
    let g = check(checks, "Gallery");
    assert_eq!(g.state, CheckState::Warning);
    assert_eq!(g.detail, "configured one refused: altered or corrupted");
    let using = check(checks, "Using");
    assert_eq!(using.state, CheckState::Ok);
    assert_eq!(using.detail, "last good ref A: 6 cases");
    // The results are computed on the last good gallery, and say which one.
    let basis = basis_of(out.views.last().unwrap()).unwrap();
    assert_eq!(basis.gallery_version, "ref A");
    assert_eq!(basis.reference_cases, 6);
    assert_eq!(out.report.analyses, 1);
    // The refused file did not replace the last good copy.
    let kept = LastGood::new(&cfg.state_dir).current().unwrap().unwrap();
    assert_eq!(std::fs::read(kept).unwrap(), good.to_bytes());

    // The warning screen draws (colour and monochrome) with the WARN line visible.
    for (w, h) in [(240, 240), (128, 64)] {
        let size = Size::new(w, h);
        let mut warn = PngDisplay::new(w, h);
        ui::draw(&out.views[1], &Layout::new(size), &mut warn).unwrap();
        let mut ok_view = out.views[1].clone();
        if let View::Starting { checks } = &mut ok_view {
            checks.iter_mut().for_each(|c| c.state = CheckState::Ok);
        }
        let mut ok = PngDisplay::new(w, h);
        ui::draw(&ok_view, &Layout::new(size), &mut ok).unwrap();
        assert_ne!(warn.pixels(), ok.pixels(), "{w}x{h}");
    }
}

#[test]
fn every_refusal_falls_back_to_the_last_good_copy() {
    let id = device_embedder_id();
    for (what, reason, damage) in corruptions() {
        let tmp = tempfile::tempdir().unwrap();
        let cfg = device_config(tmp.path());
        let good = make_gallery(2, "ref B", 4, 8, &id);
        good.save(&cfg.gallery).unwrap();
        let opts = LoadOptions {
            public_key: None,
            embedder_id: Some(id.clone()),
        };
        let choice = gestaltcam::setup::load_device_gallery(&cfg, Some(&id));
        assert!(choice.refused.is_none(), "{what}");
        assert!(choice.gallery.is_ok(), "{what}");

        damage(&cfg.gallery);
        let choice = gestaltcam::setup::load_device_gallery(&cfg, Some(&id));
        assert_eq!(choice.refused.as_deref(), Some(reason), "{what}");
        let g = choice.gallery.expect(what);
        assert_eq!(g.content_hash(), good.content_hash(), "{what}");
        // The last good copy is untouched and still verifies.
        let again = LastGood::new(&cfg.state_dir).load(&opts).unwrap().unwrap();
        assert_eq!(again.content_hash(), good.content_hash(), "{what}");
    }
}

#[test]
#[cfg_attr(
    not(target_arch = "x86_64"),
    ignore = "loads the real models (a minute or more each under qemu-user): runs on the host"
)]
fn refused_gallery_without_last_good_copy_is_an_error_screen() {
    let id = device_embedder_id();
    for (what, reason, damage) in corruptions() {
        let tmp = tempfile::tempdir().unwrap();
        let cfg = device_config(tmp.path());
        make_gallery(3, "ref C", 2, 4, &id)
            .save(&cfg.gallery)
            .unwrap();
        damage(&cfg.gallery);
        let choice = gestaltcam::setup::load_device_gallery(&cfg, Some(&id));
        let err = choice.gallery.expect_err(what);
        assert!(
            err.starts_with(&format!("refused ({reason}), no last good copy")),
            "{what}: {err}"
        );
        assert!(choice.refused.is_none());
        assert!(
            files_in(&cfg.state_dir)
                .iter()
                .all(|f| !f.starts_with("last-good")),
            "{what}: nothing is kept from a refused gallery"
        );
    }
    // Through the device: the error screen, no preview, no analysis.
    let tmp = tempfile::tempdir().unwrap();
    let cfg = device_config(tmp.path());
    std::fs::write(&cfg.gallery, b"GCAMGAL\0").unwrap();
    let cam =
        gestaltcam::camera::ReplayCamera::from_images(vec![photo("obama2.jpg")], 10.0).unwrap();
    let out = run(cam, analyzer_for(&cfg), &[(2, Capture)], &ctx(1), &opts(5));
    assert_eq!(tags(&out.views), ["starting", "error GalleryRefused"]);
    let View::Error {
        technical: detail, ..
    } = &out.views[1]
    else {
        unreachable!()
    };
    assert!(
        detail.starts_with("Gallery: refused (truncated), no last good copy"),
        "{detail}"
    );
    assert_eq!(out.report.analyses, 0);
}

#[test]
#[cfg_attr(
    not(target_arch = "x86_64"),
    ignore = "loads the real models (a minute or more each under qemu-user): runs on the host"
)]
fn signed_gallery_tampered_or_unsigned_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let mut cfg = device_config(tmp.path());
    let (secret, public) = (tmp.path().join("key.pem"), tmp.path().join("key.pub"));
    gallery::write_keypair(&secret, &public).unwrap();
    let key = gallery::read_signing_key(&secret).unwrap();
    cfg.gallery_public_key = Some(public.clone());
    let id = device_embedder_id();
    let good = make_gallery(4, "signed ref", 3, 9, &id);
    good.save(&cfg.gallery).unwrap();
    gallery::sign(&cfg.gallery, &key).unwrap();
    let load = |cfg: &Config| gestaltcam::setup::load_device_gallery(cfg, Some(&id));

    let c = load(&cfg);
    assert!(c.refused.is_none() && c.gallery.is_ok());
    let copy = LastGood::new(&cfg.state_dir).current().unwrap().unwrap();
    assert!(
        gallery::sig_path(&copy).exists(),
        "the signature is kept with the copy"
    );

    // Tampered after signing (a valid content hash, but not what was signed).
    let tampered = make_gallery(40, "signed ref", 3, 9, &id);
    let sig = std::fs::read(gallery::sig_path(&cfg.gallery)).unwrap();
    tampered.save(&cfg.gallery).unwrap();
    std::fs::write(gallery::sig_path(&cfg.gallery), &sig).unwrap();
    let c = load(&cfg);
    assert_eq!(c.refused.as_deref(), Some("bad signature"));
    assert_eq!(c.gallery.unwrap().content_hash(), good.content_hash());

    // Unsigned.
    std::fs::remove_file(gallery::sig_path(&cfg.gallery)).unwrap();
    let c = load(&cfg);
    assert_eq!(c.refused.as_deref(), Some("not signed"));
    assert_eq!(c.gallery.unwrap().content_hash(), good.content_hash());

    // The last good copy is re-verified the same way: tampering with it is refused too.
    let mut b = std::fs::read(&copy).unwrap();
    let n = b.len();
    b[n - 1] ^= 1;
    std::fs::write(&copy, &b).unwrap();
    let c = load(&cfg);
    let err = c.gallery.unwrap_err();
    assert!(
        err.starts_with("refused (not signed), last good copy refused too (bad signature)"),
        "{err}"
    );

    // Through the device, without any last good copy: the screen says why.
    let fresh = Config {
        state_dir: tmp.path().join("fresh-state"),
        ..cfg.clone()
    };
    let mut analyzer = analyzer_for(&fresh);
    let checks = analyzer.self_test();
    assert_eq!(check(&checks, "Gallery").state, CheckState::Failed);
    let cam =
        gestaltcam::camera::ReplayCamera::from_images(vec![photo("obama2.jpg")], 10.0).unwrap();
    let out = run(cam, analyzer, &[(2, Capture)], &ctx(1), &opts(4));
    assert_eq!(tags(&out.views), ["starting", "error GalleryRefused"]);
    let View::Error {
        technical: detail, ..
    } = &out.views[1]
    else {
        unreachable!()
    };
    assert!(detail.contains("not signed"), "{detail}");
}

// ------------------------------------------------------------------ power cut during a write

const WRITER_ENV: &str = "GESTALTCAM_FAULTS_WRITER";
const POWER_CUT_TEST: &str = "faults::power_cut_during_gallery_write_leaves_old_or_new";

fn power_galleries() -> (Gallery, Gallery) {
    // About 0.5 MB each, so a kill often lands inside a write.
    (
        make_gallery(11, "gallery A", 20, 1000, "power-cut"),
        make_gallery(12, "gallery B", 25, 1100, "power-cut"),
    )
}

/// The child: writes A, B, A, B, ... with the library's atomic writer until it is killed.
fn writer_loop(path: &Path) -> ! {
    let (a, b) = power_galleries();
    std::fs::write(path.with_extension("started"), b"").unwrap();
    loop {
        a.save(path).unwrap();
        b.save(path).unwrap();
    }
}

#[test]
#[cfg_attr(
    not(target_arch = "x86_64"),
    ignore = "spawns the test binary, impossible under qemu-user"
)]
fn power_cut_during_gallery_write_leaves_old_or_new() {
    use std::os::unix::process::ExitStatusExt;
    if let Ok(p) = std::env::var(WRITER_ENV) {
        writer_loop(Path::new(&p));
    }
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("g.gmg");
    let started = path.with_extension("started");
    let (a, b) = power_galleries();
    // One A+B cycle of the writer, so the kills spread over about two cycles.
    let t = std::time::Instant::now();
    for _ in 0..3 {
        b.save(&path).unwrap();
        a.save(&path).unwrap();
    }
    let cycle_us = (t.elapsed().as_micros() as u64 / 3).max(500);
    let exe = std::env::current_exe().unwrap();
    let mut rng = Rng(0x5EED);
    let (rounds, mut got_a, mut got_b, mut torn_temp) = (200, 0, 0, 0);
    let t0 = std::time::Instant::now();
    for round in 0..rounds {
        let _ = std::fs::remove_file(&started);
        let mut child = std::process::Command::new(&exe)
            .args(["--exact", POWER_CUT_TEST, "--test-threads=1", "--nocapture"])
            .env(WRITER_ENV, &path)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let wait_start = std::time::Instant::now();
        while !started.exists() {
            assert!(
                wait_start.elapsed() < Duration::from_secs(20),
                "writer did not start"
            );
            assert!(child.try_wait().unwrap().is_none(), "writer exited early");
            std::thread::sleep(Duration::from_micros(200));
        }
        std::thread::sleep(Duration::from_micros(rng.below(2 * cycle_us)));
        child.kill().unwrap(); // SIGKILL
        let status = child.wait().unwrap();
        assert_eq!(status.signal(), Some(9), "round {round}: {status:?}");
        // A temp file left behind = the kill landed inside a write; loading ignores it.
        torn_temp += gallery::remove_stale_temp_files(&path).unwrap();
        let g = Gallery::load(&path)
            .unwrap_or_else(|e| panic!("round {round}: a broken gallery after the kill: {e}"));
        if g.content_hash() == a.content_hash() {
            got_a += 1;
        } else if g.content_hash() == b.content_hash() {
            got_b += 1;
        } else {
            panic!("round {round}: neither A nor B");
        }
    }
    eprintln!(
        "power cut: {rounds} rounds, {rounds} SIGKILLs, old/new: A {got_a}, B {got_b}, \
         killed mid-write (temp file left) {torn_temp}, A+B write cycle {cycle_us} us, {:.1} s",
        t0.elapsed().as_secs_f64()
    );
    assert_eq!(got_a + got_b, rounds);
    // The kills landed at different points of the loop.
    assert!(got_a > 0 && got_b > 0, "A {got_a}, B {got_b}");
    std::fs::remove_file(&started).unwrap();
    assert_eq!(files_in(tmp.path()), ["g.gmg"]);
}

// ------------------------------------------------------------------ disk full

#[cfg(target_os = "linux")]
fn write_to_dev_full(_: &mut std::fs::File, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    // The kernel's full device: every write fails with ENOSPC.
    let mut full = std::fs::OpenOptions::new().write(true).open("/dev/full")?;
    full.write_all(bytes)?;
    full.flush()
}

#[cfg(target_os = "linux")]
const ENOSPC: i32 = 28;

#[test]
#[cfg(target_os = "linux")]
fn disk_full_gallery_write_keeps_the_old_gallery() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("g.gmg");
    let old = make_gallery(20, "old", 3, 12, "x");
    old.save(&path).unwrap();
    let new = make_gallery(21, "new", 3, 30, "x");
    let err = gallery::write_atomic_via(&path, &new.to_bytes(), write_to_dev_full).unwrap_err();
    match &err {
        GalleryError::Write { path: p, source } => {
            assert_eq!(p, &path);
            assert_eq!(source.raw_os_error(), Some(ENOSPC), "{source}");
        }
        other => panic!("expected a write error, got {other:?}"),
    }
    let msg = err.to_string();
    assert!(
        msg.contains("cannot write gallery") && msg.contains("g.gmg"),
        "{msg}"
    );
    assert_eq!(Gallery::load(&path).unwrap(), old);
    assert_eq!(files_in(tmp.path()), ["g.gmg"], "the temp file is gone");
}

#[test]
#[cfg(target_os = "linux")]
fn disk_full_capture_leaves_no_partial_file() {
    use gestaltcam::app::save::{save_capture_via, SaveError};
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("captures");
    let frame = Frame::new(RgbImage::new(32, 24), 7, Duration::ZERO);
    let err = save_capture_via(&dir, 1, 1, &frame, write_to_dev_full).unwrap_err();
    match &err {
        SaveError::File { source, .. } => assert_eq!(source.raw_os_error(), Some(ENOSPC)),
        other => panic!("expected a file error, got {other:?}"),
    }
    assert!(err.to_string().contains("No space left"), "{err}");
    assert_eq!(
        files_in(&dir),
        Vec::<String>::new(),
        "no half-written photo"
    );
}

#[test]
fn unwritable_state_dir_does_not_stop_the_device() {
    // The state folder cannot be created (full or read-only disk): the configured gallery is
    // still used, only the last good copy is missing, and the log says so.
    let tmp = tempfile::tempdir().unwrap();
    let mut cfg = device_config(tmp.path());
    std::fs::write(tmp.path().join("blocked"), b"a file").unwrap();
    cfg.state_dir = tmp.path().join("blocked/state");
    let id = device_embedder_id();
    let good = make_gallery(6, "ref D", 2, 4, &id);
    good.save(&cfg.gallery).unwrap();
    logs::start();
    let choice = gestaltcam::setup::load_device_gallery(&cfg, Some(&id));
    assert!(choice.refused.is_none());
    assert_eq!(choice.gallery.unwrap().content_hash(), good.content_hash());
    let l = logs::from("gestaltcam::setup");
    assert!(
        l.iter().any(|(lv, m)| *lv == log::Level::Warn
            && m.starts_with("cannot keep a last good copy of the gallery")),
        "{l:?}"
    );
}

/// Always sees one ready face; answers with two candidates.
struct FakeAnalyzer;

impl Analyzer for FakeAnalyzer {
    fn preview(&mut self, _: &Frame) -> Result<FrameSummary, AnalyseError> {
        Ok(FrameSummary {
            face_count: 1,
            face_box: Some([0.3, 0.2, 0.7, 0.8]),
            face: None,
            issue: None,
        })
    }
    fn analyse(&mut self, photos: &[Photo]) -> Result<AnalysisOutcome, AnalyseError> {
        Ok(AnalysisOutcome::Candidates {
            candidates: (1..=2)
                .map(|rank| Candidate {
                    rank,
                    name: format!("Syndrome {rank}"),
                    omim: None,
                    genes: Vec::new(),
                    band: Band::Moderate,
                    similarity: 0.5,
                    nearest_case: format!("case-{rank}"),
                    evidence: None,
                })
                .collect(),
            basis: Basis {
                reference_cases: 10,
                syndromes: 2,
                photos: photos.len(),
                model_version: "m".into(),
                gallery_version: "g".into(),
                demo: true,
                phenotype: None,
            },
        })
    }
}

#[test]
fn failing_capture_save_keeps_the_session_running() {
    // Saving is enabled but the folder cannot be created (a file is in the way): every save
    // fails with a real OS error, as with a full disk (ENOSPC itself: the test above).
    let tmp = tempfile::tempdir().unwrap();
    let blocked = tmp.path().join("captures");
    std::fs::write(&blocked, b"not a folder").unwrap();
    logs::start();
    let ctx = AppContext {
        saving: true,
        ..ctx(2)
    };
    let cam =
        gestaltcam::camera::ReplayCamera::from_images(vec![RgbImage::new(16, 12)], 10.0).unwrap();
    let out = run(
        cam,
        FakeAnalyzer,
        &[(2, Capture), (4, Capture)],
        &ctx,
        &RunOptions {
            save_dir: Some(blocked.join("sub")),
            ..opts(7)
        },
    );
    assert_eq!(out.report.save_errors, 2);
    assert!(out.report.saved.is_empty());
    assert_eq!(out.report.analyses, 1);
    assert_eq!(out.report.final_mode, "results");
    let basis = basis_of(out.views.last().unwrap()).unwrap();
    assert_eq!(basis.photos, 2, "both photos analysed from RAM");
    let notices: Vec<&String> = out
        .notices
        .iter()
        .filter_map(|n| match n {
            Notice::Status(s) if s.contains("not saved") => Some(s),
            _ => None,
        })
        .collect();
    assert_eq!(notices.len(), 2, "{:?}", out.notices);
    assert!(
        notices[0].starts_with("photo 1 not saved: cannot create"),
        "{}",
        notices[0]
    );
    let warned = logs::from("gestaltcam::app::run");
    assert_eq!(
        warned
            .iter()
            .filter(|(l, m)| *l == log::Level::Warn && m.starts_with("saving photo"))
            .count(),
        2,
        "{warned:?}"
    );
}

/// Its detector fails on the first `failures` preview frames, then sees what
/// [`FakeAnalyzer`] sees.
struct FailingPreview {
    failures: usize,
}

impl Analyzer for FailingPreview {
    fn preview(&mut self, frame: &Frame) -> Result<FrameSummary, AnalyseError> {
        if self.failures == 0 {
            return FakeAnalyzer.preview(frame);
        }
        self.failures -= 1;
        Err(AnalyseError::ModelFailed {
            detail: "face detector failed: out of memory".into(),
        })
    }
    fn analyse(&mut self, photos: &[Photo]) -> Result<AnalysisOutcome, AnalyseError> {
        FakeAnalyzer.analyse(photos)
    }
}

#[test]
fn a_failing_preview_is_logged_and_shown_without_a_face() {
    // The detector fails on four preview frames: the loop gets each failure as an error,
    // counts it and warns once; the screen shows those frames as frames without a face (no
    // box, capture refused), and the preview is ready again when the detector works.
    use gestaltcam::ui::view::Guidance;
    logs::start();
    let cam =
        gestaltcam::camera::ReplayCamera::from_images(vec![RgbImage::new(16, 12)], 10.0).unwrap();
    let out = run(
        cam,
        FailingPreview { failures: 4 },
        &[(2, Capture)],
        &ctx(1),
        &opts(8),
    );
    assert_eq!(out.report.preview_errors, 4);
    assert_eq!(out.report.analyses, 0, "no photo taken while failing");
    assert_eq!(out.report.final_mode, "preview");
    let previews: Vec<(Option<[f32; 4]>, Guidance, bool)> = out
        .views
        .iter()
        .filter_map(|v| match v {
            View::Preview {
                face_box,
                guidance,
                not_taken,
                ..
            } => Some((*face_box, *guidance, *not_taken)),
            _ => None,
        })
        .collect();
    assert_eq!(
        previews,
        vec![
            (None, Guidance::NoFace, false),
            (None, Guidance::NoFace, true),
            (Some([0.3, 0.2, 0.7, 0.8]), Guidance::Ready, true),
        ],
        "{:?}",
        tags(&out.views)
    );
    let logged = logs::from("gestaltcam::app::run");
    let warned: Vec<&String> = logged
        .iter()
        .filter(|(l, _)| *l == log::Level::Warn)
        .map(|(_, m)| m)
        .collect();
    assert_eq!(
        warned,
        ["preview analysis failed: model failed: face detector failed: out of memory"],
        "{logged:?}"
    );
    assert!(
        logged
            .iter()
            .any(|(l, m)| *l == log::Level::Info && m == "preview analysis works again"),
        "{logged:?}"
    );
}

// ------------------------------------------------------------------ camera faults

enum Shot {
    Raw(PixelFormat, Vec<u8>),
    Gone,
}

/// A camera driven by a script of raw buffers, decoded as the V4L2 camera decodes them.
struct RawCamera {
    script: Vec<Shot>,
    good: Vec<u8>,
    n: usize,
    width: u32,
    height: u32,
}

impl Camera for RawCamera {
    fn frame(&mut self) -> Result<Frame, CameraError> {
        let i = self.n;
        self.n += 1;
        let (format, bytes) = match self.script.get(i) {
            Some(Shot::Gone) => return Err(CameraError::Disconnected("unplugged".into())),
            Some(Shot::Raw(f, b)) => (*f, b.as_slice()),
            None => (PixelFormat::Mjpeg, self.good.as_slice()),
        };
        let image = decode(format, bytes, self.width, self.height)?;
        Ok(Frame::new(
            image,
            i as u64,
            Duration::from_millis(100 * i as u64),
        ))
    }
}

fn real_device(tmp: &Path) -> (Config, gestaltcam::screening::PipelineAnalyzer) {
    let cfg = device_config(tmp);
    make_gallery(9, "ref R", 4, 12, &device_embedder_id())
        .save(&cfg.gallery)
        .unwrap();
    let a = analyzer_for(&cfg);
    assert!(a.pipeline().is_some() && a.gallery().is_some());
    (cfg, a)
}

/// A good camera frame: a real face photo at half size (cheaper to decode under qemu).
fn good_jpeg() -> Vec<u8> {
    let p = photo("obama2.jpg");
    let half = image::imageops::resize(
        &p,
        p.width() / 2,
        p.height() / 2,
        image::imageops::FilterType::Triangle,
    );
    jpeg(&half)
}

#[test]
#[cfg_attr(
    not(target_arch = "x86_64"),
    ignore = "loads the real models (a minute or more each under qemu-user): runs on the host"
)]
fn garbage_and_empty_frames_are_skipped_and_the_session_completes() {
    let tmp = tempfile::tempdir().unwrap();
    let (_, analyzer) = real_device(tmp.path());
    let (w, h) = (64u32, 48u32);
    let mut rng = Rng(42);
    let good = good_jpeg();
    let mjpeg = |b: &[u8]| Shot::Raw(PixelFormat::Mjpeg, b.to_vec());
    let yuyv = |b: Vec<u8>| Shot::Raw(PixelFormat::Yuyv, b);
    let mut random_mjpeg = b"garbage".to_vec();
    random_mjpeg.extend(rng.bytes(5000));
    let undecodable = |s: &Shot| match s {
        Shot::Raw(f, b) => decode(*f, b, w, h).is_err(),
        Shot::Gone => false,
    };
    let script = vec![
        // 0..6: before any good frame.
        mjpeg(&[]),
        mjpeg(&random_mjpeg),
        mjpeg(&good[..good.len() / 3]),
        yuyv(vec![]),
        yuyv(rng.bytes(100)),
        // Random bytes of exactly the right length decode: a noise picture, no face.
        yuyv(rng.bytes((w * h * 2) as usize)),
        // 6..9: good frames, capture 1 at 9.
        mjpeg(&good),
        mjpeg(&good),
        mjpeg(&good),
        // 9..13: garbage between photo 1 and 2.
        mjpeg(&[]),
        mjpeg(&random_mjpeg),
        yuyv(vec![]),
        mjpeg(&good[..100]),
        // Then good frames (the default); capture 2 at 16.
    ];
    let bad = script.iter().filter(|s| undecodable(s)).count() as u64;
    // Everything but the noise picture and the good frames: a JPEG cut short decodes with
    // grey rows unless the decoder insists on the end-of-image marker (it does).
    assert_eq!(bad, 9);
    let mut padded = good.clone();
    padded.extend([0u8; 64]); // cameras may pad after EOI
    assert!(decode(PixelFormat::Mjpeg, &padded, w, h).is_ok());
    let cam = RawCamera {
        script,
        good,
        n: 0,
        width: w,
        height: h,
    };
    let out = run(
        cam,
        analyzer,
        &[(9, Capture), (16, Capture)],
        &ctx(2),
        &opts(19),
    );
    let t = tags(&out.views);
    assert_eq!(out.report.camera_errors, bad, "{t:?}");
    assert!(
        out.views.iter().all(|v| !matches!(v, View::Error { .. })),
        "bad frames are not a lost camera: {t:?}"
    );
    let first_capture = t.iter().position(|s| s == "capture 1/2").unwrap();
    assert_eq!(
        t[first_capture..],
        [
            "capture 1/2",
            "preview 1/2",
            "capture 2/2",
            "analysing 2",
            "results"
        ],
        "{t:?}"
    );
    let basis = basis_of(out.views.last().unwrap()).unwrap();
    assert_eq!((basis.photos, basis.reference_cases), (2, 12));
    assert_eq!(out.report.frames, 19 - bad);
}

#[test]
#[cfg_attr(
    not(target_arch = "x86_64"),
    ignore = "loads the real models (a minute or more each under qemu-user): runs on the host"
)]
fn camera_lost_between_photos_keeps_the_session() {
    let tmp = tempfile::tempdir().unwrap();
    let (_, analyzer) = real_device(tmp.path());
    let good = good_jpeg();
    let mut script: Vec<Shot> = (0..4)
        .map(|_| Shot::Raw(PixelFormat::Mjpeg, good.clone()))
        .collect();
    script.extend((4..9).map(|_| Shot::Gone));
    let cam = RawCamera {
        script,
        good,
        n: 0,
        width: 640,
        height: 480,
    };
    let out = run(
        cam,
        analyzer,
        &[(3, Capture), (13, Capture)],
        &ctx(2),
        &opts(16),
    );
    let t = tags(&out.views);
    let lost = t.iter().position(|s| s == "error CameraMissing").unwrap();
    // Photo 1 was taken before the camera went; the preview after it says 1 of 2 is kept.
    assert_eq!(t[lost - 2..lost], ["capture 1/2", "preview 1/2"], "{t:?}");
    assert_eq!(
        t[lost..],
        [
            "error CameraMissing",
            "preview 1/2",
            "capture 2/2",
            "analysing 2",
            "results"
        ],
        "{t:?}"
    );
    let View::Error {
        technical: detail, ..
    } = &out.views[lost]
    else {
        unreachable!()
    };
    // The camera-missing screen: what to do comes from the kind, no technician line.
    assert!(matches!(
        &out.views[lost],
        View::Error {
            kind: ErrorKind::CameraMissing,
            ..
        }
    ));
    assert_eq!(detail, "");
    assert_eq!(basis_of(out.views.last().unwrap()).unwrap().photos, 2);
    assert_eq!(out.report.camera_errors, 5);
}

// ------------------------------------------------------------------ display bus

mod ssd1306_bus {
    use super::*;
    use embedded_hal_mock::eh1::i2c::Transaction as I2cTransaction;

    pub fn cmd(addr: u8, bytes: &[u8]) -> I2cTransaction {
        let mut v = vec![0x00];
        v.extend_from_slice(bytes);
        I2cTransaction::write(addr, v)
    }

    /// The SSD1306 initialisation (as `tests/it/display_bus.rs` spells it out).
    pub fn init(addr: u8) -> Vec<I2cTransaction> {
        [
            &[0xAE][..],
            &[0xD5, 0x80],
            &[0xA8, 0x3F],
            &[0xD3, 0x00],
            &[0x40],
            &[0x8D, 0x14],
            &[0x20, 0x00],
            &[0xDA, 0x12],
            &[0xA1],
            &[0xC8],
            &[0xD9, 0x21],
            &[0x81, 0x5F],
            &[0xDB, 0x40],
            &[0xA4],
            &[0xA6],
            &[0x2E],
            &[0xAF],
        ]
        .iter()
        .map(|c| cmd(addr, c))
        .collect()
    }

    fn gddram(fb: &MonoPngDisplay) -> Vec<u8> {
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

    /// A full-screen update showing `view`.
    pub fn frame(addr: u8, view: Option<&View>) -> Vec<I2cTransaction> {
        let mut mono = MonoPngDisplay::new(128, 64);
        if let Some(v) = view {
            ui::draw(v, &Layout::new(Size::new(128, 64)), &mut mono).unwrap();
        }
        let ram = gddram(&mono);
        let mut t = vec![cmd(addr, &[0x21, 0, 127]), cmd(addr, &[0x22, 0, 7])];
        for chunk in ram.chunks(16) {
            let mut v = vec![0x40];
            v.extend_from_slice(chunk);
            t.push(I2cTransaction::write(addr, v));
        }
        t
    }

    /// A frame whose first write fails on the bus (NAK, arbitration loss, ...).
    pub fn failing(addr: u8) -> I2cTransaction {
        cmd(addr, &[0x21, 0, 127]).with_error(embedded_hal::i2c::ErrorKind::Other)
    }
}

#[test]
fn display_i2c_errors_are_logged_once_and_the_view_is_redrawn() {
    use embedded_hal_mock::eh1::i2c::Mock as I2cMock;
    use ssd1306_bus::{failing, frame, init};
    logs::start();
    let a = 0x3C;
    let v1 = View::Analysing { photos: 1 };
    let v2 = View::Analysing { photos: 2 };
    let v3 = View::Error {
        kind: ErrorKind::CameraMissing,
        technical: String::new(),
    };
    let v4 = View::Blank;
    let mut expected = init(a);
    expected.extend(frame(a, None)); // blanking at start
    expected.extend(frame(a, Some(&v1)));
    expected.push(failing(a)); // v2
    expected.push(failing(a)); // v3
    expected.push(failing(a)); // v3, first retry
    expected.extend(frame(a, Some(&v3))); // v3, second retry: the bus is back
    expected.extend(frame(a, Some(&v4)));
    expected.push(failing(a)); // a second outage
    let mut i2c = I2cMock::new(&expected);
    let panel = Ssd1306Panel::new(i2c.clone(), &PanelConfig::ssd1306_128x64()).unwrap();
    let mut sink = PanelSink::new(Box::new(panel));

    sink.show(&v1);
    assert!(!sink.is_failing());
    sink.show(&v2);
    sink.show(&v3);
    assert!(sink.is_failing());
    assert_eq!((sink.failed_draws(), sink.outages()), (2, 1));
    for _ in 0..PANEL_RETRY_EVERY {
        sink.idle();
    }
    assert_eq!(sink.failed_draws(), 3);
    for _ in 0..PANEL_RETRY_EVERY {
        sink.idle();
    }
    assert!(
        !sink.is_failing(),
        "the retry drew the view once the bus was back"
    );
    for _ in 0..3 * PANEL_RETRY_EVERY {
        sink.idle(); // nothing pending: no bus traffic
    }
    sink.show(&v4);
    sink.show(&View::Analysing { photos: 3 });
    assert_eq!((sink.failed_draws(), sink.outages()), (4, 2));
    drop(sink);
    i2c.done();

    let l = logs::from("gestaltcam::display::sink");
    let errors: Vec<_> = l
        .iter()
        .filter(|(lv, _)| *lv == log::Level::Error)
        .collect();
    assert_eq!(errors.len(), 2, "one line per outage, not per frame: {l:?}");
    assert!(
        errors[0].1.starts_with("display SSD1306 128x64:"),
        "{}",
        errors[0].1
    );
    assert!(l
        .iter()
        .any(|(lv, m)| *lv == log::Level::Info
            && m == "display: working again after 3 failed draw(s)"));
}

/// An SPI bus that fails every transaction while `down` is set, and records what it sends.
#[derive(Clone, Default)]
struct FlakySpi {
    down: Rc<Cell<bool>>,
    sent: Rc<RefCell<Vec<u8>>>,
}

impl embedded_hal::spi::ErrorType for FlakySpi {
    type Error = embedded_hal::spi::ErrorKind;
}

impl embedded_hal::spi::SpiDevice for FlakySpi {
    fn transaction(
        &mut self,
        ops: &mut [embedded_hal::spi::Operation<'_, u8>],
    ) -> Result<(), Self::Error> {
        if self.down.get() {
            return Err(embedded_hal::spi::ErrorKind::Other);
        }
        for op in ops {
            if let embedded_hal::spi::Operation::Write(b) = op {
                self.sent.borrow_mut().extend_from_slice(b);
            }
        }
        Ok(())
    }
}

struct NopPin;
impl embedded_hal::digital::ErrorType for NopPin {
    type Error = std::convert::Infallible;
}
impl embedded_hal::digital::OutputPin for NopPin {
    fn set_low(&mut self) -> Result<(), Self::Error> {
        Ok(())
    }
    fn set_high(&mut self) -> Result<(), Self::Error> {
        Ok(())
    }
}

struct NoDelay;
impl embedded_hal::delay::DelayNs for NoDelay {
    fn delay_ns(&mut self, _: u32) {}
}

/// Takes the SPI bus down while the camera delivers frames `down`.
struct BusCutter {
    inner: gestaltcam::camera::ReplayCamera,
    n: u64,
    down: std::ops::Range<u64>,
    bus: Rc<Cell<bool>>,
}

impl Camera for BusCutter {
    fn frame(&mut self) -> Result<Frame, CameraError> {
        self.bus.set(self.down.contains(&self.n));
        self.n += 1;
        self.inner.frame()
    }
}

struct Recording {
    sink: PanelSink,
    views: Vec<View>,
}

impl ViewSink for Recording {
    fn show(&mut self, view: &View) {
        self.views.push(view.clone());
        self.sink.show(view);
    }
    fn idle(&mut self) {
        self.sink.idle();
    }
}

#[test]
fn display_spi_outage_does_not_stop_the_device() {
    logs::start();
    let ctx = ctx(2);
    let script = [(3, Capture), (6, Capture)];
    let device = |down: std::ops::Range<u64>| {
        let spi = FlakySpi::default();
        let panel = St7789Panel::new(
            spi.clone(),
            NopPin,
            NopPin,
            &mut NoDelay,
            &PanelConfig::st7789_240x240(),
        )
        .unwrap();
        let mut dev = Device {
            camera: BusCutter {
                inner: gestaltcam::camera::ReplayCamera::from_images(
                    vec![RgbImage::new(16, 12)],
                    10.0,
                )
                .unwrap(),
                n: 0,
                down,
                bus: spi.down.clone(),
            },
            buttons: ScriptedButtons::at_frames(script),
            clock: ManualClock::new(),
            analyzer: FakeAnalyzer,
            display: Recording {
                sink: PanelSink::new(Box::new(panel)),
                views: Vec::new(),
            },
            notifier: gestaltcam::app::NullNotifier,
        };
        let report = run_device(&mut dev, &ctx, &opts(30));
        (report, dev.display, spi)
    };
    let (clean, clean_sink, _) = device(0..0);
    assert_eq!(clean_sink.sink.failed_draws(), 0);
    // The bus fails from the second capture through the analysis and the results.
    let (report, rec, spi) = device(5..12);
    assert_eq!(
        report, clean,
        "the device did exactly the same with a failing display"
    );
    assert_eq!(report.final_mode, "results");
    assert_eq!(report.analyses, 1);
    assert_eq!(tags(&rec.views), tags(&clean_sink.views));
    assert!(rec.sink.failed_draws() >= 3, "{}", rec.sink.failed_draws());
    assert_eq!(rec.sink.outages(), 1);
    assert!(!rec.sink.is_failing());
    // The glass shows the results: the last frame sent is the results screen, in full.
    let last = rec.views.last().unwrap();
    assert_eq!(tag(last), "results");
    let mut fb = PngDisplay::new(240, 240);
    ui::draw(last, &Layout::new(Size::new(240, 240)), &mut fb).unwrap();
    let want: Vec<u8> = fb.pixels().iter().flat_map(|p| p.to_be_bytes()).collect();
    let sent = spi.sent.borrow();
    assert_eq!(&sent[sent.len() - want.len()..], want.as_slice());
    let errors = logs::from("gestaltcam::display::sink")
        .into_iter()
        .filter(|(l, _)| *l == log::Level::Error)
        .count();
    assert_eq!(errors, 1, "one outage, one log line");
}

// ------------------------------------------------------------------ configuration

#[test]
fn config_wrong_types_name_key_and_line() {
    let cases: &[(&str, &str, usize)] = &[
        ("top_k = \"ten\"\n", "`top_k`", 1),
        ("top_k = 4\n\n[camera]\nfps = 1.5\n", "`camera.fps`", 4),
        ("[saving]\nenabled = \"yes\"\n", "`saving.enabled`", 2),
        ("state_dir = 5\n", "`state_dir`", 1),
        ("[buttons]\ncapture_pin = -3\n", "`buttons.capture_pin`", 2),
        ("flip_tta = 1\n", "`flip_tta`", 1),
        ("[display]\ni2c_address = 300\n", "`display.i2c_address`", 2),
        // With an unknown key elsewhere the line still points into the original file.
        (
            "colour = 1\n[camera]\nwidth = \"wide\"\n",
            "`camera.width`",
            3,
        ),
    ];
    for (text, key, line) in cases {
        match Config::parse(text) {
            Err(e @ ConfigError::Parse { .. }) => {
                let shown = e.to_string();
                assert!(
                    shown.starts_with(&format!("config line {line}: {key}: ")),
                    "{text:?} -> {shown}"
                );
            }
            other => panic!("{text:?}: expected a parse error, got {other:?}"),
        }
    }
}

#[test]
fn config_unknown_keys_are_warnings_and_ignored() {
    // A typo must not silently switch a safety-relevant default: `enabeld` leaves saving off.
    let text = "top_k = 5\nstate_dri = \"/tmp/x\"\n[saving]\nenabeld = true\n";
    let loaded = Config::parse(text).unwrap();
    assert_eq!(loaded.config.top_k, 5);
    assert!(!loaded.config.saving.enabled);
    assert_eq!(loaded.config.state_dir, Config::default().state_dir);
    let w: Vec<String> = loaded.warnings.iter().map(|w| w.to_string()).collect();
    assert_eq!(
        w,
        [
            "line 2: unknown config key `state_dri` (ignored)",
            "line 4: unknown config key `saving.enabeld` (ignored)"
        ]
    );
}

#[test]
fn config_bad_values_are_refused() {
    for (text, key) in [
        ("state_dir = \"\"\n", "state_dir"),
        (
            "state_dir = \"/var/lib/x\"\n[saving]\ndirectory = \"/var/lib/x\"\n",
            "state_dir",
        ),
        ("photos_per_patient = 11\n", "photos_per_patient"),
        ("[camera]\nwidth = 641\n", "camera.width"),
        ("log_level = \"loud\"\n", "log_level"),
    ] {
        match Config::parse(text) {
            Err(ConfigError::Invalid { key: k, reason }) => {
                assert_eq!(k, key, "{text:?}");
                assert!(!reason.is_empty());
            }
            other => panic!("{text:?}: expected Invalid, got {other:?}"),
        }
    }
    // The shipped default configuration is valid and names the default state folder.
    let text = std::fs::read_to_string(repo().join("board/default-config.toml")).unwrap();
    assert!(text.contains("# state_dir = \"/var/lib/gestaltcam\""));
    assert_eq!(Config::parse(&text).unwrap().config, Config::default());
}

/// Missing or malformed HPO files: the device keeps working face-only and the start screen
/// warns (a "Questions" warning line holds it until a button is pressed).
#[test]
fn missing_or_malformed_hpo_data_is_a_start_screen_warning() {
    use gestaltcam::screening::{Phenotype, PipelineAnalyzer};
    let tmp = tempfile::tempdir().unwrap();
    let broken = tmp.path().join("broken");
    std::fs::create_dir_all(&broken).unwrap();
    std::fs::write(broken.join("hp.obo"), b"\xff\xfe not an ontology").unwrap();
    std::fs::write(
        broken.join("phenotype.hpoa"),
        b"#version: x\nnot\ta\ttable\n",
    )
    .unwrap();
    for dir in [tmp.path().join("missing"), broken] {
        let mut a = PipelineAnalyzer::new(Err("no model".into()), Err("no gallery".into()));
        a.phenotype = Some(Phenotype::load(&dir).map_err(|e| e.to_string()));
        let checks = a.self_test();
        let q = check(&checks, "Questions");
        assert_eq!(q.state, CheckState::Warning, "{}: {q:?}", dir.display());
        assert!(q.detail.starts_with("face only: "), "{q:?}");
        // Without the analysis, a refinement is refused, not a panic.
        assert_eq!(a.refine(&[]), Refined::Unavailable);
    }
    // Not configured: no line at all.
    let mut a = PipelineAnalyzer::new(Err("no model".into()), Err("no gallery".into()));
    assert!(a.self_test().iter().all(|c| c.name != "Questions"));
}
