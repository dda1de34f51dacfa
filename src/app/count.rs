//! What the counters count ([`Happening`]) from one event and the state it met, and from the
//! effects of an update. Pure; the run loop hands the result to its
//! [`Tally`](crate::counters::Tally).

use super::event::{Effect, Event};
use super::state::{Mode, State};
use super::ButtonEvent;
use crate::analysis::{AnalyseError, AnalysisOutcome, Refined};
use crate::counters::{Failure, Happening, Versions};
use crate::ui::view::{Basis, CheckState, SelfCheck};
use crate::vision::quality::Issue;

/// What the counters need of the state before an event (read before [`super::update()`] takes
/// it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Before {
    starting: bool,
    preview: bool,
    analysing: bool,
    questions: bool,
    camera_ok: bool,
    /// A capture press would take a photo.
    ready: bool,
    /// Why a capture press would not: the preview's verdict (`None`: no frame).
    issue: Option<Issue>,
}

impl Before {
    pub(super) fn of(s: &State) -> Before {
        let issue = match (&s.last_frame, &s.last_summary) {
            (Some(_), Some(sum)) if s.camera_ok => Some(sum.issue.unwrap_or(Issue::NoFace)),
            _ => None,
        };
        Before {
            starting: s.mode == Mode::Starting,
            preview: s.mode == Mode::Preview,
            analysing: matches!(s.mode, Mode::Analysing { .. }),
            questions: matches!(s.mode, Mode::Questions { .. }),
            camera_ok: s.camera_ok,
            ready: s.ready_to_capture(),
            issue,
        }
    }
}

/// What `event` meant, given the state it met (the same cases [`super::update()`] acts on).
pub(super) fn from_event(before: &Before, event: &Event) -> Vec<Happening> {
    match event {
        Event::Button(ButtonEvent::Capture) if before.preview && !before.ready => {
            vec![Happening::NotTaken(before.issue)]
        }
        Event::Analysed(result) if before.analysing => vec![analysed(result)],
        Event::Refined(Refined::Done { .. }) if before.questions => vec![Happening::QuestionRound],
        Event::CameraLost if before.camera_ok => vec![Happening::Error(Failure::CameraLost)],
        Event::SelfTest(checks) if before.starting => self_test(checks),
        _ => Vec::new(),
    }
}

/// The sessions among an update's effects: each analysis of a patient's photos.
pub(super) fn from_effects(effects: &[Effect]) -> Vec<Happening> {
    effects
        .iter()
        .filter_map(|fx| match fx {
            Effect::Analyse(photos) => Some(Happening::Session {
                photos: photos.len(),
            }),
            _ => None,
        })
        .collect()
}

fn versions(b: &Basis) -> Versions {
    Versions {
        model: b.model_version.clone(),
        gallery: b.gallery_version.clone(),
        hpo: b.phenotype.clone(),
    }
}

fn analysed(result: &Result<AnalysisOutcome, AnalyseError>) -> Happening {
    match result {
        Ok(AnalysisOutcome::Candidates { candidates, basis }) => Happening::Result {
            close_match: !candidates.is_empty(),
            versions: versions(basis),
        },
        Ok(AnalysisOutcome::NoCloseMatch { basis }) => Happening::Result {
            close_match: false,
            versions: versions(basis),
        },
        Err(AnalyseError::NoUsableFace { reason, .. }) => Happening::Retake(*reason),
        Err(AnalyseError::ModelUnavailable { .. }) => Happening::Error(Failure::ModelRefused),
        Err(AnalyseError::GalleryUnavailable { .. }) => Happening::Error(Failure::GalleryRefused),
        Err(AnalyseError::ModelFailed { .. }) => Happening::Error(Failure::ModelFailed),
        Err(AnalyseError::RankingFailed { .. }) => Happening::Error(Failure::RankingFailed),
    }
}

