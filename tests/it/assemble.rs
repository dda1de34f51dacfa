//! The device as `gestaltcam run` builds it (`setup::assemble` from a `Config`), run in-process:
//! the real models, a verified gallery, the `png` panel in a temp folder, the demo's photos
//! replayed as the camera, keys or scripted buttons. The tests look at what reached the PNG
//! file and the folder: the start-up and preview screens, a whole session, the blank screen at
//! the end, that no photo or embedding is written anywhere, and the per-day counters a
//! scripted session leaves in the state folder.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::mpsc::{channel, Receiver, Sender};

use crate::common::{assert_no_patient_data, make_gallery};
use gestaltcam::app::{ButtonEvent, ScriptedButtons};
use gestaltcam::config::{Config, PanelKind};
use gestaltcam::counters::{key, report, store, DeviceKey, Report};
use gestaltcam::manifest::Manifest;
use gestaltcam::setup::{assemble, Assembled, SetupError, Wiring};

/// The embedder the tests' galleries are made for (the int8 model every CPU runs).
const EMBEDDER: &str = "dlib-resnet-v1-int8";

fn checkout(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

/// A device configuration in `dir`: the checkout's models, a two-syndrome gallery made for
/// [`EMBEDDER`], the `png` panel writing `dir/screen.png`, the demo's two photos replayed at
/// 50 fps, keyboard buttons, one photo per patient, saving off (the default).
pub(crate) fn config(dir: &Path) -> Config {
    let models = checkout("models");
    let id = Manifest::load_dir(&models)
        .unwrap()
        .model(EMBEDDER)
        .unwrap()
        .embedder_id();
    let gallery = dir.join("gallery.gmg");
    make_gallery(7, "assemble test", 2, 4, &id)
        .save(&gallery)
        .unwrap();
    let mut cfg = Config {
        models_dir: models,
        embedder: EMBEDDER.into(),
        gallery,
        state_dir: dir.join("state"),
        flip_tta: false,
        photos_per_patient: 1,
        // The tests' default: tract's single-threaded executor, shared by every test.
        inference_threads: 1,
        ..Config::default()
    };
    cfg.display.panel = PanelKind::Png;
    cfg.display.png_path = dir.join("screen.png");
    cfg.camera.replay = Some(checkout("demo/patient.txt"));
    cfg.camera.fps = 50;
    assert!(cfg.keyboard_buttons() && !cfg.saving.enabled);
    cfg
}

/// Keys typed by the test: each line sent is read as typed; dropping the sender closes them
/// (stdin's end of file).
struct TypedKeys(Receiver<Vec<u8>>);

impl std::io::Read for TypedKeys {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let Ok(line) = self.0.recv() else {
            return Ok(0);
        };
        let n = line.len().min(buf.len());
        buf[..n].copy_from_slice(&line[..n]);
        Ok(n)
    }
}

/// The device assembled from `cfg`, stopped after `iterations`, with keys that stay open as
/// long as the returned sender lives (closed keys end a replayed session).
pub(crate) fn device(cfg: &Config, iterations: u64) -> (Assembled, Sender<Vec<u8>>) {
    device_wired(cfg, iterations, |_| {})
}

/// [`device`], with `wire` changing the wiring first (a test's wall clock, say).
pub(crate) fn device_wired(
    cfg: &Config,
    iterations: u64,
    wire: impl FnOnce(&mut Wiring),
) -> (Assembled, Sender<Vec<u8>>) {
    let (keys, rx) = channel();
    let mut wiring = Wiring::with_keys(TypedKeys(rx));
    wire(&mut wiring);
    let mut dev = assemble(cfg, wiring).expect("assembles");
    dev.opts.max_iterations = Some(iterations);
    (dev, keys)
}

/// The screen file's pixels and how many distinct colours they hold.
fn screen(path: &Path) -> (image::RgbImage, usize) {
    let img = image::open(path).expect("the screen PNG").to_rgb8();
    let colours: HashSet<[u8; 3]> = img.pixels().map(|p| p.0).collect();
    (img, colours.len())
}

/// Every file under `dir`, relative to it.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                todo.push(p);
            } else {
                out.push(p.strip_prefix(dir).unwrap().to_path_buf());
            }
        }
    }
    out.sort();
    out
}

/// Only what the configuration itself names may be in `dir`: the test's gallery, the screen
/// and, in the state folder, the last good copy of the gallery, the clock's last trusted time, the device key and
/// the counters (which name no photo, label or candidate). No photo, crop or embedding.
fn assert_nothing_of_the_patient_written(dir: &Path) {
    for f in files_under(dir) {
        let in_state = |n: &str| n.starts_with("last-good") || STATE_FILES.contains(&n);
        let expected = f == Path::new("gallery.gmg")
            || f == Path::new("screen.png")
            || f == Path::new("state").join(gestaltcam::clock::store::FILE)
            || f.starts_with("state")
                && f.file_name().and_then(|n| n.to_str()).is_some_and(in_state);
        assert!(expected, "unexpected file {f:?} under the device's folder");
    }
    let counters = dir.join("state").join(store::COUNTERS_FILE);
    if let Ok(text) = std::fs::read_to_string(&counters) {
        assert_no_patient_data("counters", &text, PATIENT_WORDS);
    }
}

