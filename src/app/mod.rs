//! The device's behaviour as an Elm-style pure state machine ([`update`]), and the run loop
//! ([`run::run_device`]) that feeds it events from an injected camera, buttons and clock and
//! carries out its [`Effect`]s.
//!
//! Flow: Starting (self-test) → Preview (framing guidance) → capture photo n of N (capture
//! button; Next finishes early) → Analysing → Results (Next pages, long press clears) or
//! NoCloseMatch. When the result offers phenotype questions (its basis names an HPO release),
//! "next" on the last results page starts them: up to [`crate::hpo::MAX_QUESTIONS`] yes/no/don't
//! know questions (capture / next / hold clear), then the re-ranked list. A missing camera shows
//! an error screen and the app resumes when frames come
//! back; the idle timeout blanks the screen and wipes the session. A self-test `Warning` line
//! (e.g. the last good gallery in use) keeps the start-up screen up until a button is pressed.

pub mod buttons;
pub mod run;
pub mod save;

use std::time::Duration;

use crate::camera::Frame;
use crate::config::Config;
pub use crate::hpo::Answer;
use crate::ui::view::{Basis, Candidate, CheckState, ErrorKind, Guidance, SelfCheck, View};
use crate::ui::Layout;
use crate::vision::quality::Issue;
use crate::vision::Face;
use embedded_graphics::prelude::Size;

pub use crate::camera::{Clock, ManualClock, SystemClock};
pub use buttons::{ButtonEvent, Buttons, ScriptedButtons, Trigger};
pub use run::{run_device, Device, Notifier, NullNotifier, RunOptions, RunReport, ViewSink};

/// What the analyzer saw in one preview frame. Boxes are fractions of the frame.
#[derive(Debug, Clone, PartialEq)]
pub struct FrameSummary {
    /// Faces found (of a size that matters).
    pub face_count: usize,
    /// The patient's face, `[x0, y0, x1, y1]` as fractions of the frame.
    pub face_box: Option<[f32; 4]>,
    /// The patient's face in the frame's pixels: a captured photo keeps it. With one detector
    /// plan the analysis embeds exactly that face; with the preview's smaller plan it is
    /// detected again by the full one ([`crate::pipeline::FacePipeline::capture_face`]).
    pub face: Option<Face>,
    /// The first problem by [`crate::vision::quality::assess`] (the one rule for preview and
    /// capture); `None` = ready to capture.
    pub issue: Option<Issue>,
}

impl FrameSummary {
    /// A frame without a face (`dark`: too dark to see one).
    pub fn no_face(dark: bool) -> Self {
        FrameSummary {
            face_count: 0,
            face_box: None,
            face: None,
            issue: Some(if dark { Issue::TooDark } else { Issue::NoFace }),
        }
    }

    /// Width of the face box as a fraction of the frame width.
    pub fn face_size(&self) -> f32 {
        self.face_box.map_or(0.0, |b| (b[2] - b[0]).max(0.0))
    }
}

/// Framing advice for a frame: vision's verdict in the clinician's words.
pub fn guidance(s: &FrameSummary) -> Guidance {
    match s.issue {
        None if s.face_box.is_some() => Guidance::Ready,
        None | Some(Issue::NoFace) => Guidance::NoFace,
        Some(Issue::SeveralFaces) => Guidance::OneFaceOnly,
        Some(Issue::TooSmall) => Guidance::MoveCloser,
        Some(Issue::TooDark) => Guidance::TooDark,
        Some(Issue::Blurred) => Guidance::Blurred,
        Some(Issue::TurnedAway) => Guidance::TurnToCamera,
    }
}

/// A captured photo and the face found in it at capture.
#[derive(Debug, Clone, PartialEq)]
pub struct Capture {
    pub frame: Frame,
    pub face: Option<Face>,
}

/// The analyzer's answer for one patient.
#[derive(Debug, Clone, PartialEq)]
pub enum AnalysisOutcome {
    /// Ranked candidates, best first (the app keeps the first `top_k`).
    Candidates {
        candidates: Vec<Candidate>,
        basis: Basis,
    },
    /// No gallery syndrome is close enough to list.
    NoCloseMatch { basis: Basis },
}

/// The analyzer's answer to [`Effect::Refine`].
#[derive(Debug, Clone, PartialEq)]
pub enum Refined {
    /// Ask this question next; `number` is 1-based.
    Ask { number: usize, question: String },
    /// The round is over: the candidates re-ranked, each with its evidence line.
    Done { candidates: Vec<Candidate> },
    /// No questions for this result after all (the HPO data or the face likelihood is missing).
    Unavailable,
}

