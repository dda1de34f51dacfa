//! The view model: everything a screen shows, decided by the app, drawn by `ui`.

/// Shown on every result screen.
pub const DISCLAIMER: &str = "Screening aid - not a diagnosis";

/// A similarity band, shown instead of a fake percentage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Band {
    /// Close to a reference case of this syndrome.
    Strong,
    Moderate,
    /// Weak resemblance: listed for completeness.
    Weak,
}

impl Band {
    pub fn label(self) -> &'static str {
        match self {
            Band::Strong => "strong",
            Band::Moderate => "moderate",
            Band::Weak => "weak",
        }
    }
}

/// One candidate syndrome on the results screen.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    /// 1-based rank.
    pub rank: usize,
    /// Syndrome name, e.g. "Cornelia de Lange syndrome".
    pub name: String,
    /// OMIM id, e.g. "122470", if known.
    pub omim: Option<String>,
    pub band: Band,
    /// Similarity to the nearest reference case (higher is closer); for logs and JSON, the
    /// screen shows the band.
    pub similarity: f32,
    /// Id of the nearest reference case in the gallery.
    pub nearest_case: String,
}

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

/// Which error screen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    CameraMissing,
    ModelRefused,
    GalleryRefused,
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
        candidates: Vec<Candidate>,
        /// Which page of candidates (the "next" button pages through them).
        page: usize,
        basis: Basis,
    },
    NoCloseMatch {
        basis: Basis,
    },
    Error {
        kind: ErrorKind,
        /// One short line for the clinician (what to do).
        detail: String,
    },
}