/// A failed or warning start-up line, by part.
fn self_test(checks: &[SelfCheck]) -> Vec<Happening> {
    checks
        .iter()
        .filter_map(|c| {
            let part = c.name.to_ascii_lowercase();
            let f = match (c.state, part.as_str()) {
                (CheckState::Failed, "model") => Failure::ModelRefused,
                (CheckState::Failed, "gallery") => Failure::GalleryRefused,
                (CheckState::Failed, _) => Failure::StartFailed,
                (CheckState::Warning, "gallery") => Failure::LastGoodGallery,
                (CheckState::Warning, _) => Failure::StartWarning,
                (CheckState::Ok | CheckState::Pending, _) => return None,
            };
            Some(Happening::Error(f))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use image::RgbImage;

    use super::*;
    use crate::analysis::{Capture, FrameSummary};
    use crate::app::{update, AppContext};
    use crate::camera::Frame;

    /// One update, and what the counters make of it.
    fn step(s: State, ev: Event, ctx: &AppContext) -> (State, Vec<Happening>) {
        let before = Before::of(&s);
        let mut counted = from_event(&before, &ev);
        let (s, fx) = update(s, ev, ctx);
        counted.extend(from_effects(&fx));
        (s, counted)
    }

    fn frame_with(issue: Option<Issue>) -> Event {
        let summary = match issue {
            None => FrameSummary {
                face_count: 1,
                face_box: Some([0.3, 0.2, 0.7, 0.8]),
                face: None,
                issue: None,
            },
            Some(i) => FrameSummary {
                issue: Some(i),
                ..FrameSummary::no_face(false)
            },
        };
        Event::Frame {
            frame: Frame::new(RgbImage::new(4, 4), 0, Duration::ZERO),
            summary,
        }
    }

    fn basis() -> Basis {
        Basis {
            reference_cases: 10,
            syndromes: 2,
            photos: 1,
            model_version: "model-a".into(),
            gallery_version: "gallery-b".into(),
            demo: false,
            phenotype: None,
        }
    }

    #[test]
    fn a_session_counts_its_refusals_photos_result_and_camera_loss() {
        let ctx = AppContext {
            photos_wanted: 2,
            ..AppContext::default()
        };
        let warn = SelfCheck {
            name: "Gallery".into(),
            state: CheckState::Warning,
            detail: "configured one refused".into(),
        };
        let (s, c) = step(State::new(), Event::SelfTest(vec![warn]), &ctx);
        assert_eq!(c, [Happening::Error(Failure::LastGoodGallery)]);
        let (s, _) = step(s, frame_with(Some(Issue::TooDark)), &ctx);
        let (s, _) = step(s, Event::Button(ButtonEvent::Next), &ctx);
        let (s, c) = step(s, Event::Button(ButtonEvent::Capture), &ctx);
        assert_eq!(c, [Happening::NotTaken(Some(Issue::TooDark))]);
        let (s, _) = step(s, frame_with(None), &ctx);
        let (s, c) = step(s, Event::Button(ButtonEvent::Capture), &ctx);
        assert!(c.is_empty(), "photo 1 taken: {c:?}");
        // Pressed again before the next frame: nothing to take.
        let (s, c) = step(s, Event::Button(ButtonEvent::Capture), &ctx);
        assert_eq!(c, [Happening::NotTaken(None)]);
        // The second photo: one session of two photos, counted once.
        let (s, _) = step(s, frame_with(None), &ctx);
        let (s, c) = step(s, Event::Button(ButtonEvent::Capture), &ctx);
        assert_eq!(c, [Happening::Session { photos: 2 }]);
        let outcome = Ok(AnalysisOutcome::NoCloseMatch { basis: basis() });
        let (s, c) = step(s, Event::Analysed(outcome.clone()), &ctx);
        assert!(matches!(
            c.as_slice(),
            [Happening::Result { close_match: false, versions }] if versions.gallery == "gallery-b"
        ));
        // A late answer the app no longer waits for is not counted again.
        let (s, c) = step(s, Event::Analysed(outcome), &ctx);
        assert!(c.is_empty(), "{c:?}");
        let (s, c) = step(s, Event::CameraLost, &ctx);
        assert_eq!(c, [Happening::Error(Failure::CameraLost)]);
        let (_, c) = step(s, Event::CameraLost, &ctx);
        assert!(c.is_empty(), "a lost camera is counted once");
    }

    #[test]
    fn failed_analyses_count_as_retakes_or_errors() {
        let ctx = AppContext {
            photos_wanted: 1,
            ..AppContext::default()
        };
        for (err, counted) in [
            (
                AnalyseError::NoUsableFace {
                    photos: 1,
                    reason: Issue::Blurred,
                },
                Happening::Retake(Issue::Blurred),
            ),
            (
                AnalyseError::ModelFailed { detail: "x".into() },
                Happening::Error(Failure::ModelFailed),
            ),
        ] {
            let (s, _) = step(State::new(), Event::SelfTest(vec![]), &ctx);
            let (s, _) = step(s, frame_with(None), &ctx);
            let (s, c) = step(s, Event::Button(ButtonEvent::Capture), &ctx);
            assert_eq!(c, [Happening::Session { photos: 1 }]);
            assert!(matches!(s.photos.as_slice(), [] | [Capture { .. }]));
            let (_, c) = step(s, Event::Analysed(Err(err)), &ctx);
            assert_eq!(c, [counted]);
        }
    }
}