/// Why the analysis gave no outcome. Each variant says what the clinician can do; `detail`
/// is for the technician (log and the error screen's small line).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AnalyseError {
    /// None of the `photos` photos had a face the pipeline can use; `reason` is the first
    /// photo's problem.
    #[error("no usable face in the {photos} photo(s): {reason:?}")]
    NoUsableFace { photos: usize, reason: Issue },
    /// The models did not load at start-up.
    #[error("model unavailable: {detail}")]
    ModelUnavailable { detail: String },
    /// The gallery did not load at start-up.
    #[error("gallery unavailable: {detail}")]
    GalleryUnavailable { detail: String },
    /// The detector or embedder failed on these photos.
    #[error("model failed: {detail}")]
    ModelFailed { detail: String },
    /// Ranking against the gallery failed.
    #[error("ranking failed: {detail}")]
    RankingFailed { detail: String },
}

impl AnalyseError {
    fn view(&self) -> View {
        let (kind, technical) = match self {
            AnalyseError::NoUsableFace { reason, .. } => {
                (ErrorKind::Retake(*reason), String::new())
            }
            AnalyseError::ModelUnavailable { detail } => (ErrorKind::ModelRefused, detail.clone()),
            AnalyseError::GalleryUnavailable { detail } => {
                (ErrorKind::GalleryRefused, detail.clone())
            }
            AnalyseError::ModelFailed { detail } | AnalyseError::RankingFailed { detail } => {
                (ErrorKind::AnalysisFailed, detail.clone())
            }
        };
        View::Error { kind, technical }
    }
}

/// Status and watchdog messages for the service manager.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    /// Start-up finished (systemd `READY=1`).
    Ready,
    /// One-line status (systemd `STATUS=`).
    Status(String),
    /// The loop is alive (systemd `WATCHDOG=1`).
    Watchdog,
}

/// Inputs to [`update`].
#[derive(Debug, Clone)]
pub enum Event {
    /// Results of the start-up self-test (model, gallery, ...). A `Failed` line is fatal.
    SelfTest(Vec<SelfCheck>),
    /// A preview frame with what the analyzer saw in it.
    Frame {
        frame: Frame,
        summary: FrameSummary,
    },
    Button(ButtonEvent),
    /// The clock; sent at the start of every loop iteration.
    Tick(Duration),
    Analysed(Result<AnalysisOutcome, AnalyseError>),
    /// The answer to [`Effect::Refine`].
    Refined(Refined),
    CameraLost,
    /// Frames arrive again: sent when no preview analysis is wanted, and with an analysis
    /// thread for the first frame after a loss (its analysis follows as a `Frame`), so the
    /// preview returns as soon as the camera does.
    CameraBack,
    /// A frame that is not analysed (the analysis thread is still busy with an earlier one):
    /// the camera is alive, and a viewfinder shows it under the last face box.
    Picture(Frame),
}

/// Outputs of [`update`], carried out by the run loop in order.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    Show(View),
    /// Analyse these photos of one patient; answer with [`Event::Analysed`].
    Analyse(Vec<Capture>),
    /// Phenotype questions on the last analysis: the answers so far, in order (empty: the
    /// first question); answer with [`Event::Refined`].
    Refine(Vec<Answer>),
    /// Forget everything about the current patient.
    ClearSession,
    /// Write a captured photo (only emitted when saving is enabled).
    SaveCapture {
        photo: usize,
        frame: Frame,
    },
    Notify(Notice),
}

/// Fixed inputs of the state machine.
#[derive(Debug, Clone, PartialEq)]
pub struct AppContext {
    pub photos_wanted: usize,
    pub top_k: usize,
    /// Candidates per results page: what the panel's layout fits, or fewer if the
    /// configuration asks ([`AppContext::for_panel`]).
    pub per_page: usize,
    /// Zero disables the idle timeout.
    pub idle_timeout: Duration,
    /// Whether [`Effect::SaveCapture`] is emitted.
    pub saving: bool,
    /// How often to emit [`Notice::Watchdog`]; `None` = never.
    pub watchdog_interval: Option<Duration>,
    /// The preview shows the camera picture, scaled down to at most this size (the panel's);
    /// `None`: face box and guidance only (monochrome panels, and PNG files unless
    /// `display.png_picture` is on).
    pub viewfinder: Option<(u32, u32)>,
}

impl Default for AppContext {
    fn default() -> Self {
        Self::for_panel(&Config::default(), Size::new(240, 240))
    }
}

impl AppContext {
    /// The context for `c` on a panel of `panel` pixels. The paging rule: a page holds what
    /// the panel's layout fits ([`Layout::candidates_per_page`]); `results_per_page` may only
    /// lower it.
    pub fn for_panel(c: &Config, panel: Size) -> Self {
        let fits = Layout::new(panel).candidates_per_page();
        AppContext {
            photos_wanted: c.photos_per_patient.max(1),
            top_k: c.top_k.max(1),
            per_page: c.results_per_page.clamp(1, fits),
            idle_timeout: Duration::from_secs(c.idle_timeout_s),
            saving: c.saving.enabled,
            watchdog_interval: Some(Duration::from_secs(2)),
            viewfinder: c
                .shows_picture(panel.height)
                .then_some((panel.width, panel.height)),
        }
    }

    /// Pages needed for `candidates` (at least 1).
    pub fn pages(&self, candidates: usize) -> usize {
        candidates.div_ceil(self.per_page.max(1)).max(1)
    }
}

