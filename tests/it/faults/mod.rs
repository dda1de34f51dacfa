//! Fault injection (issue 6): each fault the device must survive, injected into the real
//! library code (real gallery files in temp folders, the real models in `models/`, the real
//! run loop), asserting what the clinician sees (the views) and what is left on disk. One
//! submodule per fault area; the helpers they share (the replay camera, the run, the view tags,
//! the log capture) are here.
//!
//! | issue bullet | tests here | also covered by |
//! |---|---|---|
//! | camera disappears mid-capture and returns | `camera::camera_lost_between_photos_keeps_the_session` | `tests/it/app.rs` `camera_unplugged_mid_session_then_replugged_continues`, `camera_missing_at_start_shows_error_then_resumes`; `tests/it/camera.rs` `reconnecting_reopens_with_backoff_on_the_clock` |
//! | camera gives garbage or zero-length frames | `camera::garbage_and_empty_frames_are_skipped_and_the_session_completes` | `tests/it/camera.rs` `bad_frames_are_typed_errors` |
//! | display bus errors | `display::display_i2c_errors_are_logged_once_and_the_view_is_redrawn` (embedded-hal-mock), `display::display_spi_outage_does_not_stop_the_device` | `tests/it/display_bus.rs` (the bus protocol itself) |
//! | model file corrupted on disk / hash ≠ manifest | `models::tampered_model_is_refused_with_a_screen` | `tests/it/embed_golden.rs` `tampered_model_is_refused` |
//! | gallery corrupted on disk: clear screen, last good gallery kept | `gallery_on_disk::corrupt_gallery_uses_the_last_good_copy_with_a_warning_screen`, `gallery_on_disk::every_refusal_falls_back_to_the_last_good_copy`, `gallery_on_disk::refused_gallery_without_last_good_copy_is_an_error_screen` | `tests/it/gallery.rs` `truncated_files_give_typed_errors_never_panic`, `garbage_with_valid_hash_never_panics`, `flipped_byte_is_a_hash_error`, `other_embedder_is_refused_naming_both_ids` |
//! | tampered or unsigned gallery with a public key is refused, with a screen | `gallery_on_disk::signed_gallery_tampered_or_unsigned_is_refused` | `tests/it/gallery.rs` `signatures` |
//! | power cut during a gallery write | `power_cut::power_cut_during_gallery_write_leaves_old_or_new` (SIGKILLed child writer, seeded, 200 rounds) | `tests/it/gallery.rs` `interrupted_write_leaves_the_old_gallery` (failing writer) |
//! | disk full | `disk_full::disk_full_gallery_write_keeps_the_old_gallery`, `disk_full::disk_full_capture_leaves_no_partial_file` (real ENOSPC from `/dev/full`), `disk_full::failing_capture_save_keeps_the_session_running`, `gallery_on_disk::unwritable_state_dir_does_not_stop_the_device` | |
//! | the detector fails on preview frames | `models::a_failing_preview_is_logged_and_shown_without_a_face` | `src/screening.rs` and `src/app/run/worker.rs` unit tests |
//! | config with wrong types or unknown keys | `config::config_wrong_types_name_key_and_line`, `config::config_unknown_keys_are_warnings_and_ignored`, `config::config_bad_values_are_refused` | `src/config.rs` unit tests |
//! | HPO files missing or malformed | `models::missing_or_malformed_hpo_data_is_a_start_screen_warning` | `tests/it/hpo_sim.rs` |
//!
//! A power cut is simulated with SIGKILL: it proves the writer never exposes a partial file
//! (temp file + rename). That the data also survives losing the page cache rests on the fsyncs
//! in `gallery::write_atomic_via` (file, then folder after the rename), read in the code.

mod camera;
mod config;
mod disk_full;
mod display;
mod gallery_on_disk;
mod models;
mod power_cut;

use std::cell::{Cell, RefCell};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::Duration;

use crate::common;
use embedded_graphics::{pixelcolor::raw::ToBytes, prelude::*};

