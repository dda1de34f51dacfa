//! The run loop with the analyzer on its own thread (`RunOptions::analysis_thread`, the device
//! with a live camera): the camera, the buttons and the watchdog stay live while a slow model
//! works. The analyzer here blocks until the test lets it go, so each case is decided by the
//! order of events, not by timing.
//!
//! - camera_lost_while_a_frame_is_analysed: the camera-lost screen comes while the preview
//!   analysis still runs, and that analysis's late answer does not bring back the lost picture
//! - a_hung_analysis_stops_the_watchdog: the loop keeps running through a long analysis and
//!   pings the watchdog until `analysis_stuck_after`, then stops, so systemd restarts the device
//! - a_slow_analysis_shows_each_photo_and_keeps_the_watchdog_fed: a 3-photo analysis longer
//!   than `analysis_stuck_after` that reports each pass shows "photo i of 3" pass by pass, keeps
//!   the pings going, reads the camera throughout and ignores a button pressed meanwhile

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::common;

use gestaltcam::analysis::{
    AnalyseError, AnalysisOutcome, Analyzer, Capture, FrameSummary, Progress,
};
use gestaltcam::app::{
    run_device, AppContext, ButtonEvent, Buttons, Device, Notice, Notifier, RunOptions, ViewSink,
};
use gestaltcam::camera::{Camera, CameraError, Clock, Frame, ManualClock};
use gestaltcam::ui::view::{Basis, CheckState, ErrorKind, Guidance, SelfCheck, View};
use image::{Rgb, RgbImage};

/// The fake analyzer reads the scene from the red value of pixel (0, 0).
const READY: u8 = 128;
const DARK: u8 = 10;

/// Longest any case waits on the other thread before it gives up (a failure, not a hang).
const PATIENCE: Duration = Duration::from_secs(60);

fn frame(code: u8, sequence: u64) -> Frame {
    Frame::new(
        RgbImage::from_pixel(16, 12, Rgb([code, 0, 0])),
        sequence,
        Duration::ZERO,
    )
}

/// A gate the analyzer waits at: `open` lets one waiting call through.
struct Gate {
    open: Sender<()>,
    wait: Mutex<Receiver<()>>,
}

impl Gate {
    fn new() -> Arc<Self> {
        let (open, wait) = mpsc::channel();
        Arc::new(Gate {
            open,
            wait: Mutex::new(wait),
        })
    }
    fn open(&self) {
        let _ = self.open.send(());
    }
    fn pass(&self) {
        self.wait
            .lock()
            .unwrap()
            .recv_timeout(PATIENCE)
            .expect("the test never opened the gate");
    }
}

/// Preview: the scene's guidance; waits at `preview_gate` when given. Analyse: waits at
/// `analyse_gate` when given.
struct SlowAnalyzer {
    preview_gate: Option<Arc<Gate>>,
    analyse_gate: Option<Arc<Gate>>,
    /// Set when the first preview call has begun.
    previewing: Arc<AtomicBool>,
    previews: Arc<AtomicUsize>,
}

impl SlowAnalyzer {
    fn new() -> Self {
        SlowAnalyzer {
            preview_gate: None,
            analyse_gate: None,
            previewing: Arc::default(),
            previews: Arc::default(),
        }
    }
}

impl Analyzer for SlowAnalyzer {
    fn self_test(&mut self) -> Vec<SelfCheck> {
        vec![SelfCheck {
            name: "Model".into(),
            state: CheckState::Ok,
            detail: "ok".into(),
        }]
    }

    fn preview(&mut self, frame: &Frame) -> Result<FrameSummary, AnalyseError> {
        self.previewing.store(true, Ordering::SeqCst);
        self.previews.fetch_add(1, Ordering::SeqCst);
        if let Some(g) = self.preview_gate.take() {
            g.pass();
        }
        Ok(match frame.image.get_pixel(0, 0)[0] {
            READY => common::ready_face(),
            DARK => FrameSummary::no_face(true),
            _ => FrameSummary::no_face(false),
        })
    }

    fn analyse(&mut self, photos: &[Capture]) -> Result<AnalysisOutcome, AnalyseError> {
        if let Some(g) = &self.analyse_gate {
            g.pass();
        }
        Err(AnalyseError::ModelUnavailable {
            detail: format!("{} photo(s): the test analyzer has no model", photos.len()),
        })
    }
}