/// Where the app is.
#[derive(Debug, Clone, PartialEq)]
pub enum Mode {
    Starting,
    /// A self-test failed: the error stays on screen.
    Fatal(View),
    Preview,
    Analysing {
        photos: usize,
    },
    Results {
        candidates: Vec<Candidate>,
        basis: Basis,
        page: usize,
        /// The list is the outcome of a question round (no second round is offered).
        refined: bool,
    },
    /// The phenotype questions on `candidates` (the face ranking); `number` 0 = waiting for
    /// the first question.
    Questions {
        candidates: Vec<Candidate>,
        basis: Basis,
        answers: Vec<Answer>,
        number: usize,
        question: String,
    },
    NoCloseMatch {
        basis: Basis,
    },
    /// The analysis failed; any button goes back to the preview.
    AnalysisFailed(View),
    /// Idle: display blank, session wiped; any button wakes.
    Blank,
}

impl Mode {
    pub fn name(&self) -> &'static str {
        match self {
            Mode::Starting => "starting",
            Mode::Fatal(_) => "fatal error",
            Mode::Preview => "preview",
            Mode::Analysing { .. } => "analysing",
            Mode::Results { .. } => "results",
            Mode::Questions { .. } => "questions",
            Mode::NoCloseMatch { .. } => "no close match",
            Mode::AnalysisFailed(_) => "analysis failed",
            Mode::Blank => "idle",
        }
    }
}

/// The whole state. Patient photos live only here (in RAM) until analysed or cleared.
#[derive(Debug, Clone)]
pub struct State {
    pub mode: Mode,
    /// Photos captured for the current patient, each with the face found at capture.
    pub photos: Vec<Capture>,
    pub camera_ok: bool,
    checks: Vec<SelfCheck>,
    self_test_done: bool,
    /// A self-test line is a warning: the start-up screen stays until a button is pressed.
    warning_unacknowledged: bool,
    last_frame: Option<Frame>,
    last_summary: Option<FrameSummary>,
    /// A newer frame than `last_frame` for the viewfinder only (never captured: a capture
    /// takes the frame its face was found in).
    picture: Option<Frame>,
    now: Duration,
    last_activity: Duration,
    last_watchdog: Option<Duration>,
    shown: Option<View>,
    /// Capture was pressed when no photo could be taken: the preview says "Not taken" until
    /// then.
    not_taken_until: Option<Duration>,
}

impl Default for State {
    fn default() -> Self {
        Self::new()
    }
}

impl State {
    pub fn new() -> Self {
        State {
            mode: Mode::Starting,
            photos: Vec::new(),
            camera_ok: false,
            checks: Vec::new(),
            self_test_done: false,
            warning_unacknowledged: false,
            last_frame: None,
            last_summary: None,
            picture: None,
            now: Duration::ZERO,
            last_activity: Duration::ZERO,
            last_watchdog: None,
            shown: None,
            not_taken_until: None,
        }
    }

    /// The view last emitted.
    pub fn shown(&self) -> Option<&View> {
        self.shown.as_ref()
    }

    /// Whether the run loop should run preview analysis on frames.
    pub fn wants_preview(&self) -> bool {
        matches!(self.mode, Mode::Preview | Mode::Starting)
    }

    fn starting_view(&self) -> View {
        let mut checks = self.checks.clone();
        // Frames decide the camera's state; the device's own line (which camera, or why it is
        // missing) keeps its detail rather than showing a second "Camera" line.
        let state = if self.camera_ok {
            CheckState::Ok
        } else {
            CheckState::Pending
        };
        match checks.iter_mut().find(|c| c.name == "Camera") {
            Some(c) => c.state = state,
            None => checks.push(SelfCheck {
                name: "Camera".into(),
                state,
                detail: String::new(),
            }),
        }
        View::Starting { checks }
    }

    fn live_view(&self, ctx: &AppContext) -> View {
        if !self.camera_ok {
            return View::Error {
                kind: ErrorKind::CameraMissing,
                technical: String::new(),
            };
        }
        let summary = self.last_summary.as_ref();
        View::Preview {
            face_box: summary.and_then(|s| s.face_box),
            guidance: summary.map_or(Guidance::NoFace, guidance),
            photos_taken: self.photos.len(),
            photos_wanted: ctx.photos_wanted,
            not_taken: self.not_taken_until.is_some_and(|t| self.now < t),
            picture: ctx.viewfinder.and_then(|(w, h)| {
                self.picture
                    .as_ref()
                    .or(self.last_frame.as_ref())
                    .map(|f| crate::ui::view::Picture::fit(&f.image, w, h))
            }),
        }
    }

