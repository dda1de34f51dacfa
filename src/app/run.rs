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
    /// Phenotype questions on the last analysis: `answers` to the questions this analyzer
    /// asked, in order → the next question or the re-ranked list. Only called for a result
    /// whose basis names an HPO release.
    fn refine(&mut self, answers: &[super::Answer]) -> super::Refined {
        let _ = answers;
        super::Refined::Unavailable
    }
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
    /// After a camera error that came back at once (no camera: the reconnecting camera does
    /// not block while it waits to retry), sleep this long before the next iteration, so a
    /// missing camera does not spin a core. Unused with `frame_interval`, which paces anyway.
    pub camera_retry: Option<Duration>,
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
    let mut run = Loop {
        dev,
        ctx,
        opts,
        state: Some(State::new()),
        report: RunReport::default(),
        session: 0,
        timeouts: 0,
    };
    run.start();
    loop {
        if run.stop_requested() {
            run.blank_for_shutdown();
            break;
        }
        if opts
            .max_iterations
            .is_some_and(|m| run.report.iterations >= m)
        {
            break;
        }
        let now = run.dev.clock.now();
        run.feed(Event::Tick(now));
        run.poll_buttons(now);
        let polled = run.poll_camera();
        if polled == Polled::Ended {
            run.report.iterations += 1;
            break;
        }
        run.dev.display.idle();
        run.report.iterations += 1;
        match (opts.frame_interval, opts.camera_retry) {
            (Some(d), _) => run.dev.clock.sleep(d),
            (None, Some(d)) if polled == Polled::Failed => run.dev.clock.sleep(d),
            _ => {}
        }
    }
    run.dev.notifier.notify(&Notice::Status("stopping".into()));
    let mut report = run.report;
    report.final_mode = run
        .state
        .map(|s| s.mode.name().to_string())
        .unwrap_or_default();
    report
}

/// What one camera poll gave.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Polled {
    /// A frame, or an error that took the camera's time (timeout, bad frame).
    Frame,
    /// An error that came back at once (no camera).
    Failed,
    /// A finite camera has no more frames.
    Ended,
}

/// One run of the device: its parts, the app state and what has happened so far. Each input
/// has its own method; [`Loop::feed`] runs an event through [`update`] and carries out the
/// effects.
struct Loop<'a, C, B, K, A, D, N> {
    dev: &'a mut Device<C, B, K, A, D, N>,
    ctx: &'a AppContext,
    opts: &'a RunOptions,
    /// Always `Some` between events (taken while [`update`] owns it).
    state: Option<State>,
    report: RunReport,
    /// Counts wiped sessions (names saved captures).
    session: u64,
    /// Consecutive camera timeouts.
    timeouts: u32,
}

