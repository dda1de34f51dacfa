//! The run loop: camera, buttons, clock, analyzer, display and notifier are injected, so a test
//! runs the whole device in-process and stops it after N iterations.
//!
//! The analyzer runs on the loop's own thread (deterministic: the tests' default) or, with
//! [`RunOptions::analysis_thread`], on a worker thread ([`worker`]): the loop then keeps
//! reading the camera and the buttons while a preview frame or a session is analysed, so an
//! unplugged or stalled camera is shown within its timeout however slow the models are.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

mod worker;

use worker::{Done, Job, Worker};

use super::buttons::Buttons;
use super::count;
use super::{update, AppContext, Effect, Event, Notice, State};
use crate::analysis::{AnalyseError, Analyzer, FrameSummary};
use crate::camera::{Camera, CameraError, Clock, Frame};
use crate::clock::TrustedClock;
use crate::counters::{self, Failure, Happening};
use crate::ui::view::View;

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
    /// Run the analyzer on its own thread (the device with a live camera). Off: each preview
    /// frame and each analysis blocks the loop, which makes a run reproducible step by step.
    pub analysis_thread: bool,
    /// With `analysis_thread`: when one analysis job has run this long, the loop stops
    /// passing on watchdog pings, so systemd restarts a hung analyzer as it would a hung loop.
    pub analysis_stuck_after: Option<Duration>,
    /// Where the per-day counts go ([`crate::counters`]): sessions, photos not taken and why,
    /// results, errors by kind, starts and uptime. `None`: nothing is counted.
    pub counters: Option<counters::Handle>,
    /// The wall clock and whether its date is trusted ([`crate::clock`]): the loop passes
    /// today's date to the app ([`Event::Today`]) when it changes. `None`: no date at all.
    pub calendar: Option<Arc<Mutex<TrustedClock>>>,
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
    /// Preview frames the analyzer failed to look at (each shown as a frame without a face).
    pub preview_errors: u64,
    /// Name of the mode at the end (see [`Mode::name`](super::Mode::name)).
    pub final_mode: String,
}

/// Runs the device until the shutdown flag, the iteration limit, or the end of a finite camera.
///
/// Each iteration: `Tick(now)`, pending button events, one camera frame (preview analysis only
/// while the preview is on screen), answers from the analysis thread if there is one, then the
/// optional pacing sleep. The self-test comes first (with an analysis thread, on that thread
/// while the loop already shows the start screen and reads the camera).
pub fn run_device<C, B, K, A, D, N>(
    dev: &mut Device<C, B, K, A, D, N>,
    ctx: &AppContext,
    opts: &RunOptions,
) -> RunReport
where
    C: Camera,
    B: Buttons,
    K: Clock,
    A: Analyzer + Send,
    D: ViewSink,
    N: Notifier,
{
    let Device {
        camera,
        buttons,
        clock,
        analyzer,
        display,
        notifier,
    } = dev;
    let parts = Parts {
        camera,
        buttons,
        clock,
        display,
        notifier,
    };
    if !opts.analysis_thread {
        let mut run = Loop::new(parts, Brain::Inline(analyzer), ctx, opts);
        run.start();
        return run.run();
    }
    std::thread::scope(|scope| {
        let (worker, jobs, done) = Worker::channels();
        std::thread::Builder::new()
            .name("gestaltcam-analysis".into())
            .spawn_scoped(scope, move || worker::serve(analyzer, jobs, done))
            .expect("starting the analysis thread");
        let mut run = Loop::new(parts, Brain::<A>::Worker(worker), ctx, opts);
        run.start();
        // Ending the loop drops the job queue: the thread finishes its job and ends, and the
        // scope waits for it.
        run.run()
    })
}

/// The parts the loop drives itself (the analyzer is driven through [`Brain`]).
struct Parts<'a, C, B, K, D, N> {
    camera: &'a mut C,
    buttons: &'a mut B,
    clock: &'a mut K,
    display: &'a mut D,
    notifier: &'a mut N,
}

/// Where the analyzer runs.
enum Brain<'a, A> {
    /// On the loop's thread: each call blocks the loop.
    Inline(&'a mut A),
    /// On a worker thread: jobs go out, answers are collected each iteration.
    Worker(Worker),
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
    dev: Parts<'a, C, B, K, D, N>,
    brain: Brain<'a, A>,
    ctx: &'a AppContext,
    opts: &'a RunOptions,
    /// Always `Some` between events (taken while [`update`] owns it).
    state: Option<State>,
    report: RunReport,
    /// Counts wiped sessions (names saved captures).
    session: u64,
    /// Consecutive camera timeouts.
    timeouts: u32,
    /// Counts camera losses: a preview answer about a frame from before the last loss is
    /// dropped, so it cannot bring back a lost camera's picture.
    camera_epoch: u64,
    /// A hung analysis job has been logged (once per hang).
    stuck_logged: bool,
    /// The last preview answer was an error (logged once per run of failures).
    preview_failing: bool,
    /// The last button poll failed (counted once per run of failures).
    buttons_failing: bool,
}

