//! The analyzer port: what the device's app asks of the face analysis ([`Analyzer`]) and the
//! answers it gets back (a preview frame's [`FrameSummary`], a patient's [`AnalysisOutcome`] or
//! [`AnalyseError`], a question round's [`Refined`]).
//!
//! Both sides import this module and neither imports the other: [`crate::app`] drives an
//! `Analyzer` it is given, [`crate::screening`] is the real one (detector, embedder, gallery,
//! phenotype questions), and the tests bring fakes.

use crate::camera::Frame;
use crate::hpo::Answer;
pub use crate::ui::view::Progress;
use crate::ui::view::{Basis, Candidate, Guidance, SelfCheck};

/// Where an analysis says how far it has got; called from whichever thread ran the step.
pub type ProgressSink<'a> = dyn Fn(Progress) + Sync + 'a;
use crate::vision::quality::Issue;
use crate::vision::Face;

/// The device's brain, implemented with the real detector, embedder and gallery
/// ([`crate::screening::PipelineAnalyzer`]) and by fakes in tests.
pub trait Analyzer {
    /// Start-up checks (model, gallery). A `Failed` line stops the device on an error screen.
    fn self_test(&mut self) -> Vec<SelfCheck> {
        Vec::new()
    }
    /// Cheap per-frame look: faces, box, quality. Called only while the preview is on screen.
    /// An error means the look itself failed (the detector, or no model to look with), not
    /// that the frame shows no face.
    fn preview(&mut self, frame: &Frame) -> Result<FrameSummary, AnalyseError>;
    /// Full analysis of one patient's photos, each with the face found at capture.
    fn analyse(&mut self, photos: &[Capture]) -> Result<AnalysisOutcome, AnalyseError>;
    /// [`Self::analyse`], telling `progress` how far it has got (photo i of n, model passes
    /// done) as it goes: the screen shows it, and the run loop takes a job that reports
    /// progress for a working one, not a hung one. The default reports nothing.
    fn analyse_reporting(
        &mut self,
        photos: &[Capture],
        progress: &ProgressSink<'_>,
    ) -> Result<AnalysisOutcome, AnalyseError> {
        let _ = progress;
        self.analyse(photos)
    }
    /// Phenotype questions on the last analysis: `answers` to the questions this analyzer
    /// asked, in order → the next question or the re-ranked list. Only called for a result
    /// whose basis names an HPO release.
    fn refine(&mut self, answers: &[Answer]) -> Refined {
        let _ = answers;
        Refined::Unavailable
    }
    /// The session was wiped: drop anything cached about the patient.
    fn clear_session(&mut self) {}
}

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
    /// One well-framed face, ready to capture (the unit tests' usual frame).
    #[cfg(test)]
    pub(crate) fn ready() -> Self {
        FrameSummary {
            face_count: 1,
            face_box: Some([0.3, 0.2, 0.7, 0.8]),
            face: None,
            issue: None,
        }
    }

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

/// The analyzer's answer to [`Analyzer::refine`].
#[derive(Debug, Clone, PartialEq)]
pub enum Refined {
    /// Ask this question next; `number` is 1-based.
    Ask { number: usize, question: String },
    /// The round is over: the candidates re-ranked, each with its evidence line.
    Done { candidates: Vec<Candidate> },
    /// No questions for this result after all (the HPO data or the face likelihood is missing).
    Unavailable,
}

/// Why the analysis (of a patient's photos, or of one preview frame) gave no answer. Each
/// variant says what the clinician can do; `detail` is for the technician (log and the error
/// screen's small line).
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
    /// The detector or embedder failed on these photos (or on the preview frame).
    #[error("model failed: {detail}")]
    ModelFailed { detail: String },
    /// Ranking against the gallery failed.
    #[error("ranking failed: {detail}")]
    RankingFailed { detail: String },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guidance_names_visions_verdict() {
        assert_eq!(guidance(&FrameSummary::ready()), Guidance::Ready);
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
                ..FrameSummary::ready()
            };
            assert_eq!(guidance(&s), g);
        }
        // No verdict and no box is not a face.
        let s = FrameSummary {
            face_box: None,
            ..FrameSummary::ready()
        };
        assert_eq!(guidance(&s), Guidance::NoFace);
    }
}
