//! The state machine's inputs ([`Event`]) and outputs ([`Effect`]), and the service manager's
//! messages ([`Notice`]).

use std::time::Duration;

use super::buttons::ButtonEvent;
use crate::analysis::{AnalyseError, AnalysisOutcome, Capture, FrameSummary, Progress, Refined};
use crate::camera::Frame;
use crate::hpo::Answer;
use crate::ui::view::{SelfCheck, View};

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

/// Inputs to [`update`](super::update()).
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
    /// How far the analysis of [`Effect::Analyse`] has got (with an analysis thread).
    Progress(Progress),
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
    /// Today's date (`YYYY-MM-DD`, UTC) while the clock is trusted, `None` when it is not
    /// ([`crate::clock::TrustedClock::today`]); sent when it changes.
    Today(Option<String>),
}

/// Outputs of [`update`](super::update()), carried out by the run loop in order.
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