    fn results_view(&self, ctx: &AppContext) -> Option<View> {
        match &self.mode {
            Mode::Results {
                candidates,
                basis,
                page,
                refined,
            } => {
                let per = ctx.per_page.max(1);
                let start = (page * per).min(candidates.len());
                let end = (start + per).min(candidates.len());
                let pages = ctx.pages(candidates.len());
                Some(View::Results {
                    candidates: candidates[start..end].to_vec(),
                    page: *page,
                    pages,
                    total: candidates.len(),
                    basis: basis.clone(),
                    questions_next: offers_questions(basis, *refined) && page + 1 == pages,
                })
            }
            Mode::Questions {
                basis,
                number,
                question,
                ..
            } if *number > 0 => Some(View::Question {
                number: *number,
                max: crate::hpo::MAX_QUESTIONS,
                question: question.clone(),
                basis: basis.clone(),
            }),
            Mode::NoCloseMatch { basis } => Some(View::NoCloseMatch {
                basis: basis.clone(),
            }),
            _ => None,
        }
    }

    fn ready_to_capture(&self) -> bool {
        self.camera_ok
            && self.last_frame.is_some()
            && self
                .last_summary
                .as_ref()
                .is_some_and(|s| guidance(s) == Guidance::Ready)
    }
}

/// Whether a result offers the phenotype questions: its basis names an HPO release and it is
/// not already the outcome of a round.
fn offers_questions(basis: &Basis, refined: bool) -> bool {
    basis.phenotype.is_some() && !refined
}

fn show(state: &mut State, view: View, fx: &mut Vec<Effect>) {
    if state.shown.as_ref() != Some(&view) {
        state.shown = Some(view.clone());
        fx.push(Effect::Show(view));
    }
}

/// Forgets the patient: photos, frames, results. (The last frame summary holds no image and
/// keeps the preview steady until the next frame.)
fn wipe(state: &mut State, fx: &mut Vec<Effect>) {
    state.photos.clear();
    state.last_frame = None;
    state.picture = None;
    fx.push(Effect::ClearSession);
}

fn enter_preview(state: &mut State, ctx: &AppContext, fx: &mut Vec<Effect>) {
    state.mode = Mode::Preview;
    state.last_activity = state.now;
    let v = state.live_view(ctx);
    show(state, v, fx);
}

fn start_analysis(state: &mut State, fx: &mut Vec<Effect>) {
    let photos = std::mem::take(&mut state.photos);
    state.last_frame = None;
    state.picture = None;
    state.mode = Mode::Analysing {
        photos: photos.len(),
    };
    show(
        state,
        View::Analysing {
            photos: photos.len(),
        },
        fx,
    );
    fx.push(Effect::Analyse(photos));
}

/// The state machine: one event in, the next state and the effects out. Pure.
pub fn update(mut state: State, event: Event, ctx: &AppContext) -> (State, Vec<Effect>) {
    let mut fx = Vec::new();
    let before = state.mode.name();
    match event {
        Event::Tick(now) => on_tick(&mut state, now, ctx, &mut fx),
        Event::SelfTest(checks) => on_self_test(&mut state, checks, ctx, &mut fx),
        Event::Frame { frame, summary } => on_frame(&mut state, frame, summary, ctx, &mut fx),
        Event::CameraBack => on_camera_back(&mut state, ctx, &mut fx),
        Event::Picture(frame) => on_picture(&mut state, frame, ctx, &mut fx),
        Event::CameraLost => on_camera_lost(&mut state, ctx, &mut fx),
        Event::Button(b) => on_button(&mut state, b, ctx, &mut fx),
        Event::Analysed(result) => on_analysed(&mut state, result, ctx, &mut fx),
        Event::Refined(r) => on_refined(&mut state, r, ctx, &mut fx),
    }
    let after = state.mode.name();
    if after != before {
        fx.push(Effect::Notify(Notice::Status(after.to_string())));
    }
    (state, fx)
}

/// The clock: the watchdog, the idle timeout, the first "starting" screen.
fn on_tick(state: &mut State, now: Duration, ctx: &AppContext, fx: &mut Vec<Effect>) {
    state.now = now;
    if let Some(every) = ctx.watchdog_interval {
        if state
            .last_watchdog
            .map_or(true, |t| now.saturating_sub(t) >= every)
        {
            state.last_watchdog = Some(now);
            fx.push(Effect::Notify(Notice::Watchdog));
        }
    }
    let idle_mode = matches!(
        state.mode,
        Mode::Preview
            | Mode::Results { .. }
            | Mode::Questions { .. }
            | Mode::NoCloseMatch { .. }
            | Mode::AnalysisFailed(_)
    );
    if idle_mode
        && !ctx.idle_timeout.is_zero()
        && now.saturating_sub(state.last_activity) >= ctx.idle_timeout
    {
        wipe(state, fx);
        state.mode = Mode::Blank;
        show(state, View::Blank, fx);
    }
    // The "Not taken" note has been read: back to plain guidance.
    if state.not_taken_until.is_some_and(|t| now >= t) {
        state.not_taken_until = None;
        if state.mode == Mode::Preview {
            let v = state.live_view(ctx);
            show(state, v, fx);
        }
    }
    // Say "starting" before the (possibly slow) self-test has reported.
    if state.mode == Mode::Starting && state.shown.is_none() {
        let v = state.starting_view();
        show(state, v, fx);
    }
}

