//! The state machine's step: [`update`] takes one event and returns the next state and the
//! effects to carry out, one `on_*` handler per kind of event. Pure: no I/O, no clock.

use std::time::Duration;

use super::buttons::ButtonEvent;
use super::event::{Effect, Event, Notice};
use super::state::{offers_questions, AppContext, Mode, State};
use crate::analysis::{
    guidance, AnalyseError, AnalysisOutcome, Capture, FrameSummary, Progress, Refined,
};
use crate::camera::Frame;
use crate::hpo::Answer;
use crate::ui::view::{CheckState, ErrorKind, Guidance, SelfCheck, View};

/// The error screen for an analysis that gave no outcome: what the clinician can do, and the
/// technician's detail.
fn failure_view(e: &AnalyseError) -> View {
    let (kind, technical) = match e {
        AnalyseError::NoUsableFace { reason, .. } => (ErrorKind::Retake(*reason), String::new()),
        AnalyseError::ModelUnavailable { detail } => (ErrorKind::ModelRefused, detail.clone()),
        AnalyseError::GalleryUnavailable { detail } => (ErrorKind::GalleryRefused, detail.clone()),
        AnalyseError::ModelFailed { detail } | AnalyseError::RankingFailed { detail } => {
            (ErrorKind::AnalysisFailed, detail.clone())
        }
    };
    View::Error { kind, technical }
}

/// Emits `view` unless it is already on screen.
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

/// Back to the live preview; the idle clock restarts from now.
fn enter_preview(state: &mut State, ctx: &AppContext, fx: &mut Vec<Effect>) {
    state.mode = Mode::Preview;
    state.last_activity = state.now;
    let v = state.live_view(ctx);
    show(state, v, fx);
}

/// Hands the session's photos to the analyzer and shows "analysing"; the photos leave the
/// state.
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
            progress: None,
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
        Event::Progress(p) => on_progress(&mut state, p, &mut fx),
        Event::Refined(r) => on_refined(&mut state, r, ctx, &mut fx),
        Event::Today(day) => state.today = day,
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
            | Mode::ResultCode { .. }
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
                "ram" => ErrorKind::TooLittleMemory,
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
        (
            Mode::Results { .. } | Mode::NoCloseMatch { .. } | Mode::ResultCode { .. },
            ButtonEvent::Clear,
        )
        | (Mode::AnalysisFailed(_), _) => {
            wipe(state, fx);
            enter_preview(state, ctx, fx);
        }
        (Mode::Results { .. } | Mode::NoCloseMatch { .. } | Mode::ResultCode { .. }, b) => {
            on_code_button(state, b, ctx, fx)
        }
    }
}

/// Capture on a result shows its code for a phone; any button but a long press on the code
/// goes back to the result as it was. (Next on "no close match" does nothing.)
fn on_code_button(state: &mut State, b: ButtonEvent, ctx: &AppContext, fx: &mut Vec<Effect>) {
    match (&state.mode, b) {
        (Mode::Results { .. } | Mode::NoCloseMatch { .. }, ButtonEvent::Capture) => {
            if let Some(v) = state.code_view(ctx) {
                let back = Box::new(std::mem::replace(&mut state.mode, Mode::Blank));
                state.mode = Mode::ResultCode { back };
                show(state, v, fx);
            }
        }
        (Mode::ResultCode { .. }, _) => {
            let Mode::ResultCode { back } = std::mem::replace(&mut state.mode, Mode::Blank) else {
                return;
            };
            state.mode = *back;
            if let Some(v) = state.results_view(ctx) {
                show(state, v, fx);
            }
        }
        _ => {}
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

/// The analysis has got further: "photo i of n" and the bar move on. The result comes when
/// every photo is done (no early result from the first photos: the list ranks all of them
/// together, and a list that changes under the clinician's eyes would mislead).
fn on_progress(state: &mut State, progress: Progress, fx: &mut Vec<Effect>) {
    if let Mode::Analysing { photos } = state.mode {
        let progress = Some(progress);
        show(state, View::Analysing { photos, progress }, fx);
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
                let v = failure_view(&e);
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
mod tests;
