//! The state machine's transitions, one event at a time.

use std::time::Duration;

use image::RgbImage;

use super::update;
use crate::analysis::{AnalysisOutcome, FrameSummary};
use crate::app::{AppContext, ButtonEvent, Effect, Event, Mode, Notice, State};
use crate::camera::Frame;
use crate::ui::view::{Basis, Candidate, CheckState, ErrorKind, Guidance, SelfCheck, View};

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
            summary: FrameSummary::ready(),
        },
        ctx,
    );
    assert_eq!(s.mode, Mode::Preview);
    s
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
        summary: FrameSummary::ready(),
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

/// Progress during the analysis moves the analysing screen on; outside it (a late report
/// after the result) it shows nothing. Buttons while analysing change nothing.
#[test]
fn progress_updates_the_analysing_screen_only_while_analysing() {
    use crate::analysis::Progress;
    let ctx = AppContext::default();
    let s = started(&ctx);
    let (s, _) = update(s, Event::Button(ButtonEvent::Capture), &ctx);
    let (s, _) = update(s, Event::Button(ButtonEvent::Next), &ctx);
    let p = Progress::from_done(3, 2, 3);
    let (s, fx) = update(s, Event::Progress(p), &ctx);
    assert_eq!(
        views(&fx),
        [View::Analysing {
            photos: 1,
            progress: Some(p)
        }]
    );
    // The same report again: the screen is not redrawn.
    let (s, fx) = update(s, Event::Progress(p), &ctx);
    assert!(views(&fx).is_empty());
    for b in [ButtonEvent::Capture, ButtonEvent::Next, ButtonEvent::Clear] {
        let (next, fx) = update(s.clone(), Event::Button(b), &ctx);
        assert_eq!(next.mode, Mode::Analysing { photos: 1 });
        assert!(fx.is_empty(), "{b:?}: {fx:?}");
    }
    let basis = Basis {
        reference_cases: 1,
        syndromes: 1,
        photos: 1,
        model_version: "m".into(),
        gallery_version: "g".into(),
        demo: false,
        phenotype: None,
    };
    let done = Ok(AnalysisOutcome::NoCloseMatch { basis });
    let (s, _) = update(s, Event::Analysed(done), &ctx);
    let (_, fx) = update(s, Event::Progress(p), &ctx);
    assert!(fx.is_empty(), "{fx:?}");
}

/// A failed "RAM" self-test line (the board cannot hold the models) is the
/// "Not enough memory" screen, with what they need and what the board has on its small line.
#[test]
fn a_memory_refusal_at_start_up_is_its_own_screen() {
    let ctx = AppContext::default();
    let detail = "needs 1825 MB, has 906 MB";
    let checks = vec![SelfCheck {
        name: "RAM".into(),
        state: CheckState::Failed,
        detail: detail.into(),
    }];
    let (s, fx) = update(State::new(), Event::SelfTest(checks), &ctx);
    let expected = View::Error {
        kind: ErrorKind::TooLittleMemory,
        technical: format!("RAM: {detail}"),
    };
    assert_eq!(s.mode, Mode::Fatal(expected.clone()));
    assert_eq!(views(&fx), [expected]);
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

/// Capture on a result shows its code (with the trusted day, when there is one); any other
/// button goes back to the same page; a long press wipes the session from the code too.
#[test]
fn capture_on_a_result_shows_its_code_and_a_button_goes_back() {
    let ctx = AppContext {
        photos_wanted: 1,
        per_page: 1,
        device_id: "TEST-DEVICE".into(),
        ..AppContext::default()
    };
    let s = started(&ctx);
    let (s, _) = update(s, Event::Today(Some("2026-12-07".into())), &ctx);
    let (s, _) = update(s, Event::Button(ButtonEvent::Capture), &ctx);
    let cand = |rank: usize| Candidate {
        rank,
        name: format!("Syndrome {rank}"),
        omim: Some(format!("10000{rank}")),
        genes: vec![],
        band: crate::ui::view::Band::Moderate,
        similarity: 0.5,
        nearest_case: "c".into(),
        evidence: None,
    };
    let basis = Basis {
        reference_cases: 1,
        syndromes: 2,
        photos: 1,
        model_version: "m".into(),
        gallery_version: "g".into(),
        demo: false,
        phenotype: None,
    };
    let outcome = AnalysisOutcome::Candidates {
        candidates: (1..=2).map(cand).collect(),
        basis,
    };
    let (s, _) = update(s, Event::Analysed(Ok(outcome)), &ctx);
    let (s, page2) = update(s, Event::Button(ButtonEvent::Next), &ctx);
    let (s, fx) = update(s, Event::Button(ButtonEvent::Capture), &ctx);
    let shown = views(&fx);
    let [View::ResultCode {
        code: Some(code),
        demo: false,
    }] = shown.as_slice()
    else {
        panic!("{fx:?}")
    };
    let summary = crate::handoff::parse(&code.text).unwrap();
    assert_eq!(summary.date.as_deref(), Some("2026-12-07"));
    assert_eq!(summary.device.as_deref(), Some("TEST-DEVICE"));
    assert_eq!(s.mode.name(), "result code");
    // Back to page 2 as it was.
    let (s, fx) = update(s, Event::Button(ButtonEvent::Next), &ctx);
    assert_eq!(views(&fx), views(&page2));
    // No trusted day: no date in the code.
    let (s, _) = update(s, Event::Today(None), &ctx);
    let (s, fx) = update(s, Event::Button(ButtonEvent::Capture), &ctx);
    let shown = views(&fx);
    let [View::ResultCode {
        code: Some(code), ..
    }] = shown.as_slice()
    else {
        panic!("{fx:?}")
    };
    assert_eq!(crate::handoff::parse(&code.text).unwrap().date, None);
    let (s, fx) = update(s, Event::Button(ButtonEvent::Clear), &ctx);
    assert!(fx.contains(&Effect::ClearSession));
    assert_eq!(s.mode, Mode::Preview);
}