/// The start-up self-test: a failed check is fatal; a warning holds the start screen.
fn on_self_test(state: &mut State, checks: Vec<SelfCheck>, ctx: &AppContext, fx: &mut Vec<Effect>) {
    if let Mode::Starting = state.mode {
        let failed = checks.iter().find(|c| c.state == CheckState::Failed);
        if let Some(c) = failed {
            let kind = match c.name.to_ascii_lowercase().as_str() {
                "model" => ErrorKind::ModelRefused,
                "gallery" => ErrorKind::GalleryRefused,
                "camera" => ErrorKind::CameraMissing,
                _ => ErrorKind::Other,
            };
            let view = View::Error {
                kind,
                technical: format!("{}: {}", c.name, c.detail),
            };
            state.mode = Mode::Fatal(view.clone());
            show(state, view, fx);
        } else {
            state.warning_unacknowledged = checks.iter().any(|c| c.state == CheckState::Warning);
            state.checks = checks;
            state.self_test_done = true;
            fx.push(Effect::Notify(Notice::Ready));
            if state.camera_ok && !state.warning_unacknowledged {
                enter_preview(state, ctx, fx);
            } else {
                let v = state.starting_view();
                show(state, v, fx);
            }
        }
    }
}

/// A preview frame and what the analyzer saw in it.
fn on_frame(
    state: &mut State,
    frame: Frame,
    summary: FrameSummary,
    ctx: &AppContext,
    fx: &mut Vec<Effect>,
) {
    state.camera_ok = true;
    match state.mode {
        Mode::Starting => {
            state.last_frame = Some(frame);
            state.last_summary = Some(summary);
            if state.self_test_done && !state.warning_unacknowledged {
                enter_preview(state, ctx, fx);
            } else {
                let v = state.starting_view();
                show(state, v, fx);
            }
        }
        Mode::Preview => {
            state.last_frame = Some(frame);
            state.last_summary = Some(summary);
            state.picture = None;
            let v = state.live_view(ctx);
            show(state, v, fx);
        }
        _ => {}
    }
}

/// Frames again after a loss: the live preview comes back (no face box until a frame has been
/// analysed).
fn on_camera_back(state: &mut State, ctx: &AppContext, fx: &mut Vec<Effect>) {
    let was_ok = std::mem::replace(&mut state.camera_ok, true);
    if !was_ok && state.mode == Mode::Preview {
        let v = state.live_view(ctx);
        show(state, v, fx);
    }
}

/// A frame shown but not analysed: only a viewfinder on the live preview changes.
fn on_picture(state: &mut State, frame: Frame, ctx: &AppContext, fx: &mut Vec<Effect>) {
    if state.mode == Mode::Preview && ctx.viewfinder.is_some() && state.camera_ok {
        state.picture = Some(frame);
        let v = state.live_view(ctx);
        show(state, v, fx);
    } else {
        on_camera_back(state, ctx, fx);
    }
}

/// The camera is gone: forget its last frame and say so where the screen shows it.
fn on_camera_lost(state: &mut State, ctx: &AppContext, fx: &mut Vec<Effect>) {
    state.camera_ok = false;
    state.last_frame = None;
    state.last_summary = None;
    state.picture = None;
    match state.mode {
        Mode::Preview => {
            let v = state.live_view(ctx);
            show(state, v, fx);
        }
        Mode::Starting if state.self_test_done && !state.warning_unacknowledged => {
            let v = state.live_view(ctx);
            show(state, v, fx);
        }
        Mode::Starting if state.self_test_done => {
            let v = state.starting_view();
            show(state, v, fx);
        }
        _ => {}
    }
}

