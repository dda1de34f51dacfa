//! The run loop: camera, buttons, clock, analyzer, display and notifier are injected, so a test
//! runs the whole device in-process and stops it after N iterations.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use super::buttons::Buttons;
use super::{
    update, AnalyseError, AnalysisOutcome, AppContext, Capture, Effect, Event, FrameSummary,
};
use super::{Notice, State};
use crate::camera::{Camera, CameraError, Clock, Frame};
use crate::ui::view::{SelfCheck, View};

/// The device's brain, implemented by the integrator with the real detector, embedder and
/// gallery (and by fakes in tests).
pub trait Analyzer {
    /// Start-up checks (model, gallery). A `Failed` line stops the device on an error screen.
    fn self_test(&mut self) -> Vec<SelfCheck> {
        Vec::new()
    }
    /// Cheap per-frame look: faces, box, quality. Called only while the preview is on screen.
    fn preview(&mut self, frame: &Frame) -> FrameSummary;
    /// Full analysis of one patient's photos, each with the face found at capture.
    fn analyse(&mut self, photos: &[Capture]) -> Result<AnalysisOutcome, AnalyseError>;
    /// The session was wiped: drop anything cached about the patient.
    fn clear_session(&mut self) {}
}

/// Where views go (a panel, a PNG file, a test's Vec).
pub trait ViewSink {
    fn show(&mut self, view: &View);
    /// Called once per loop iteration; a sink that failed to show the last view may retry it
    /// here (views are only sent when they change).
    fn idle(&mut self) {}
}

impl<F: FnMut(&View)> ViewSink for F {
    fn show(&mut self, view: &View) {
        self(view)
    }
}

/// Where status and watchdog messages go (systemd on the device: `hw::SystemdNotifier`).
pub trait Notifier {
    fn notify(&mut self, notice: &Notice);
}

impl<F: FnMut(&Notice)> Notifier for F {
    fn notify(&mut self, notice: &Notice) {
        self(notice)
    }
}

/// Discards notices.
#[derive(Debug, Default, Clone, Copy)]
pub struct NullNotifier;

impl Notifier for NullNotifier {
    fn notify(&mut self, _: &Notice) {}
}

/// Everything the device is made of.
pub struct Device<C, B, K, A, D, N> {
    pub camera: C,
    pub buttons: B,
    pub clock: K,
    pub analyzer: A,
    pub display: D,
    pub notifier: N,
}

/// How long to run and how to pace.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Sleep on the clock after each iteration (a replay camera does not block; a V4L2 camera
    /// does, so `None` there).
    pub frame_interval: Option<Duration>,
    /// Stop after this many iterations.
    pub max_iterations: Option<u64>,
    /// Stop when this becomes true (set it from a signal handler). The panel is then blanked,
    /// so no patient's results stay on the glass after the device stops.
    pub shutdown: Option<Arc<AtomicBool>>,
    /// Where [`Effect::SaveCapture`] writes; only used when the context enables saving.
    pub save_dir: Option<PathBuf>,
    /// Consecutive camera timeouts that count as a lost camera.
    pub timeouts_as_lost: u32,
}

/// What happened during a run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunReport {
    pub iterations: u64,
    pub frames: u64,
    pub camera_errors: u64,
    pub views_shown: u64,
    pub analyses: u64,
    pub saved: Vec<PathBuf>,
    pub save_errors: u64,
    pub button_errors: u64,
    /// Name of the mode at the end (see [`Mode::name`]).
    pub final_mode: String,
}