/// The device's own files in its state folder besides the last good gallery.
const STATE_FILES: [&str; 3] = [store::COUNTERS_FILE, key::SECRET_FILE, key::PUBLIC_FILE];

/// Words that would come from a patient or the ranking: the replayed photos' names, the
/// gallery's labels and cases.
const PATIENT_WORDS: &[&str] = &["obama", "syndrome 0", "syndrome 1", "case-", "subject-"];

/// Start-up, then the preview: both reach the PNG panel, and the preview shows guidance only,
/// never the camera picture (a `png` panel is a file: no patient picture may reach a disk).
#[test]
fn the_assembled_device_starts_then_previews_on_its_png_panel() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = config(tmp.path());
    let (mut dev, _keys) = device(&cfg, 0);
    let started = dev.run();
    assert_eq!(started.final_mode, "starting", "{started:?}");
    assert!(started.views_shown >= 1, "{started:?}");
    let (start_screen, start_colours) = screen(&cfg.display.png_path);
    assert_eq!(start_screen.dimensions(), (240, 240));
    assert!(start_colours > 1, "the start-up screen has text on it");

    dev.opts.max_iterations = Some(12);
    let previewed = dev.run();
    assert_eq!(previewed.final_mode, "preview", "{previewed:?}");
    assert!(previewed.frames >= 10, "{previewed:?}");
    let (preview_screen, preview_colours) = screen(&cfg.display.png_path);
    assert_ne!(
        preview_screen, start_screen,
        "the preview replaced the start-up screen"
    );
    assert!(
        (2..=32).contains(&preview_colours),
        "{preview_colours} colours: the preview PNG looks like a photo"
    );
    assert_nothing_of_the_patient_written(tmp.path());
}

/// A whole session through the real wiring: captured, analysed and ranked, with nothing of the
/// patient written (saving is off by default).
#[test]
fn a_session_is_analysed_and_leaves_no_photo_or_embedding() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = config(tmp.path());
    let (mut dev, _keys) = device(&cfg, 24);
    // The clinician of the laptop demo: capture once the preview has run a few frames.
    dev.device.buttons = Box::new(ScriptedButtons::at_frames([(4, ButtonEvent::Capture)]));
    let report = dev.run();
    assert_eq!(report.analyses, 1, "{report:?}");
    assert_eq!(report.final_mode, "results", "{report:?}");
    assert!(
        report.saved.is_empty() && report.save_errors == 0,
        "{report:?}"
    );
    let (_, colours) = screen(&cfg.display.png_path);
    assert!(colours > 1, "the results screen has text on it");
    assert_nothing_of_the_patient_written(tmp.path());
}

/// Keys for a replayed session: when they end (stdin closed), the device stops by itself and
/// leaves the panel blank.
#[test]
fn closed_keys_end_a_replayed_session_on_a_blank_screen() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = config(tmp.path());
    let (mut dev, keys) = device(&cfg, 10_000);
    let shutdown = dev.opts.shutdown.clone().expect("a stop flag");
    keys.send(b"n\n".to_vec()).unwrap();
    drop(keys);
    // 10 000 iterations are a safety net only: the closed keys stop the device long before.
    let report = dev.run();
    assert!(shutdown.load(Ordering::SeqCst), "{report:?}");
    assert!(report.iterations < 10_000, "{report:?}");
    let (blank, colours) = screen(&cfg.display.png_path);
    assert_eq!(colours, 1);
    assert_eq!(blank.get_pixel(0, 0).0, [0, 0, 0]);
    assert_nothing_of_the_patient_written(tmp.path());
}

/// A replay list that is not there is refused at assembly, naming the setting.
#[test]
fn a_missing_replay_list_is_a_typed_error() {
    let tmp = tempfile::tempdir().unwrap();
    let mut cfg = config(tmp.path());
    cfg.camera.replay = Some(tmp.path().join("no-such-list.txt"));
    let err = match assemble(&cfg, Wiring::with_keys(std::io::empty())) {
        Ok(_) => panic!("assembled without its replay list"),
        Err(e) => e,
    };
    assert!(matches!(&err, SetupError::Replay { .. }), "{err:?}");
    assert!(err.to_string().starts_with("[camera] replay = "), "{err}");
    assert!(!cfg.display.png_path.exists(), "nothing was shown");
}