/// A button press, by mode.
fn on_button(state: &mut State, b: ButtonEvent, ctx: &AppContext, fx: &mut Vec<Effect>) {
    state.last_activity = state.now;
    match (state.mode.clone(), b) {
        // Any button acknowledges a start-up warning.
        (Mode::Starting, _) if state.self_test_done && state.warning_unacknowledged => {
            state.warning_unacknowledged = false;
            if state.camera_ok {
                enter_preview(state, ctx, fx);
            } else {
                let v = state.live_view(ctx);
                show(state, v, fx);
            }
        }
        (Mode::Starting | Mode::Fatal(_) | Mode::Analysing { .. }, _) => {}
        (Mode::Blank, _) => enter_preview(state, ctx, fx),
        (Mode::Preview, ButtonEvent::Capture) => on_capture(state, ctx, fx),
        (Mode::Preview, ButtonEvent::Next) => {
            if !state.photos.is_empty() {
                start_analysis(state, fx);
            }
        }
        (Mode::Preview, ButtonEvent::Clear) => {
            wipe(state, fx);
            let v = state.live_view(ctx);
            show(state, v, fx);
        }
        (
            Mode::Results {
                candidates,
                basis,
                page,
                refined,
            },
            ButtonEvent::Next,
        ) => {
            let pages = ctx.pages(candidates.len());
            if page + 1 == pages && offers_questions(&basis, refined) {
                state.mode = Mode::Questions {
                    candidates,
                    basis,
                    answers: Vec::new(),
                    number: 0,
                    question: String::new(),
                };
                fx.push(Effect::Refine(Vec::new()));
            } else {
                state.mode = Mode::Results {
                    candidates,
                    basis,
                    page: (page + 1) % pages,
                    refined,
                };
                if let Some(v) = state.results_view(ctx) {
                    show(state, v, fx);
                }
            }
        }
        // A question on screen: capture = yes, next = no, clear (long press) = don't know.
        (
            Mode::Questions {
                candidates,
                basis,
                mut answers,
                number,
                question,
            },
            b,
        ) if number > 0 => {
            answers.push(match b {
                ButtonEvent::Capture => Answer::Yes,
                ButtonEvent::Next => Answer::No,
                ButtonEvent::Clear => Answer::DontKnow,
            });
            fx.push(Effect::Refine(answers.clone()));
            state.mode = Mode::Questions {
                candidates,
                basis,
                answers,
                number,
                question,
            };
        }
        // Waiting for the analyzer's next step.
        (Mode::Questions { .. }, _) => {}
        (Mode::Results { .. } | Mode::NoCloseMatch { .. }, ButtonEvent::Clear)
        | (Mode::AnalysisFailed(_), _) => {
            wipe(state, fx);
            enter_preview(state, ctx, fx);
        }
        (Mode::Results { .. } | Mode::NoCloseMatch { .. }, _) => {}
    }
}

/// How long the preview says "Not taken" after a capture press that took no photo.
pub const NOT_TAKEN_SHOWN: Duration = Duration::from_secs(3);

/// Capture pressed on the live preview: keep the frame and the face found in it, or say why
/// nothing was taken.
fn on_capture(state: &mut State, ctx: &AppContext, fx: &mut Vec<Effect>) {
    if state.ready_to_capture() {
        state.not_taken_until = None;
        if let Some(frame) = state.last_frame.take() {
            state.picture = None;
            let face = state.last_summary.as_ref().and_then(|s| s.face.clone());
            state.photos.push(Capture {
                frame: frame.clone(),
                face,
            });
            let n = state.photos.len();
            show(
                state,
                View::Capturing {
                    photo: n,
                    of: ctx.photos_wanted,
                },
                fx,
            );
            if ctx.saving {
                fx.push(Effect::SaveCapture { photo: n, frame });
            }
            if n >= ctx.photos_wanted {
                start_analysis(state, fx);
            }
        }
    } else {
        // Say why nothing was taken: "Not taken" and the guidance line's reason, for a while.
        state.not_taken_until = Some(state.now + NOT_TAKEN_SHOWN);
        log::info!(
            "capture pressed but not ready: {}",
            state
                .last_summary
                .as_ref()
                .map_or(Guidance::NoFace, guidance)
                .text()
        );
        let v = state.live_view(ctx);
        show(state, v, fx);
    }
}

/// The next step of a question round came back: ask it, or show the re-ranked list.
fn on_refined(state: &mut State, refined: Refined, ctx: &AppContext, fx: &mut Vec<Effect>) {
    let mode = std::mem::replace(&mut state.mode, Mode::Blank);
    let Mode::Questions {
        candidates,
        basis,
        answers,
        ..
    } = mode
    else {
        // Not asking any more (e.g. the session was wiped meanwhile): nothing to do.
        state.mode = mode;
        return;
    };
    state.last_activity = state.now;
    state.mode = match refined {
        Refined::Ask { number, question } => Mode::Questions {
            candidates,
            basis,
            answers,
            number,
            question,
        },
        Refined::Done {
            candidates: mut ranked,
        } => {
            ranked.truncate(ctx.top_k);
            Mode::Results {
                candidates: ranked,
                basis,
                page: 0,
                refined: true,
            }
        }
        Refined::Unavailable => Mode::Results {
            candidates,
            basis,
            page: 0,
            refined: true,
        },
    };
    if let Some(v) = state.results_view(ctx) {
        show(state, v, fx);
    }
}