/// Runs the device until the shutdown flag, the iteration limit, or the end of a finite camera.
///
/// Each iteration: `Tick(now)`, pending button events, one camera frame (preview analysis only
/// while the preview is on screen), then the optional pacing sleep.
pub fn run_device<C, B, K, A, D, N>(
    dev: &mut Device<C, B, K, A, D, N>,
    ctx: &AppContext,
    opts: &RunOptions,
) -> RunReport
where
    C: Camera,
    B: Buttons,
    K: Clock,
    A: Analyzer,
    D: ViewSink,
    N: Notifier,
{
    let mut report = RunReport::default();
    let mut state = State::new();
    let mut session: u64 = 0;
    let mut timeouts: u32 = 0;
    let timeouts_as_lost = opts.timeouts_as_lost.max(1);

    dev.notifier
        .notify(&Notice::Status("starting: self-test".into()));
    // Shows the Starting screen before the self-test, which may load models for seconds.
    let now = dev.clock.now();
    state = feed(
        dev,
        ctx,
        opts,
        state,
        Event::Tick(now),
        &mut report,
        &mut session,
    );
    let checks = dev.analyzer.self_test();
    state = feed(
        dev,
        ctx,
        opts,
        state,
        Event::SelfTest(checks),
        &mut report,
        &mut session,
    );

    loop {
        if opts
            .shutdown
            .as_ref()
            .is_some_and(|f| f.load(Ordering::SeqCst))
        {
            log::info!("shutting down: blanking the display");
            state.photos.clear();
            dev.analyzer.clear_session();
            dev.display.show(&View::Blank);
            report.views_shown += 1;
            break;
        }
        if opts.max_iterations.is_some_and(|m| report.iterations >= m) {
            break;
        }
        let now = dev.clock.now();
        state = feed(
            dev,
            ctx,
            opts,
            state,
            Event::Tick(now),
            &mut report,
            &mut session,
        );

        match dev.buttons.poll(now, report.iterations) {
            Ok(events) => {
                for b in events {
                    state = feed(
                        dev,
                        ctx,
                        opts,
                        state,
                        Event::Button(b),
                        &mut report,
                        &mut session,
                    );
                }
            }
            Err(e) => {
                report.button_errors += 1;
                log::warn!("buttons: {e}");
            }
        }

        match dev.camera.frame() {
            Ok(frame) => {
                report.frames += 1;
                timeouts = 0;
                let event = if state.wants_preview() {
                    let summary = dev.analyzer.preview(&frame);
                    Event::Frame { frame, summary }
                } else {
                    Event::CameraBack
                };
                state = feed(dev, ctx, opts, state, event, &mut report, &mut session);
            }
            Err(CameraError::Ended) => {
                log::info!("camera has no more frames; stopping");
                report.iterations += 1;
                break;
            }
            Err(e) => {
                report.camera_errors += 1;
                let lost = match e {
                    CameraError::BadFrame(ref d) => {
                        log::debug!("skipping frame: {d}");
                        false
                    }
                    CameraError::Timeout => {
                        timeouts += 1;
                        timeouts >= timeouts_as_lost
                    }
                    _ => true,
                };
                if lost {
                    if state.camera_ok {
                        log::warn!("camera: {e}");
                    }
                    state = feed(
                        dev,
                        ctx,
                        opts,
                        state,
                        Event::CameraLost,
                        &mut report,
                        &mut session,
                    );
                }
            }
        }

        dev.display.idle();
        report.iterations += 1;
        if let Some(d) = opts.frame_interval {
            dev.clock.sleep(d);
        }
    }
    dev.notifier.notify(&Notice::Status("stopping".into()));
    report.final_mode = state.mode.name().to_string();
    report
}

/// Feeds one event and carries out the effects (an analysis feeds its result back in).
fn feed<C, B, K, A, D, N>(
    dev: &mut Device<C, B, K, A, D, N>,
    ctx: &AppContext,
    opts: &RunOptions,
    state: State,
    event: Event,
    report: &mut RunReport,
    session: &mut u64,
) -> State
where
    A: Analyzer,
    D: ViewSink,
    N: Notifier,
{
    let mut queue = std::collections::VecDeque::from([event]);
    let mut state = state;
    while let Some(ev) = queue.pop_front() {
        let (next, effects) = update(state, ev, ctx);
        state = next;
        for fx in effects {
            match fx {
                Effect::Show(v) => {
                    report.views_shown += 1;
                    dev.display.show(&v);
                }
                Effect::Analyse(photos) => {
                    report.analyses += 1;
                    // The analysis blocks the loop: ping the watchdog right before it.
                    if ctx.watchdog_interval.is_some() {
                        dev.notifier.notify(&Notice::Watchdog);
                    }
                    let result = dev.analyzer.analyse(&photos);
                    drop(photos);
                    queue.push_back(Event::Analysed(result));
                }
                Effect::ClearSession => {
                    *session += 1;
                    dev.analyzer.clear_session();
                }
                Effect::SaveCapture { photo, frame } => {
                    match (ctx.saving, opts.save_dir.as_deref()) {
                        (true, Some(dir)) => {
                            match super::save::save_capture(dir, *session, photo, &frame) {
                                Ok(p) => report.saved.push(p),
                                Err(e) => {
                                    // Not fatal: the photo is still in RAM and analysed.
                                    report.save_errors += 1;
                                    log::warn!("saving photo {photo}: {e}");
                                    dev.notifier.notify(&Notice::Status(format!(
                                        "photo {photo} not saved: {e}"
                                    )));
                                }
                            }
                        }
                        _ => log::debug!("saving enabled without a folder; photo not saved"),
                    }
                }
                Effect::Notify(n) => dev.notifier.notify(&n),
            }
        }
    }
    state
}
