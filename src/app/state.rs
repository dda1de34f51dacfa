//! The state machine's state: where the app is ([`Mode`]), what it holds about the patient
//! ([`State`]), its fixed inputs ([`AppContext`]), and the screens each state shows.

use std::time::Duration;

use embedded_graphics::prelude::Size;

use crate::analysis::{guidance, Capture, FrameSummary};
use crate::camera::Frame;
use crate::config::Config;
use crate::handoff::{self, Finding, Listed, Summary};
use crate::hpo::Answer;
use crate::ui::view::{Basis, Candidate, CheckState, ErrorKind, Guidance, SelfCheck, View};
use crate::ui::Layout;

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
    /// Whether [`Effect::SaveCapture`](super::Effect::SaveCapture) is emitted.
    pub saving: bool,
    /// How often to emit [`Notice::Watchdog`](super::Notice::Watchdog); `None` = never.
    pub watchdog_interval: Option<Duration>,
    /// The preview shows the camera picture, scaled down to at most this size (the panel's);
    /// `None`: face box and guidance only (monochrome panels, and PNG files unless
    /// `display.png_picture` is on).
    pub viewfinder: Option<(u32, u32)>,
    /// The device's id in the result code (`device` line); empty: no such line.
    pub device_id: String,
    /// The widest result code the panel draws (modules a side, [`Layout::code_room`]) and the
    /// most candidates it lists ([`Layout::code_candidates`]).
    pub code_room: u32,
    pub code_candidates: usize,
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
        let layout = Layout::new(panel);
        let fits = layout.candidates_per_page();
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
            device_id: String::new(),
            code_room: layout.code_room(),
            code_candidates: layout.code_candidates(),
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
    /// The result code of the result in `back` (results or no close match) is on screen;
    /// any button goes back to it.
    ResultCode {
        back: Box<Mode>,
    },
    /// Idle: display blank, session wiped; any button wakes.
    Blank,
}

impl Mode {
    /// A short name for the service manager's status line and the run report.
    pub fn name(&self) -> &'static str {
        match self {
            Mode::Starting => "starting",
            Mode::Fatal(_) => "fatal error",
            Mode::Preview => "preview",
            Mode::Analysing { .. } => "analysing",
            Mode::Results { .. } => "results",
            Mode::Questions { .. } => "questions",
            Mode::NoCloseMatch { .. } => "no close match",
            Mode::ResultCode { .. } => "result code",
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
    pub(super) checks: Vec<SelfCheck>,
    pub(super) self_test_done: bool,
    /// A self-test line is a warning: the start-up screen stays until a button is pressed.
    pub(super) warning_unacknowledged: bool,
    pub(super) last_frame: Option<Frame>,
    pub(super) last_summary: Option<FrameSummary>,
    /// A newer frame than `last_frame` for the viewfinder only (never captured: a capture
    /// takes the frame its face was found in).
    pub(super) picture: Option<Frame>,
    pub(super) now: Duration,
    pub(super) last_activity: Duration,
    pub(super) last_watchdog: Option<Duration>,
    pub(super) shown: Option<View>,
    /// Capture was pressed when no photo could be taken: the preview says "Not taken" until
    /// then.
    pub(super) not_taken_until: Option<Duration>,
    /// Today (`YYYY-MM-DD`, UTC) while the clock is trusted ([`crate::clock`]); `None`: no
    /// date is shown or encoded anywhere.
    pub(super) today: Option<String>,
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
            today: None,
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

    pub(super) fn starting_view(&self) -> View {
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

    pub(super) fn live_view(&self, ctx: &AppContext) -> View {
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

    pub(super) fn results_view(&self, ctx: &AppContext) -> Option<View> {
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

    /// The result code of the result on screen (results or no close match).
    pub(super) fn code_view(&self, ctx: &AppContext) -> Option<View> {
        let (finding, basis) = match &self.mode {
            Mode::Results {
                candidates, basis, ..
            } => {
                let listed = candidates.iter().map(|c| Listed {
                    rank: c.rank,
                    name: c.name.clone(),
                    omim: c.omim.clone(),
                    band: c.band,
                });
                (Finding::Candidates(listed.collect()), basis)
            }
            Mode::NoCloseMatch { basis } => (Finding::NoCloseMatch, basis),
            _ => return None,
        };
        let summary = Summary {
            finding: Some(finding),
            photos: Some(basis.photos),
            model: Some(basis.model_version.clone()),
            gallery: Some(basis.gallery_version.clone()),
            demo: basis.demo,
            hpo: basis
                .phenotype
                .as_ref()
                .map(|h| h.strip_prefix("HPO ").unwrap_or(h).to_string()),
            device: Some(ctx.device_id.clone()).filter(|d| !d.is_empty()),
            date: self.today.clone(),
            disclaimer: true,
        };
        let code = handoff::fit(&summary, ctx.code_room, ctx.code_candidates)
            .map_err(|e| log::warn!("no result code: {e}"))
            .ok();
        Some(View::ResultCode {
            code,
            demo: basis.demo,
        })
    }

    pub(super) fn ready_to_capture(&self) -> bool {
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
pub(super) fn offers_questions(basis: &Basis, refined: bool) -> bool {
    basis.phenotype.is_some() && !refined
}