impl<'a, C, B, K, A, D, N> Loop<'a, C, B, K, A, D, N>
where
    C: Camera,
    B: Buttons,
    K: Clock,
    A: Analyzer,
    D: ViewSink,
    N: Notifier,
{
    fn new(
        dev: Parts<'a, C, B, K, D, N>,
        brain: Brain<'a, A>,
        ctx: &'a AppContext,
        opts: &'a RunOptions,
    ) -> Self {
        Loop {
            dev,
            brain,
            ctx,
            opts,
            state: Some(State::new()),
            report: RunReport::default(),
            session: 0,
            timeouts: 0,
            camera_epoch: 0,
            stuck_logged: false,
            preview_failing: false,
            buttons_failing: false,
        }
    }

    /// Iterates until a stop; returns what happened.
    fn run(mut self) -> RunReport {
        loop {
            if self.stop_requested() {
                self.blank_for_shutdown();
                break;
            }
            if self
                .opts
                .max_iterations
                .is_some_and(|m| self.report.iterations >= m)
            {
                break;
            }
            let now = self.dev.clock.now();
            self.feed(Event::Tick(now));
            self.tally(|t| t.tick(now));
            self.check_day();
            self.poll_buttons(now);
            let polled = self.poll_camera();
            self.collect();
            self.report.iterations += 1;
            if polled == Polled::Ended {
                break;
            }
            self.dev.display.idle();
            match (self.opts.frame_interval, self.opts.camera_retry) {
                (Some(d), _) => self.dev.clock.sleep(d),
                (None, Some(d)) if polled == Polled::Failed => self.dev.clock.sleep(d),
                _ => {}
            }
        }
        self.dev.notifier.notify(&Notice::Status("stopping".into()));
        let now = self.dev.clock.now();
        self.tally(|t| t.stop(now));
        let mut report = std::mem::take(&mut self.report);
        report.final_mode = self
            .state
            .as_ref()
            .map(|s| s.mode.name().to_string())
            .unwrap_or_default();
        report
    }

    fn state(&self) -> &State {
        self.state.as_ref().expect("state between events")
    }

    /// The Starting screen first (the self-test may load models for seconds), then the
    /// self-test (on the analysis thread, if there is one, while the loop runs).
    fn start(&mut self) {
        self.dev
            .notifier
            .notify(&Notice::Status("starting: self-test".into()));
        let now = self.dev.clock.now();
        self.tally(|t| t.start(now));
        self.feed(Event::Tick(now));
        // With a thread, the loop runs (camera, buttons, the start screen) while the models load.
        if let Some(checks) = self.submit(Job::SelfTest) {
            self.feed(checks);
        }
    }

    /// Today's date while the clock is trusted, passed to the app when it changes.
    fn check_day(&mut self) {
        let Some(calendar) = &self.opts.calendar else {
            return;
        };
        let today = match calendar.lock() {
            Ok(mut c) => c.today(),
            Err(_) => None,
        };
        if today != self.state().today {
            self.feed(Event::Today(today));
        }
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
        self.submit(Job::Clear);
        self.dev.display.show(&View::Blank);
        self.report.views_shown += 1;
    }

    fn poll_buttons(&mut self, now: Duration) {
        match self.dev.buttons.poll(now, self.report.iterations) {
            Ok(events) => {
                self.buttons_failing = false;
                for b in events {
                    self.feed(Event::Button(b));
                }
            }
            Err(e) => {
                self.report.button_errors += 1;
                log::warn!("buttons: {e}");
                if !std::mem::replace(&mut self.buttons_failing, true) {
                    self.count(&Happening::Error(Failure::ButtonsFailed));
                }
            }
        }
    }

    /// One frame or camera error.
    fn poll_camera(&mut self) -> Polled {
        match self.dev.camera.frame() {
            Ok(frame) => {
                self.report.frames += 1;
                self.timeouts = 0;
                self.on_frame(frame);
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
                    self.camera_epoch += 1;
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

    /// A frame from the camera: analysed for the preview while the preview wants it. With an
    /// analysis thread that is still busy, the frame only says the camera is alive (and, on a
    /// panel with a viewfinder, updates the picture).
    fn on_frame(&mut self, frame: Frame) {
        if !self.state().wants_preview() {
            self.feed(Event::CameraBack);
            return;
        }
        if matches!(&self.brain, Brain::Worker(w) if !w.idle()) {
            let event = if self.ctx.viewfinder.is_some() {
                Event::Picture(frame)
            } else {
                Event::CameraBack
            };
            self.feed(event);
            return;
        }
        let was_lost = !self.state().camera_ok;
        let epoch = self.camera_epoch;
        match self.submit(Job::Preview { frame, epoch }) {
            Some(analysed) => self.feed(analysed),
            // Sent to the thread: the preview comes back with the camera, the face box later.
            None if was_lost => self.feed(Event::CameraBack),
            None => {}
        }
    }

    /// Hands a job to the analyzer. Without a thread it is done at once and its answer's event
    /// returned; with one it is sent, and the answer arrives through [`Loop::collect`].
    fn submit(&mut self, job: Job) -> Option<Event> {
        let now = self.dev.clock.now();
        let done = match &mut self.brain {
            // Inline, the loop waits for the answer: there is no screen to show progress on.
            Brain::Inline(a) => worker::answer(*a, job, &|_| {})?,
            Brain::Worker(w) => {
                w.send(job, now);
                return None;
            }
        };
        self.event_for(done)
    }

    /// Answers from the analysis thread, fed in the order they came.
    fn collect(&mut self) {
        let Brain::Worker(w) = &mut self.brain else {
            return;
        };
        let now = self.dev.clock.now();
        for done in w.answers(now) {
            if let Some(event) = self.event_for(done) {
                self.feed(event);
            }
        }
    }

    /// The event an answer becomes; none for a preview the app can no longer use.
    fn event_for(&mut self, done: Done) -> Option<Event> {
        Some(match done {
            // About a frame from before the last camera loss.
            Done::Preview { epoch, .. } if epoch != self.camera_epoch => return None,
            // The preview was left while the frame was analysed.
            Done::Preview { .. } if !self.state().wants_preview() => return None,
            Done::Preview { frame, summary, .. } => Event::Frame {
                frame,
                summary: self.preview_summary(summary),
            },
            Done::SelfTest(checks) => Event::SelfTest(checks),
            Done::Analysed(r) => Event::Analysed(r),
            Done::Refined(r) => Event::Refined(r),
            Done::Progress(p) => Event::Progress(p),
        })
    }

    /// What the app is told about an analysed preview frame. A failed look is counted and
    /// logged (a warning for the first of a run of failures), and the screen shows the frame
    /// as one without a face: the camera works, there is no face box, and capture waits.
    fn preview_summary(&mut self, summary: Result<FrameSummary, AnalyseError>) -> FrameSummary {
        match summary {
            Ok(s) => {
                if std::mem::take(&mut self.preview_failing) {
                    log::info!("preview analysis works again");
                }
                s
            }
            Err(e) => {
                self.report.preview_errors += 1;
                if std::mem::replace(&mut self.preview_failing, true) {
                    log::debug!("preview analysis failed again: {e}");
                } else {
                    log::warn!("preview analysis failed: {e}");
                    self.count(&Happening::Error(Failure::PreviewFailed));
                }
                FrameSummary::no_face(false)
            }
        }
    }

    /// Whether a watchdog ping may go out: not while one analysis job has run past
    /// [`RunOptions::analysis_stuck_after`] without reporting progress (a long analysis that
    /// reports each model pass keeps the pings going; a hung one stops them).
    fn alive(&mut self) -> bool {
        let (Brain::Worker(w), Some(limit)) = (&self.brain, self.opts.analysis_stuck_after) else {
            return true;
        };
        let busy = w.busy_for(self.dev.clock.now());
        if busy.is_some_and(|b| b >= limit) {
            if !self.stuck_logged {
                log::error!(
                    "analysis has run for over {} s: no more watchdog pings",
                    limit.as_secs()
                );
                self.stuck_logged = true;
            }
            return false;
        }
        self.stuck_logged = false;
        true
    }

    /// Runs `f` on the counters, if there are any.
    fn tally(&self, f: impl FnOnce(&mut dyn counters::Tally)) {
        if let Some(c) = &self.opts.counters {
            c.with(f);
        }
    }

    /// Counts one happening now.
    fn count(&self, what: &Happening) {
        let now = self.dev.clock.now();
        self.tally(|t| t.count(what, now));
    }

    /// Feeds one event and carries out the effects (an analysis feeds its result back in).
    fn feed(&mut self, event: Event) {
        let mut queue = std::collections::VecDeque::from([event]);
        while let Some(ev) = queue.pop_front() {
            // The start-up checks, whether or not the start screen stays to show them (all
            // well and the camera ready: the preview follows at once).
            if let Event::SelfTest(checks) = &ev {
                log::info!("self-test: {}", crate::ui::view::describe_checks(checks));
            }
            let state = self.state.take().expect("state between events");
            let counted = self.opts.counters.is_some().then(|| {
                let before = count::Before::of(&state);
                count::from_event(&before, &ev)
            });
            let (next, effects) = update(state, ev, self.ctx);
            self.state = Some(next);
            if let Some(mut counted) = counted {
                counted.extend(count::from_effects(&effects));
                for what in &counted {
                    self.count(what);
                }
            }
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
                // Inline, the analysis blocks the loop: ping the watchdog right before it.
                if matches!(self.brain, Brain::Inline(_)) && self.ctx.watchdog_interval.is_some() {
                    self.dev.notifier.notify(&Notice::Watchdog);
                }
                return self.submit(Job::Analyse(photos));
            }
            Effect::Refine(answers) => return self.submit(Job::Refine(answers)),
            Effect::ClearSession => {
                self.session += 1;
                self.submit(Job::Clear);
            }
            Effect::SaveCapture { photo, frame } => self.save(photo, &frame),
            Effect::Notify(Notice::Watchdog) if !self.alive() => {}
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
                    self.count(&Happening::Error(Failure::SaveFailed));
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