/// Keeps every view; `on_view` sees each one first.
struct Screen<F: FnMut(&View)> {
    views: Arc<Mutex<Vec<View>>>,
    on_view: F,
}

impl<F: FnMut(&View)> ViewSink for Screen<F> {
    fn show(&mut self, view: &View) {
        (self.on_view)(view);
        self.views.lock().unwrap().push(view.clone());
    }
}

/// One photo per patient, the top 5 two to a page, a ten-minute idle timeout.
fn ctx() -> AppContext {
    common::ctx(1, 5, Duration::from_secs(600))
}

fn short(v: &View) -> String {
    match v {
        View::Preview { guidance, .. } => format!("preview {guidance:?}"),
        View::Error { kind, .. } => format!("error {kind:?}"),
        View::Starting { .. } => "starting".into(),
        View::Blank => "blank".into(),
        View::Capturing { .. } => "capturing".into(),
        View::Analysing { .. } => "analysing".into(),
        other => format!("{other:?}").chars().take(20).collect(),
    }
}

/// Ready frames until the first preview analysis has begun; then no camera until the screen
/// has said so; then dark frames.
struct UnplugDuringPreview {
    previewing: Arc<AtomicBool>,
    lost_shown: Arc<AtomicBool>,
    sequence: u64,
}

impl Camera for UnplugDuringPreview {
    fn frame(&mut self) -> Result<Frame, CameraError> {
        self.sequence += 1;
        if !self.previewing.load(Ordering::SeqCst) {
            Ok(frame(READY, self.sequence))
        } else if !self.lost_shown.load(Ordering::SeqCst) {
            Err(CameraError::Disconnected("unplugged".into()))
        } else {
            Ok(frame(DARK, self.sequence))
        }
    }
}

#[test]
fn camera_lost_while_a_frame_is_analysed() {
    let gate = Gate::new();
    let mut analyzer = SlowAnalyzer::new();
    analyzer.preview_gate = Some(gate.clone());
    let previewing = analyzer.previewing.clone();
    let previews = analyzer.previews.clone();
    let lost_shown = Arc::new(AtomicBool::new(false));
    let shutdown = Arc::new(AtomicBool::new(false));
    let views = Arc::new(Mutex::new(Vec::new()));
    let display = Screen {
        views: views.clone(),
        on_view: {
            let (lost_shown, shutdown) = (lost_shown.clone(), shutdown.clone());
            move |v: &View| match v {
                // The loss is on screen while the first frame is still being analysed: let
                // that analysis finish, and the camera come back. The answers come in order, so
                // the stale one (Ready) would reach the screen before the first dark frame's.
                View::Error {
                    kind: ErrorKind::CameraMissing,
                    ..
                } => {
                    lost_shown.store(true, Ordering::SeqCst);
                    gate.open();
                }
                View::Preview {
                    guidance: Guidance::TooDark,
                    ..
                } => shutdown.store(true, Ordering::SeqCst),
                _ => {}
            }
        },
    };
    let mut dev = Device {
        camera: UnplugDuringPreview {
            previewing,
            lost_shown: lost_shown.clone(),
            sequence: 0,
        },
        buttons: gestaltcam::app::ScriptedButtons::at_frames(Vec::new()),
        clock: ManualClock::new(),
        analyzer,
        display,
        notifier: gestaltcam::app::NullNotifier,
    };
    let opts = RunOptions {
        analysis_thread: true,
        camera_retry: Some(Duration::from_millis(100)),
        shutdown: Some(shutdown),
        // A bound on a broken loop (each iteration is quick: nothing sleeps for real).
        max_iterations: Some(50_000_000),
        ..RunOptions::default()
    };
    let report = run_device(&mut dev, &ctx(), &opts);
    let seen: Vec<String> = views.lock().unwrap().iter().map(short).collect();
    assert!(lost_shown.load(Ordering::SeqCst), "views: {seen:?}");
    let lost = seen
        .iter()
        .position(|v| v == "error CameraMissing")
        .expect("camera-lost screen");
    // The camera's return brings the preview back at once (no face box yet), then the first
    // frame analysed since; the ready frame analysed across the loss never reaches the screen.
    assert_eq!(
        seen[lost + 1..],
        ["preview NoFace", "preview TooDark", "blank"],
        "views: {seen:?}"
    );
    assert!(
        !seen.iter().any(|v| v == "preview Ready"),
        "views: {seen:?}"
    );
    assert!(previews.load(Ordering::SeqCst) >= 2, "views: {seen:?}");
    assert!(report.camera_errors >= 1);
}