use common::{make_gallery, Notices, Rng, Screen};
use gestaltcam::analysis::{
    AnalyseError, AnalysisOutcome, Analyzer, Capture as Photo, FrameSummary, Refined,
};
use gestaltcam::app::{
    run_device, AppContext, ButtonEvent, Device, Notice, RunOptions, RunReport, ScriptedButtons,
    ViewSink,
};
use gestaltcam::camera::{
    decode, Camera, CameraError, Frame, ManualClock, PixelFormat, ReplayCamera,
};
use gestaltcam::config::{Config, ConfigError};
use gestaltcam::display::{MonoPngDisplay, PanelConfig, PngDisplay, Ssd1306Panel, St7789Panel};
use gestaltcam::gallery::{self, Gallery, GalleryError, LoadOptions};
use gestaltcam::manifest::{Manifest, Role};
use gestaltcam::setup::{analyzer_for, LastGood, PanelSink, PANEL_RETRY_EVERY};
use gestaltcam::ui::view::{Band, Basis, Candidate, CheckState, ErrorKind, SelfCheck, View};
use gestaltcam::ui::{self, Layout};
use image::RgbImage;

use ButtonEvent::Capture;

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

/// The checkout (models, fixtures, board files).
fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The committed models the device ships.
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

/// A committed test photo from `tests/fixtures/photos`.
fn photo(name: &str) -> RgbImage {
    image::open(repo().join("tests/fixtures/photos").join(name))
        .unwrap()
        .to_rgb8()
}

/// `img` as a quality-90 JPEG, as a camera sends an MJPEG frame.
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
        View::Notice { .. } => "notice".into(),
    }
}

/// The default session settings with `photos` per patient and a ten-minute idle timeout.
fn ctx(photos: usize) -> AppContext {
    AppContext {
        photos_wanted: photos,
        idle_timeout: Duration::from_secs(600),
        ..AppContext::default()
    }
}

/// [`common::opts`], with a camera counted lost after three timeouts (as the device runs).
fn opts(iterations: u64) -> RunOptions {
    RunOptions {
        timeouts_as_lost: 3,
        ..common::opts(iterations)
    }
}

/// What a run showed, notified and reported (and the analyzer, for tests that inspect it).
struct Run<A> {
    views: Vec<View>,
    notices: Vec<Notice>,
    report: RunReport,
    #[allow(dead_code)]
    analyzer: A,
}

/// Runs the device loop with `camera`, `analyzer` and the button `script` (frame, button).
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

/// [`tag`] of every view.
fn tags(views: &[View]) -> Vec<String> {
    views.iter().map(tag).collect()
}

/// The basis line of a results or no-match screen.
fn basis_of(v: &View) -> Option<&Basis> {
    match v {
        View::Results { basis, .. } | View::NoCloseMatch { basis } => Some(basis),
        _ => None,
    }
}

/// The start-up check called `name`.
fn check<'a>(checks: &'a [SelfCheck], name: &str) -> &'a SelfCheck {
    checks
        .iter()
        .find(|c| c.name == name)
        .unwrap_or_else(|| panic!("no {name} line in {checks:?}"))
}

/// The names in `dir` (not recursive), sorted; none when it does not exist.
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

/// The replay camera the faults run with: one still picture, replayed at 10 frames a second.
fn replay(picture: RgbImage) -> ReplayCamera {
    ReplayCamera::from_images(vec![picture], 10.0).unwrap()
}

/// [`replay`] of the committed face photo `obama2.jpg`.
fn face_camera() -> ReplayCamera {
    replay(photo("obama2.jpg"))
}

/// The technician's line of an error screen (panics on any other view).
fn error_detail(v: &View) -> &str {
    match v {
        View::Error { technical, .. } => technical,
        other => panic!("not an error screen: {other:?}"),
    }
}

/// Always sees one ready face; answers with two candidates.
struct FakeAnalyzer;

impl Analyzer for FakeAnalyzer {
    fn preview(&mut self, _: &Frame) -> Result<FrameSummary, AnalyseError> {
        Ok(common::ready_face())
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