/// A gallery that is refused (and no last good copy) stops the device on its error screen,
/// drawn to the panel.
#[test]
fn a_refused_gallery_stops_on_the_error_screen() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = config(tmp.path());
    std::fs::write(&cfg.gallery, b"not a gallery").unwrap();
    let (mut dev, _keys) = device(&cfg, 5);
    let report = dev.run();
    assert_eq!(report.final_mode, "fatal error", "{report:?}");
    let (_, colours) = screen(&cfg.display.png_path);
    assert!(colours > 1, "the error screen has text on it");
}

/// A scripted day at the device through the real wiring: a capture pressed while the camera
/// shows no face (not taken), then a photo taken and analysed. The state folder's counters
/// have exactly that on the day the device was given, and the signed report made from them
/// verifies with the device's public key and holds no patient data.
#[test]
fn a_scripted_session_is_counted_on_its_day_and_reported() {
    let tmp = tempfile::tempdir().unwrap();
    let mut cfg = config(tmp.path());
    // Three frames without a face (a plain grey card), then the demo's two photos; the list
    // outside the device's folder.
    let camera = tempfile::tempdir().unwrap();
    let grey = camera.path().join("grey.png");
    image::RgbImage::from_pixel(320, 240, image::Rgb([128, 128, 128]))
        .save(&grey)
        .unwrap();
    let list = camera.path().join("replay.txt");
    let photos = checkout("tests/fixtures/photos");
    std::fs::write(
        &list,
        format!(
            "grey.png\ngrey.png\ngrey.png\n{0}/obama2.jpg\n{0}/obama3.jpg\n",
            photos.display()
        ),
    )
    .unwrap();
    cfg.camera.replay = Some(list);
    let (keys, rx) = channel::<Vec<u8>>();
    let mut wiring = Wiring::with_keys(TypedKeys(rx));
    wiring.today = Some(Box::new(|| Some("2026-12-07".to_string())));
    let mut dev = assemble(&cfg, wiring).expect("assembles");
    dev.opts.max_iterations = Some(30);
    dev.device.buttons = Box::new(ScriptedButtons::at_frames([
        (2, ButtonEvent::Capture),
        (5, ButtonEvent::Capture),
    ]));
    let run = dev.run();
    drop(keys);
    assert_eq!(
        (run.analyses, run.final_mode.as_str()),
        (1, "results"),
        "{run:?}"
    );

    let state = cfg.state_dir.clone();
    let counters = store::read(&store::counters_path(&state)).unwrap();
    let days: Vec<&String> = counters.days.keys().collect();
    assert_eq!(days, ["2026-12-07"], "one dated day, nothing undated");
    let day = &counters.days["2026-12-07"];
    assert_eq!((day.starts, day.clean_stops, day.unclean_stops), (1, 1, 0));
    assert_eq!((day.sessions, day.photos), (1, 1));
    assert_eq!(
        day.not_taken.iter().collect::<Vec<_>>(),
        [(&"no_face".to_string(), &1)]
    );
    assert!(day.retakes.is_empty() && day.errors.is_empty(), "{day:?}");
    assert_eq!(day.results_close_match + day.results_no_close_match, 1);
    assert_eq!(day.versions["gallery"].len(), 1, "{day:?}");
    assert!(
        day.versions["model"].iter().any(|m| m.contains("dlib")),
        "{day:?}"
    );
    assert!(day.versions["software"].contains(env!("CARGO_PKG_VERSION")));
    assert!(!counters.running, "stopped in order");
    assert_nothing_of_the_patient_written(tmp.path());

    let key = DeviceKey::load(&state).unwrap();
    assert_eq!(dev.device_id, Some(key.device_id()));
    let out = tmp.path().join("report.json");
    let r = Report::new(&counters, &key, "test", Some("2026-12-07"));
    report::write_signed(&r, &key, &out).unwrap();
    let public = gestaltcam::gallery::sign::read_verifying_key(&state.join(key::PUBLIC_FILE));
    let verified = report::verify(&out, &public.unwrap()).unwrap();
    assert_eq!(verified.days[0].counts, *day);
    let text = std::fs::read_to_string(&out).unwrap();
    assert_no_patient_data("report", &text, PATIENT_WORDS);
}

/// A state folder that cannot be made (a read-only or full disk): no key and no counts, and
/// the device screens as before.
#[test]
fn an_unwritable_state_folder_does_not_stop_the_device() {
    let tmp = tempfile::tempdir().unwrap();
    let mut cfg = config(tmp.path());
    std::fs::write(tmp.path().join("blocked"), b"a file").unwrap();
    cfg.state_dir = tmp.path().join("blocked/state");
    let (mut dev, _keys) = device(&cfg, 24);
    assert!(dev.opts.counters.is_none(), "nothing to count into");
    assert_eq!(dev.device_id, None);
    dev.device.buttons = Box::new(ScriptedButtons::at_frames([(4, ButtonEvent::Capture)]));
    let report = dev.run();
    assert_eq!(
        (report.analyses, report.final_mode.as_str()),
        (1, "results")
    );
    assert!(DeviceKey::load(&cfg.state_dir).is_err());
}