/// Presses capture once, when the screen says ready.
struct CaptureWhenReady {
    last: Arc<Mutex<Option<View>>>,
    pressed: Arc<AtomicBool>,
}

impl Buttons for CaptureWhenReady {
    fn poll(
        &mut self,
        _: Duration,
        _: u64,
    ) -> Result<Vec<ButtonEvent>, gestaltcam::app::buttons::ButtonError> {
        let ready = matches!(
            &*self.last.lock().unwrap(),
            Some(View::Preview {
                guidance: Guidance::Ready,
                ..
            })
        );
        if ready && !self.pressed.load(Ordering::SeqCst) {
            self.pressed.store(true, Ordering::SeqCst);
            return Ok(vec![ButtonEvent::Capture]);
        }
        Ok(Vec::new())
    }
}

/// Ready frames. Until capture is pressed each frame also takes a millisecond of real time, so
/// that the manual clock cannot run to the idle timeout (6,000 frames) while a busy machine has
/// not yet run the preview on the analysis thread.
struct ReadyCamera {
    sequence: u64,
    pressed: Arc<AtomicBool>,
}

impl Camera for ReadyCamera {
    fn frame(&mut self) -> Result<Frame, CameraError> {
        if !self.pressed.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(1));
        }
        self.sequence += 1;
        Ok(frame(READY, self.sequence))
    }
}

/// Keeps each notice; opens `gate` when the loop says it is stopping (the analysis thread is
/// then joined, so it must be let go).
struct Recorder {
    notices: Arc<Mutex<Vec<Notice>>>,
    gate: Arc<Gate>,
}

impl Notifier for Recorder {
    fn notify(&mut self, n: &Notice) {
        if n == &Notice::Status("stopping".into()) {
            self.gate.open();
        }
        self.notices.lock().unwrap().push(n.clone());
    }
}

#[test]
fn a_hung_analysis_stops_the_watchdog() {
    let gate = Gate::new();
    let mut analyzer = SlowAnalyzer::new();
    analyzer.analyse_gate = Some(gate.clone());
    let last = Arc::new(Mutex::new(None));
    let notices = Arc::new(Mutex::new(Vec::new()));
    let views = Arc::new(Mutex::new(Vec::new()));
    let pressed = Arc::new(AtomicBool::new(false));
    let mut dev = Device {
        camera: ReadyCamera {
            sequence: 0,
            pressed: pressed.clone(),
        },
        buttons: CaptureWhenReady {
            last: last.clone(),
            pressed,
        },
        clock: ManualClock::new(),
        analyzer,
        display: Screen {
            views: views.clone(),
            on_view: move |v: &View| *last.lock().unwrap() = Some(v.clone()),
        },
        notifier: Recorder {
            notices: notices.clone(),
            gate,
        },
    };
    let iterations = 100_000;
    let opts = RunOptions {
        analysis_thread: true,
        // 100 ms of the manual clock per iteration.
        frame_interval: Some(Duration::from_millis(100)),
        analysis_stuck_after: Some(Duration::from_secs(5)),
        max_iterations: Some(iterations),
        ..RunOptions::default()
    };
    let report = run_device(&mut dev, &ctx(), &opts);
    let seen: Vec<String> = views.lock().unwrap().iter().map(short).collect();
    assert!(seen.iter().any(|v| v == "analysing"), "views: {seen:?}");
    // The loop ran on through the analysis (inline, the first call to `analyse` would have
    // blocked it until the end).
    assert_eq!(report.iterations, iterations);
    assert_eq!(report.final_mode, "analysing");
    let notices = notices.lock().unwrap();
    let from = notices
        .iter()
        .position(|n| n == &Notice::Status("analysing".into()))
        .expect("analysing status");
    let pings = notices[from..]
        .iter()
        .filter(|n| **n == Notice::Watchdog)
        .count();
    // One ping a second until the job has run 5 s, then none for the remaining ~9,995 s.
    assert!(
        (4..=6).contains(&pings),
        "{pings} pings after the analysis began"
    );
}

