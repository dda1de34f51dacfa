//! The view model: everything a screen shows, decided by the app, drawn by `ui`.

/// Shown on every result screen.
pub const DISCLAIMER: &str = "Screening aid - not a diagnosis";

pub use crate::gallery::candidate::{Band, Candidate};
use crate::vision::quality::Issue;

/// What a result is based on; shown on every result screen.
#[derive(Debug, Clone, PartialEq)]
pub struct Basis {
    /// Reference cases in the gallery.
    pub reference_cases: usize,
    /// Syndromes (labels) in the gallery.
    pub syndromes: usize,
    /// Photos of this patient that were combined.
    pub photos: usize,
    pub model_version: String,
    pub gallery_version: String,
    /// The bundled demo gallery (not clinical data): every screen says DEMO.
    pub demo: bool,
    /// The HPO release of the phenotype questions (`HPO 2025-01-16`) when the device offers
    /// them for this result; the footer names it.
    pub phenotype: Option<String>,
}

/// Framing advice on the live preview.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Guidance {
    NoFace,
    MoveCloser,
    TooDark,
    Blurred,
    TurnToCamera,
    OneFaceOnly,
    /// A usable face: press capture.
    Ready,
}

impl Guidance {
    pub fn text(self) -> &'static str {
        match self {
            Guidance::NoFace => "No face found",
            Guidance::MoveCloser => "Move closer",
            Guidance::TooDark => "Too dark - add light",
            Guidance::Blurred => "Blurred - hold still",
            Guidance::TurnToCamera => "Turn face to camera",
            Guidance::OneFaceOnly => "One face only",
            Guidance::Ready => "Ready - press capture",
        }
    }
}

/// State of one start-up self-test line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckState {
    Pending,
    Ok,
    /// Usable, but the clinician must know (e.g. the configured gallery was refused and the
    /// last good one is in use): the start-up screen stays until a button is pressed.
    Warning,
    Failed,
}

/// One line of the start-up self-test.
#[derive(Debug, Clone, PartialEq)]
pub struct SelfCheck {
    /// "Model", "Gallery", "Camera".
    pub name: String,
    pub state: CheckState,
    /// Short detail, e.g. the model hash prefix or "not found".
    pub detail: String,
}

/// Which error screen: each says what happened and what to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// No frames from the camera (the device reconnects by itself).
    CameraMissing,
    ModelRefused,
    GalleryRefused,
    /// The captured photos had no usable face: retake, for this reason.
    Retake(Issue),
    /// The analysis itself failed.
    AnalysisFailed,
    Other,
}

/// Everything the display can show.
#[derive(Debug, Clone, PartialEq)]
pub enum View {
    /// Display off / idle timeout.
    Blank,
    Starting {
        checks: Vec<SelfCheck>,
    },
    Preview {
        /// Face box as fractions of the frame, `[x0, y0, x1, y1]` in 0..=1.
        face_box: Option<[f32; 4]>,
        guidance: Guidance,
        /// Photos already captured for this patient, and how many the session asks for.
        photos_taken: usize,
        photos_wanted: usize,
    },
    Capturing {
        photo: usize,
        of: usize,
    },
    Analysing {
        photos: usize,
    },
    Results {
        /// The candidates on this page, in rank order (the app pages; the screen draws them).
        candidates: Vec<Candidate>,
        /// 0-based page and the number of pages ("next" pages through them).
        page: usize,
        pages: usize,
        /// Candidates over all pages.
        total: usize,
        basis: Basis,
        /// "Next" on this page starts the phenotype questions (the screen says so).
        questions_next: bool,
    },
    /// One phenotype question: capture = yes, next = no, clear = don't know.
    Question {
        /// 1-based, of at most `max`.
        number: usize,
        max: usize,
        /// Short bedside wording, e.g. "Congenital heart defect?".
        question: String,
        basis: Basis,
    },
    NoCloseMatch {
        basis: Basis,
    },
    Error {
        kind: ErrorKind,
        /// Technician detail (hashes, paths, errno): one small line at the bottom, may be empty.
        /// What happened and what to do come from `kind`.
        technical: String,
    },
}