impl<C, B, K, A, D, N> Loop<'_, C, B, K, A, D, N>
where
    C: Camera,
    B: Buttons,
    K: Clock,
    A: Analyzer,
    D: ViewSink,
    N: Notifier,
{
    fn state(&self) -> &State {
        self.state.as_ref().expect("state between events")
    }

    /// The Starting screen first (the self-test may load models for seconds), then the
    /// self-test.
    fn start(&mut self) {
        self.dev
            .notifier
            .notify(&Notice::Status("starting: self-test".into()));
        let now = self.dev.clock.now();
        self.feed(Event::Tick(now));
        let checks = self.dev.analyzer.self_test();
        self.feed(Event::SelfTest(checks));
    }

    fn stop_requested(&self) -> bool {
        self.opts
            .shutdown
            .as_ref()
            .is_some_and(|f| f.load(Ordering::SeqCst))
    }

    /// Stopping: nothing about the patient stays in memory or on the glass.
    fn blank_for_shutdown(&mut self) {
        log::info!("shutting down: blanking the display");
        if let Some(s) = self.state.as_mut() {
            s.photos.clear();
        }
        self.dev.analyzer.clear_session();
        self.dev.display.show(&View::Blank);
        self.report.views_shown += 1;
    }

    fn poll_buttons(&mut self, now: Duration) {
        match self.dev.buttons.poll(now, self.report.iterations) {
            Ok(events) => {
                for b in events {
                    self.feed(Event::Button(b));
                }
            }
            Err(e) => {
                self.report.button_errors += 1;
                log::warn!("buttons: {e}");
            }
        }
    }

    /// One frame or camera error.
    fn poll_camera(&mut self) -> Polled {
        match self.dev.camera.frame() {
            Ok(frame) => {
                self.report.frames += 1;
                self.timeouts = 0;
                let event = if self.state().wants_preview() {
                    let summary = self.dev.analyzer.preview(&frame);
                    Event::Frame { frame, summary }
                } else {
                    Event::CameraBack
                };
                self.feed(event);
            }
            Err(CameraError::Ended) => {
                log::info!("camera has no more frames; stopping");
                return Polled::Ended;
            }
            Err(e) => {
                self.report.camera_errors += 1;
                let lost = match e {
                    CameraError::BadFrame(ref d) => {
                        log::debug!("skipping frame: {d}");
                        false
                    }
                    CameraError::Timeout => {
                        self.timeouts += 1;
                        self.timeouts >= self.opts.timeouts_as_lost.max(1)
                    }
                    _ => true,
                };
                if lost {
                    if self.state().camera_ok {
                        log::warn!("camera: {e}");
                    }
                    self.feed(Event::CameraLost);
                }
                // A bad frame or a timeout took the camera's time; anything else came back at
                // once.
                if !matches!(e, CameraError::BadFrame(_) | CameraError::Timeout) {
                    return Polled::Failed;
                }
            }
        }
        Polled::Frame
    }

    /// Feeds one event and carries out the effects (an analysis feeds its result back in).
    fn feed(&mut self, event: Event) {
        let mut queue = std::collections::VecDeque::from([event]);
        while let Some(ev) = queue.pop_front() {
            let state = self.state.take().expect("state between events");
            let (next, effects) = update(state, ev, self.ctx);
            self.state = Some(next);
            for fx in effects {
                if let Some(answer) = self.carry_out(fx) {
                    queue.push_back(answer);
                }
            }
        }
    }

    /// One effect; an analysis returns its result as the next event.
    fn carry_out(&mut self, fx: Effect) -> Option<Event> {
        match fx {
            Effect::Show(v) => {
                self.report.views_shown += 1;
                self.dev.display.show(&v);
            }
            Effect::Analyse(photos) => {
                self.report.analyses += 1;
                // The analysis blocks the loop: ping the watchdog right before it.
                if self.ctx.watchdog_interval.is_some() {
                    self.dev.notifier.notify(&Notice::Watchdog);
                }
                let result = self.dev.analyzer.analyse(&photos);
                drop(photos);
                return Some(Event::Analysed(result));
            }
            Effect::Refine(answers) => {
                return Some(Event::Refined(self.dev.analyzer.refine(&answers)))
            }
            Effect::ClearSession => {
                self.session += 1;
                self.dev.analyzer.clear_session();
            }
            Effect::SaveCapture { photo, frame } => self.save(photo, &frame),
            Effect::Notify(n) => self.dev.notifier.notify(&n),
        }
        None
    }

    fn save(&mut self, photo: usize, frame: &Frame) {
        match (self.ctx.saving, self.opts.save_dir.as_deref()) {
            (true, Some(dir)) => match super::save::save_capture(dir, self.session, photo, frame) {
                Ok(p) => self.report.saved.push(p),
                Err(e) => {
                    // Not fatal: the photo is still in RAM and analysed.
                    self.report.save_errors += 1;
                    log::warn!("saving photo {photo}: {e}");
                    self.dev
                        .notifier
                        .notify(&Notice::Status(format!("photo {photo} not saved: {e}")));
                }
            },
            _ => log::debug!("saving enabled without a folder; photo not saved"),
        }
    }
}