/// The analysis of the session's photos came back.
fn on_analysed(
    state: &mut State,
    result: Result<AnalysisOutcome, AnalyseError>,
    ctx: &AppContext,
    fx: &mut Vec<Effect>,
) {
    if let Mode::Analysing { .. } = state.mode {
        state.last_activity = state.now;
        match result {
            Ok(AnalysisOutcome::Candidates {
                mut candidates,
                basis,
            }) if !candidates.is_empty() => {
                candidates.truncate(ctx.top_k);
                state.mode = Mode::Results {
                    candidates,
                    basis,
                    page: 0,
                    refined: false,
                };
            }
            Ok(AnalysisOutcome::Candidates { basis, .. })
            | Ok(AnalysisOutcome::NoCloseMatch { basis }) => {
                state.mode = Mode::NoCloseMatch { basis };
            }
            Err(e) => {
                log::warn!("analysis failed: {e}");
                let v = e.view();
                state.mode = Mode::AnalysisFailed(v.clone());
                show(state, v, fx);
            }
        }
        if let Some(v) = state.results_view(ctx) {
            show(state, v, fx);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::RgbImage;

    fn ready() -> FrameSummary {
        FrameSummary {
            face_count: 1,
            face_box: Some([0.3, 0.2, 0.7, 0.8]),
            face: None,
            issue: None,
        }
    }

    fn frame(seq: u64) -> Frame {
        Frame::new(RgbImage::new(4, 4), seq, Duration::ZERO)
    }

    fn views(fx: &[Effect]) -> Vec<View> {
        fx.iter()
            .filter_map(|e| match e {
                Effect::Show(v) => Some(v.clone()),
                _ => None,
            })
            .collect()
    }

    fn started(ctx: &AppContext) -> State {
        let (s, _) = update(State::new(), Event::SelfTest(vec![]), ctx);
        let (s, _) = update(
            s,
            Event::Frame {
                frame: frame(0),
                summary: ready(),
            },
            ctx,
        );
        assert_eq!(s.mode, Mode::Preview);
        s
    }

    #[test]
    fn guidance_names_visions_verdict() {
        assert_eq!(guidance(&ready()), Guidance::Ready);
        assert_eq!(guidance(&FrameSummary::no_face(false)), Guidance::NoFace);
        assert_eq!(guidance(&FrameSummary::no_face(true)), Guidance::TooDark);
        for (issue, g) in [
            (Issue::Blurred, Guidance::Blurred),
            (Issue::TooSmall, Guidance::MoveCloser),
            (Issue::SeveralFaces, Guidance::OneFaceOnly),
            (Issue::TurnedAway, Guidance::TurnToCamera),
            (Issue::TooDark, Guidance::TooDark),
        ] {
            let s = FrameSummary {
                issue: Some(issue),
                ..ready()
            };
            assert_eq!(guidance(&s), g);
        }
        // No verdict and no box is not a face.
        let s = FrameSummary {
            face_box: None,
            ..ready()
        };
        assert_eq!(guidance(&s), Guidance::NoFace);
    }

    #[test]
    fn failed_self_test_is_fatal_and_ignores_buttons() {
        let ctx = AppContext::default();
        let check = SelfCheck {
            name: "Gallery".into(),
            state: CheckState::Failed,
            detail: "bad signature".into(),
        };
        let (s, fx) = update(State::new(), Event::SelfTest(vec![check]), &ctx);
        assert!(matches!(
            views(&fx).as_slice(),
            [View::Error {
                kind: ErrorKind::GalleryRefused,
                ..
            }]
        ));
        let (s, fx) = update(s, Event::Button(ButtonEvent::Capture), &ctx);
        assert!(views(&fx).is_empty());
        assert!(matches!(s.mode, Mode::Fatal(_)));
    }

    #[test]
    fn one_camera_line_on_the_start_screen() {
        let ctx = AppContext::default();
        let cam = SelfCheck {
            name: "Camera".into(),
            state: CheckState::Pending,
            detail: "waiting: no /dev/video0".into(),
        };
        let (s, fx) = update(State::new(), Event::SelfTest(vec![cam]), &ctx);
        let shown = views(&fx);
        let [View::Starting { checks }] = shown.as_slice() else {
            panic!("expected the start screen: {fx:?}");
        };
        let cams: Vec<_> = checks.iter().filter(|c| c.name == "Camera").collect();
        assert_eq!(cams.len(), 1, "{checks:?}");
        assert_eq!(cams[0].state, CheckState::Pending);
        assert_eq!(cams[0].detail, "waiting: no /dev/video0");
        assert!(!s.camera_ok);
    }

    #[test]
    fn warning_holds_the_start_screen_until_a_button() {
        let ctx = AppContext::default();
        let warn = SelfCheck {
            name: "Gallery".into(),
            state: CheckState::Warning,
            detail: "configured one refused: truncated".into(),
        };
        let (s, fx) = update(State::new(), Event::SelfTest(vec![warn]), &ctx);
        assert!(fx.contains(&Effect::Notify(Notice::Ready)));
        assert!(matches!(views(&fx).as_slice(), [View::Starting { .. }]));
        let frame_ev = || Event::Frame {
            frame: frame(0),
            summary: ready(),
        };
        let (s, _) = update(s, frame_ev(), &ctx);
        let (s, fx) = update(s, frame_ev(), &ctx);
        assert_eq!(s.mode, Mode::Starting);
        assert!(views(&fx).is_empty());
        // The acknowledging press does not take a photo.
        let (s, fx) = update(s, Event::Button(ButtonEvent::Capture), &ctx);
        assert_eq!(s.mode, Mode::Preview);
        assert!(s.photos.is_empty());
        assert!(matches!(views(&fx).as_slice(), [View::Preview { .. }]));
    }

    #[test]
    fn capture_saves_only_when_enabled() {
        let mut ctx = AppContext::default();
        for saving in [false, true] {
            ctx.saving = saving;
            let s = started(&ctx);
            let (_, fx) = update(s, Event::Button(ButtonEvent::Capture), &ctx);
            let saves = fx
                .iter()
                .filter(|e| matches!(e, Effect::SaveCapture { .. }))
                .count();
            assert_eq!(saves, usize::from(saving));
        }
    }

    #[test]
    fn next_with_photos_finishes_early_and_clears_photos_from_state() {
        let ctx = AppContext::default();
        let s = started(&ctx);
        let (s, _) = update(s, Event::Button(ButtonEvent::Capture), &ctx);
        assert_eq!(s.photos.len(), 1);
        let (s, fx) = update(s, Event::Button(ButtonEvent::Next), &ctx);
        assert!(fx
            .iter()
            .any(|e| matches!(e, Effect::Analyse(p) if p.len() == 1)));
        assert!(s.photos.is_empty());
        assert_eq!(s.mode, Mode::Analysing { photos: 1 });
    }

    #[test]
    fn results_pages_wrap() {
        let ctx = AppContext {
            per_page: 2,
            ..AppContext::default()
        };
        let mut s = started(&ctx);
        s.mode = Mode::Analysing { photos: 1 };
        let cand = |rank| Candidate {
            rank,
            name: format!("S{rank}"),
            omim: None,
            genes: Vec::new(),
            band: crate::ui::view::Band::Weak,
            similarity: 0.1,
            nearest_case: "c".into(),
            evidence: None,
        };
        let basis = Basis {
            reference_cases: 1,
            syndromes: 1,
            photos: 1,
            model_version: "m".into(),
            gallery_version: "g".into(),
            demo: true,
            phenotype: None,
        };
        let (s, _) = update(
            s,
            Event::Analysed(Ok(AnalysisOutcome::Candidates {
                candidates: (1..=3).map(cand).collect(),
                basis,
            })),
            &ctx,
        );
        let page = |s: &State| match &s.mode {
            Mode::Results { page, .. } => *page,
            m => panic!("not results: {m:?}"),
        };
        assert_eq!(page(&s), 0);
        let (s, _) = update(s, Event::Button(ButtonEvent::Next), &ctx);
        assert_eq!(page(&s), 1);
        let (s, _) = update(s, Event::Button(ButtonEvent::Next), &ctx);
        assert_eq!(page(&s), 0);
    }

    /// A frame the analysis thread had no time for updates the viewfinder only: the box and
    /// guidance stay those of the analysed frame, and a capture takes the analysed frame (its
    /// face was found there), not the newer picture.
    #[test]
    fn an_unanalysed_frame_moves_the_viewfinder_but_is_never_captured() {
        let ctx = AppContext {
            viewfinder: Some((8, 8)),
            photos_wanted: 3,
            ..AppContext::default()
        };
        let s = started(&ctx);
        let mut newer = frame(7);
        newer.image.put_pixel(0, 0, image::Rgb([255, 255, 255]));
        let (s, fx) = update(s, Event::Picture(newer.clone()), &ctx);
        let shown = views(&fx);
        let [View::Preview {
            picture: Some(p),
            guidance,
            ..
        }] = shown.as_slice()
        else {
            panic!("one preview with a picture: {shown:?}")
        };
        assert_eq!(*guidance, Guidance::Ready);
        assert_eq!(*p, crate::ui::view::Picture::fit(&newer.image, 8, 8));
        let (s, fx) = update(s, Event::Button(ButtonEvent::Capture), &ctx);
        assert_eq!(s.photos.len(), 1);
        assert_eq!(
            s.photos[0].frame.sequence, 0,
            "the analysed frame is captured"
        );
        assert!(matches!(views(&fx)[..], [View::Capturing { photo: 1, .. }]));
        // Without a viewfinder the picture changes nothing on screen.
        let plain = AppContext {
            viewfinder: None,
            ..ctx.clone()
        };
        let (s, _) = update(started(&plain), Event::Picture(newer.clone()), &plain);
        assert!(s.picture.is_none());
        // After a loss it brings the preview back, with no face box or guidance from before.
        let (s, _) = update(started(&ctx), Event::CameraLost, &ctx);
        let (s, fx) = update(s, Event::Picture(newer), &ctx);
        let shown = views(&fx);
        assert!(
            matches!(
                shown[..],
                [View::Preview {
                    face_box: None,
                    guidance: Guidance::NoFace,
                    ..
                }]
            ),
            "{shown:?}"
        );
        assert!(s.picture.is_none() && s.camera_ok);
    }

    #[test]
    fn watchdog_is_rate_limited() {
        let ctx = AppContext::default();
        let mut s = State::new();
        let mut count = 0;
        for ms in (0..=5000).step_by(100) {
            let (next, fx) = update(s, Event::Tick(Duration::from_millis(ms)), &ctx);
            s = next;
            count += fx
                .iter()
                .filter(|e| **e == Effect::Notify(Notice::Watchdog))
                .count();
        }
        assert_eq!(count, 3); // at 0, 2 s, 4 s
    }
}
