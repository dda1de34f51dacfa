//! What a programme that runs devices needs to know, without patient data: counts per day of
//! use, the device's own signing key and the signed usage report.
//!
//! - [`Happening`]: one thing worth counting (a session, a photo not taken and why, a result
//!   with or without a close match, an error by kind). The run loop derives them from the
//!   app's events and effects ([`crate::app::run`]) and hands them to a [`Tally`].
//! - [`tally`]: the counts themselves ([`Counters`], one [`DayCounts`] per day of use, at most
//!   [`MAX_DAYS`] days kept), pure.
//! - [`store`]: the [`Recorder`], the device's [`Tally`]: the counts kept in
//!   `<state_dir>/counters.json`, written atomically.
//! - [`key`]: the device's ed25519 key (made on first start in `state_dir`, 0600) and its
//!   short [`DeviceKey::device_id`].
//! - [`report`]: the usage report: versioned JSON plus a detached signature by the device key.
//!
//! The day is the caller's: `Some("YYYY-MM-DD")` when the clock is trustworthy, `None` when it
//! is not (those counts go under [`UNDATED`]). Nothing here holds an image, an embedding, a
//! name, a candidate or a time finer than a day; `docs/usage-report.md` lists what is counted.

pub mod key;
pub mod report;
pub mod store;
pub mod tally;

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub use key::DeviceKey;
pub use report::Report;
pub use store::Recorder;
pub use tally::{Counters, DayCounts, MAX_DAYS, UNDATED};

use crate::vision::quality::Issue;

/// Why the counters, the device key or a report could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum CountersError {
    #[error("reading {}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("writing {}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: {message}", path.display())]
    Format { path: PathBuf, message: String },
    #[error("device key {}: {message}", path.display())]
    Key { path: PathBuf, message: String },
    #[error("no device key in {}: it is made when the device first starts", dir.display())]
    NoKey { dir: PathBuf },
    #[error("{}: the signature does not match this report and key", sig.display())]
    BadSignature { sig: PathBuf },
}

/// One thing the counters count. Kinds only: no photo, face, name or time of day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Happening {
    /// Capture was pressed and no photo was taken; why (what the preview's guidance said;
    /// `None`: no frame to take, e.g. no camera).
    NotTaken(Option<Issue>),
    /// A patient's photos went to the analysis.
    Session {
        photos: usize,
    },
    /// The analysis found no usable face in the photos: the clinician is asked to retake.
    Retake(Issue),
    /// A result on screen: ranked candidates (`close_match`) or "no close match", made with
    /// these versions.
    Result {
        close_match: bool,
        versions: Versions,
    },
    /// A round of phenotype questions ended with a re-ranked list.
    QuestionRound,
    Error(Failure),
}

/// The model, gallery and HPO release behind a result.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Versions {
    pub model: String,
    pub gallery: String,
    /// The HPO release of the questions, when they were offered.
    pub hpo: Option<String>,
}

/// Errors by kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// Frames stopped (unplugged, or the camera hung).
    CameraLost,
    /// The models were refused at start-up (or an analysis met them so).
    ModelRefused,
    /// The gallery was refused at start-up (or an analysis met it so).
    GalleryRefused,
    /// The configured gallery was refused and the last good copy is in use.
    LastGoodGallery,
    /// Another start-up check failed.
    StartFailed,
    /// Another start-up check warned (e.g. no phenotype questions).
    StartWarning,
    /// The detector or embedder failed on a patient's photos.
    ModelFailed,
    /// Ranking against the gallery failed.
    RankingFailed,
    /// The preview's look at a frame failed.
    PreviewFailed,
    /// A capture could not be saved (saving on).
    SaveFailed,
    /// Reading the buttons failed.
    ButtonsFailed,
}

impl Failure {
    /// The key in the counters file and the report.
    pub fn key(self) -> &'static str {
        match self {
            Failure::CameraLost => "camera_lost",
            Failure::ModelRefused => "model_refused",
            Failure::GalleryRefused => "gallery_refused",
            Failure::LastGoodGallery => "last_good_gallery",
            Failure::StartFailed => "start_failed",
            Failure::StartWarning => "start_warning",
            Failure::ModelFailed => "model_failed",
            Failure::RankingFailed => "ranking_failed",
            Failure::PreviewFailed => "preview_failed",
            Failure::SaveFailed => "save_failed",
            Failure::ButtonsFailed => "buttons_failed",
        }
    }
}

/// The key of a framing problem in the counters file and the report.
pub fn issue_key(issue: Issue) -> &'static str {
    match issue {
        Issue::NoFace => "no_face",
        Issue::SeveralFaces => "several_faces",
        Issue::TooSmall => "too_small",
        Issue::TooDark => "too_dark",
        Issue::Blurred => "blurred",
        Issue::TurnedAway => "turned_away",
    }
}

/// Where the run loop's counts go (the device's: a [`Recorder`]). `now` is the loop's clock
/// (time since the device started), for the uptime.
pub trait Tally {
    /// The device starts running.
    fn start(&mut self, now: Duration);
    fn count(&mut self, what: &Happening, now: Duration);
    /// Once per loop iteration: the time the device has been up.
    fn tick(&mut self, now: Duration);
    /// The device stops in order.
    fn stop(&mut self, now: Duration);
}

/// A [`Tally`] shared between the run loop and whoever reads it afterwards.
#[derive(Clone)]
pub struct Handle(pub Arc<Mutex<dyn Tally + Send>>);

impl Handle {
    pub fn new(tally: impl Tally + Send + 'static) -> Self {
        Handle(Arc::new(Mutex::new(tally)))
    }

    /// Runs `f` on the tally (a poisoned lock is taken over: counts are not worth a panic).
    pub fn with(&self, f: impl FnOnce(&mut dyn Tally)) {
        let mut t = self.0.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut *t);
    }
}

impl std::fmt::Debug for Handle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("counters::Handle")
    }
}
