//! `gestaltcam report` end to end: the device's counters (as the running device leaves them in
//! its state folder) → a report signed by the device key → checked with the public key a
//! programme registered; a changed byte fails, a device without a key writes nothing. And what
//! the run loop itself counts (start, stop, uptime, runs of failures).

use std::path::Path;
use std::time::Duration;

use crate::common::{assert_no_patient_data, run_gestaltcam};
use gestaltcam::counters::{key, store, DeviceKey, Happening, Recorder, Tally, Versions};
use gestaltcam::vision::quality::Issue;

/// A device configuration naming only its state folder (the report needs nothing else).
fn config(dir: &Path, state: &Path) -> String {
    let path = dir.join("config.toml");
    std::fs::write(&path, format!("state_dir = \"{}\"\n", state.display())).unwrap();
    path.to_str().unwrap().to_string()
}

/// A day at the device, counted as the run loop counts it.
fn a_day_of_use(state: &Path) {
    let today = Box::new(|| Some("2026-12-07".to_string()));
    let mut r = Recorder::open(state, "0.1.0", today).unwrap();
    let s = Duration::from_secs;
    r.start(s(0));
    r.count(&Happening::NotTaken(Some(Issue::TooDark)), s(10));
    r.count(&Happening::Session { photos: 2 }, s(20));
    let versions = Versions {
        model: "dlib-resnet-v1-int8".into(),
        gallery: "GMDB 2026-06".into(),
        hpo: None,
    };
    r.count(
        &Happening::Result {
            close_match: false,
            versions,
        },
        s(30),
    );
    r.stop(s(3600));
}

#[test]
#[cfg_attr(
    not(target_arch = "x86_64"),
    ignore = "spawns the binary: needs binfmt under qemu-user"
)]
fn the_report_is_signed_by_the_device_and_a_changed_byte_fails() {
    let tmp = tempfile::tempdir().unwrap();
    let state = tmp.path().join("state");
    let device = DeviceKey::load_or_create(&state).unwrap();
    a_day_of_use(&state);
    let cfg = config(tmp.path(), &state);
    let out = tmp.path().join("stick/usage-report.json");
    std::fs::create_dir(out.parent().unwrap()).unwrap();
    let out_s = out.to_str().unwrap();

    let (ok, stdout, stderr) =
        run_gestaltcam(&["report", "--out", out_s, "--config", &cfg], tmp.path());
    assert!(ok, "{stderr}");
    assert!(stdout.starts_with("report: wrote"), "{stdout}");
    assert!(stdout.contains(&device.device_id()), "{stdout}");
    let text = std::fs::read_to_string(&out).unwrap();
    assert_no_patient_data("report", &text, &[]);
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(json["format"], "gestaltcam-usage-report");
    assert_eq!(json["version"], 1);
    assert_eq!(json["device_id"], device.device_id().as_str());
    let day = &json["days"][0];
    assert_eq!(day["day"], "2026-12-07");
    assert_eq!(day["no_close_match_percent"], 100);
    assert_eq!(day["counts"]["sessions"], 1);
    assert_eq!(day["counts"]["photos"], 2);
    assert_eq!(day["counts"]["not_taken"]["too_dark"], 1);
    assert_eq!(day["counts"]["uptime_s"], 3600);

    // The public key a programme registers: printed, and the file beside the secret key.
    let (ok, printed, stderr) =
        run_gestaltcam(&["report", "--public-key", "--config", &cfg], tmp.path());
    assert!(ok, "{stderr}");
    let pem = std::fs::read_to_string(state.join(key::PUBLIC_FILE)).unwrap();
    assert_eq!(printed, format!("device id {}\n{pem}", device.device_id()));

    let public = state.join(key::PUBLIC_FILE);
    let verify = |file: &str| {
        run_gestaltcam(
            &[
                "report",
                "--verify",
                file,
                "--key",
                public.to_str().unwrap(),
            ],
            tmp.path(),
        )
    };
    let (ok, stdout, stderr) = verify(out_s);
    assert!(ok, "{stderr}");
    assert!(
        stdout.starts_with(&format!("report: verified: device {}", device.device_id()))
            && stdout.contains("1 session(s), 2 photo(s)"),
        "{stdout}"
    );
    let good = std::fs::read(&out).unwrap();
    let mut changed = good.clone();
    let at = text.find("\"photos\": 2").unwrap() + "\"photos\": ".len();
    changed[at] = b'9';
    std::fs::write(&out, &changed).unwrap();
    let (ok, _, stderr) = verify(out_s);
    assert!(!ok, "a changed report verified");
    assert!(stderr.contains("the signature does not match"), "{stderr}");
}