/// A slow analysis that reports progress: each photo takes `PASSES` passes of `PASS` of the
/// loop's clock. The loop and the analyzer go in lockstep (the camera waits while the analysis
/// is asked for and not begun, or a pass is due and not yet reported), so the case is decided
/// by the loop's clock, not by how busy the machine is.
const PASS: Duration = Duration::from_secs(3);
const PASSES: usize = 2;

/// When the analyzer's next pass ends, by the loop's clock; `None` when no pass is running,
/// zero from the last capture until the analyzer begins.
type Due = Arc<Mutex<Option<Duration>>>;

/// Ready previews; its analysis runs `PASSES` passes of `PASS` per photo, each reported.
struct PacedAnalyzer {
    clock: ManualClock,
    due: Due,
}

impl Analyzer for PacedAnalyzer {
    fn self_test(&mut self) -> Vec<SelfCheck> {
        SlowAnalyzer::new().self_test()
    }

    fn preview(&mut self, _: &Frame) -> Result<FrameSummary, AnalyseError> {
        Ok(common::ready_face())
    }

    fn analyse(&mut self, photos: &[Capture]) -> Result<AnalysisOutcome, AnalyseError> {
        self.analyse_reporting(photos, &|_| {})
    }

    fn analyse_reporting(
        &mut self,
        photos: &[Capture],
        progress: &gestaltcam::analysis::ProgressSink<'_>,
    ) -> Result<AnalysisOutcome, AnalyseError> {
        let n = photos.len();
        let mut end = self.clock.now() + PASS;
        progress(Progress::from_done(0, PASSES, n));
        *self.due.lock().unwrap() = Some(end);
        for done in 1..=n * PASSES {
            let started = std::time::Instant::now();
            while self.clock.now() < end {
                assert!(started.elapsed() < PATIENCE, "the loop's clock stopped");
                std::thread::sleep(Duration::from_micros(200));
            }
            progress(Progress::from_done(done, PASSES, n));
            end += PASS;
            *self.due.lock().unwrap() = (done < n * PASSES).then_some(end);
        }
        Ok(AnalysisOutcome::NoCloseMatch {
            basis: Basis {
                reference_cases: 6,
                syndromes: 3,
                photos: n,
                model_version: "paced".into(),
                gallery_version: "paced".into(),
                demo: false,
                phenotype: None,
            },
        })
    }
}

/// Ready frames; while a pass is due (the loop's clock has reached its end) and not yet
/// reported, the next frame waits for the analyzer.
struct PacedCamera {
    clock: ManualClock,
    due: Due,
    sequence: u64,
}

impl Camera for PacedCamera {
    fn frame(&mut self) -> Result<Frame, CameraError> {
        let started = std::time::Instant::now();
        while self
            .due
            .lock()
            .unwrap()
            .is_some_and(|end| self.clock.now() >= end)
        {
            if started.elapsed() > PATIENCE {
                return Err(CameraError::Ended);
            }
            std::thread::sleep(Duration::from_micros(200));
        }
        // A little real time per frame, so the preview and the answer at the end keep up.
        std::thread::sleep(Duration::from_millis(2));
        self.sequence += 1;
        Ok(frame(READY, self.sequence))
    }
}

/// Capture on each ready preview until 3 photos are taken (the last holds the camera until the
/// analysis begins); "next" once while the second photo is being analysed (ignored: the
/// analysis runs to its end).
struct ClinicianButtons {
    last: Arc<Mutex<Option<View>>>,
    due: Due,
    presses: usize,
    next_pressed: bool,
}