#[test]
#[cfg_attr(
    not(target_arch = "x86_64"),
    ignore = "spawns the binary: needs binfmt under qemu-user"
)]
fn a_device_that_never_started_has_no_key_and_writes_no_report() {
    let tmp = tempfile::tempdir().unwrap();
    let state = tmp.path().join("state");
    let cfg = config(tmp.path(), &state);
    let out = tmp.path().join("usage-report.json");
    let (ok, _, stderr) = run_gestaltcam(
        &["report", "--out", out.to_str().unwrap(), "--config", &cfg],
        tmp.path(),
    );
    assert!(!ok);
    assert!(stderr.contains("no device key in"), "{stderr}");
    assert!(stderr.contains("first starts"), "{stderr}");
    assert!(
        !out.exists() && !state.exists(),
        "nothing written, no key made"
    );
    assert!(!store::counters_path(&state).exists());
}

/// A tally that keeps what the run loop hands it.
#[derive(Default)]
struct Kept {
    started: Vec<Duration>,
    counted: Vec<Happening>,
    last_tick: Option<Duration>,
    stopped: Vec<Duration>,
}

/// [`Kept`] shared with the test.
#[derive(Clone, Default)]
struct Shared(std::sync::Arc<std::sync::Mutex<Kept>>);

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, Kept> {
        self.0.lock().unwrap()
    }
}

impl Tally for Shared {
    fn start(&mut self, now: Duration) {
        self.lock().started.push(now);
    }
    fn count(&mut self, what: &Happening, _: Duration) {
        self.lock().counted.push(what.clone());
    }
    fn tick(&mut self, now: Duration) {
        self.lock().last_tick = Some(now);
    }
    fn stop(&mut self, now: Duration) {
        self.lock().stopped.push(now);
    }
}

/// An analyzer whose look at every preview frame fails.
struct BlindAnalyzer;

impl gestaltcam::analysis::Analyzer for BlindAnalyzer {
    fn preview(
        &mut self,
        _: &gestaltcam::camera::Frame,
    ) -> Result<gestaltcam::analysis::FrameSummary, gestaltcam::analysis::AnalyseError> {
        Err(gestaltcam::analysis::AnalyseError::ModelFailed {
            detail: "detector failed".into(),
        })
    }
    fn analyse(
        &mut self,
        _: &[gestaltcam::analysis::Capture],
    ) -> Result<gestaltcam::analysis::AnalysisOutcome, gestaltcam::analysis::AnalyseError> {
        unreachable!("no photo can be taken without a face")
    }
}

/// Buttons that cannot be read.
struct BrokenButtons;

impl gestaltcam::app::Buttons for BrokenButtons {
    fn poll(
        &mut self,
        _: Duration,
        _: u64,
    ) -> Result<Vec<gestaltcam::app::ButtonEvent>, gestaltcam::app::buttons::ButtonError> {
        Err(gestaltcam::app::buttons::ButtonError::Io(
            "gpio read failed".into(),
        ))
    }
}

/// The run loop's own counts: the start and the clean stop on its clock, the uptime ticks, a
/// failing preview and unreadable buttons each counted once however long they fail.
#[test]
fn the_run_loop_counts_its_start_stop_and_runs_of_failures_once() {
    use gestaltcam::app::{run_device, Device, ManualClock, NullNotifier};
    let kept = Shared::default();
    let frames = vec![image::RgbImage::new(64, 48); 3];
    let camera = gestaltcam::camera::ReplayCamera::from_images(frames, 10.0).unwrap();
    let mut dev = Device {
        camera,
        buttons: BrokenButtons,
        clock: ManualClock::new(),
        analyzer: BlindAnalyzer,
        display: |_: &gestaltcam::ui::view::View| {},
        notifier: NullNotifier,
    };
    let opts = gestaltcam::app::RunOptions {
        counters: Some(gestaltcam::counters::Handle::new(kept.clone())),
        ..crate::common::opts(40)
    };
    let report = run_device(&mut dev, &crate::common::ctx(1, 3, Duration::ZERO), &opts);
    assert_eq!(report.iterations, 40, "{report:?}");
    assert!(
        report.preview_errors >= 30 && report.button_errors == 40,
        "{report:?}"
    );
    let k = kept.lock();
    assert_eq!(k.started, [Duration::ZERO]);
    assert_eq!(k.stopped, [crate::common::TICK * 40]);
    assert_eq!(k.last_tick, Some(crate::common::TICK * 39));
    assert_eq!(
        k.counted,
        [
            Happening::Error(gestaltcam::counters::Failure::ButtonsFailed),
            Happening::Error(gestaltcam::counters::Failure::PreviewFailed),
        ]
    );
}