impl Buttons for ClinicianButtons {
    fn poll(
        &mut self,
        _: Duration,
        _: u64,
    ) -> Result<Vec<ButtonEvent>, gestaltcam::app::buttons::ButtonError> {
        let last = self.last.lock().unwrap().clone();
        Ok(match last {
            Some(View::Preview {
                guidance: Guidance::Ready,
                photos_taken,
                ..
            }) if photos_taken == self.presses && self.presses < 3 => {
                self.presses += 1;
                if self.presses == 3 {
                    *self.due.lock().unwrap() = Some(Duration::ZERO);
                }
                vec![ButtonEvent::Capture]
            }
            Some(View::Analysing {
                progress: Some(p), ..
            }) if p.photo == 2 && !self.next_pressed => {
                self.next_pressed = true;
                vec![ButtonEvent::Next]
            }
            _ => Vec::new(),
        })
    }
}

#[test]
fn a_slow_analysis_shows_each_photo_and_keeps_the_watchdog_fed() {
    let clock = ManualClock::new();
    let due: Due = Arc::default();
    let last = Arc::new(Mutex::new(None));
    let views = Arc::new(Mutex::new(Vec::new()));
    let notices = Arc::new(Mutex::new(Vec::new()));
    let shutdown = Arc::new(AtomicBool::new(false));
    let mut dev = Device {
        camera: PacedCamera {
            clock: clock.clone(),
            due: due.clone(),
            sequence: 0,
        },
        buttons: ClinicianButtons {
            last: last.clone(),
            due: due.clone(),
            presses: 0,
            next_pressed: false,
        },
        clock: clock.clone(),
        analyzer: PacedAnalyzer { clock, due },
        display: Screen {
            views: views.clone(),
            on_view: {
                let shutdown = shutdown.clone();
                move |v: &View| {
                    if matches!(v, View::NoCloseMatch { .. }) {
                        shutdown.store(true, Ordering::SeqCst);
                    }
                    *last.lock().unwrap() = Some(v.clone());
                }
            },
        },
        notifier: {
            let notices = notices.clone();
            move |n: &Notice| notices.lock().unwrap().push(n.clone())
        },
    };
    let opts = RunOptions {
        analysis_thread: true,
        frame_interval: Some(Duration::from_millis(100)),
        // Shorter than the analysis (6 passes of 3 s), longer than one pass.
        analysis_stuck_after: Some(Duration::from_secs(5)),
        shutdown: Some(shutdown),
        max_iterations: Some(100_000),
        ..RunOptions::default()
    };
    let report = run_device(
        &mut dev,
        &common::ctx(3, 5, Duration::from_secs(600)),
        &opts,
    );
    let views = views.lock().unwrap();
    let analysing: Vec<String> = views
        .iter()
        .filter_map(|v| match v {
            View::Analysing { progress, .. } => Some(progress.map_or("waiting".into(), |p| {
                format!("photo {} of {}, {}/{}", p.photo, p.photos, p.pass, p.passes)
            })),
            _ => None,
        })
        .collect();
    assert_eq!(
        analysing,
        [
            "waiting",
            "photo 1 of 3, 0/2",
            "photo 1 of 3, 1/2",
            "photo 2 of 3, 0/2",
            "photo 2 of 3, 1/2",
            "photo 3 of 3, 0/2",
            "photo 3 of 3, 1/2",
            "photo 3 of 3, 2/2",
        ]
    );
    // "Next" during the analysis changed nothing: the result follows the last progress view.
    let first = views
        .iter()
        .position(|v| matches!(v, View::Analysing { .. }));
    let tail = &views[first.expect("analysing")..];
    assert_eq!(tail.len(), analysing.len() + 2, "{tail:?}");
    assert!(matches!(tail[analysing.len()], View::NoCloseMatch { .. }));
    let notices = notices.lock().unwrap();
    let from = notices
        .iter()
        .position(|n| n == &Notice::Status("analysing".into()))
        .expect("analysing status");
    let to = notices
        .iter()
        .position(|n| n == &Notice::Status("no close match".into()))
        .expect("the result came");
    let pings = notices[from..to]
        .iter()
        .filter(|n| **n == Notice::Watchdog)
        .count();
    // 18 s of analysis at one ping a second: none missed, though it ran past the 5 s limit.
    assert!((17..=19).contains(&pings), "{pings} pings during 18 s");
    // The camera was read all along (an iteration every 100 ms of the loop's clock).
    assert!(report.frames >= 180, "{report:?}");
}
