//! The whole device in-process: replay camera + scripted buttons + a fake analyzer + manual
//! clock → the sequence of views.
//!
//! - full_session: start → preview → 3 captures → results → next page → clear → preview
//! - camera_unplugged_mid_session / camera_missing_at_start: error screen, resumes by itself
//! - idle_timeout_wipes: results blank after the timeout, session wiped, button wakes
//! - guidance_*: no face / dark / blurred / turn / one face / move closer / ready
//! - capture_without_usable_face_does_not_advance
//! - no_close_match_and_analysis_error paths
//! - saving_disabled_writes_nothing / saving_enabled_writes_private_files
//! - failed_self_test_stays_on_error / notifications

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::common;

use common::{opts, Notices, Screen, TICK};
use gestaltcam::analysis::{
    AnalyseError, AnalysisOutcome, Analyzer, Capture as Photo, FrameSummary, Refined,
};
use gestaltcam::app::{
    run_device, AppContext, ButtonEvent, Device, Notice, RunOptions, RunReport, ScriptedButtons,
};
use gestaltcam::camera::{
    Backoff, Camera, CameraError, Clock, Frame, ManualClock, Reconnecting, ReplayCamera,
};
use gestaltcam::hpo::Answer as Reply;
use gestaltcam::ui::view::{Band, Basis, Candidate, CheckState, SelfCheck, View};
use gestaltcam::vision::quality::Issue;
use image::{Rgb, RgbImage};

use ButtonEvent::{Capture, Clear, Next};

// Scene codes: the red value of pixel (0, 0) tells the fake analyzer what it "sees".
const READY: u8 = 128;
const NO_FACE: u8 = 200;
const DARK: u8 = 10;
const BLURRED: u8 = 60;
const TURNED: u8 = 90;
const TWO_FACES: u8 = 30;
const SMALL: u8 = 70;

fn scene(code: u8) -> RgbImage {
    RgbImage::from_pixel(16, 12, Rgb([code, 0, 0]))
}

#[derive(Clone, Copy, PartialEq)]
enum Answer {
    Candidates,
    NoMatch,
    Fail,
}

struct FakeAnalyzer {
    answer: Answer,
    gallery_ok: bool,
    analysed: Vec<usize>,
    previews: usize,
    clears: usize,
    /// Offer phenotype questions with the candidates (two, then a reversed list).
    questions: bool,
    /// The answers each `refine` call received.
    refines: Vec<Vec<Reply>>,
}

impl FakeAnalyzer {
    fn new(answer: Answer) -> Self {
        FakeAnalyzer {
            answer,
            gallery_ok: true,
            analysed: Vec::new(),
            previews: 0,
            clears: 0,
            questions: false,
            refines: Vec::new(),
        }
    }
}

fn basis(photos: usize) -> Basis {
    Basis {
        reference_cases: 40,
        syndromes: 8,
        photos,
        model_version: "test-model".into(),
        gallery_version: "test-gallery".into(),
        demo: true,
        phenotype: None,
    }
}

impl Analyzer for FakeAnalyzer {
    fn self_test(&mut self) -> Vec<SelfCheck> {
        let check = |name: &str, ok: bool| SelfCheck {
            name: name.into(),
            state: if ok {
                CheckState::Ok
            } else {
                CheckState::Failed
            },
            detail: if ok {
                "ok".into()
            } else {
                "bad signature".into()
            },
        };
        vec![check("Model", true), check("Gallery", self.gallery_ok)]
    }

    fn preview(&mut self, frame: &Frame) -> Result<FrameSummary, AnalyseError> {
        self.previews += 1;
        let face = Some([0.3, 0.2, 0.7, 0.8]);
        let mut s = FrameSummary {
            face_count: 1,
            face_box: face,
            face: None,
            issue: None,
        };
        match frame.image.get_pixel(0, 0)[0] {
            READY => {}
            DARK => s = FrameSummary::no_face(true),
            BLURRED => s.issue = Some(Issue::Blurred),
            TURNED => s.issue = Some(Issue::TurnedAway),
            TWO_FACES => {
                s.face_count = 2;
                s.issue = Some(Issue::SeveralFaces);
            }
            SMALL => {
                s.face_box = Some([0.45, 0.45, 0.55, 0.55]);
                s.issue = Some(Issue::TooSmall);
            }
            _ => s = FrameSummary::no_face(false),
        }
        Ok(s)
    }

    fn analyse(&mut self, photos: &[Photo]) -> Result<AnalysisOutcome, AnalyseError> {
        self.analysed.push(photos.len());
        match self.answer {
            Answer::Candidates => Ok(AnalysisOutcome::Candidates {
                candidates: (1..=5)
                    .map(|rank| Candidate {
                        rank,
                        name: format!("Syndrome {rank}"),
                        omim: Some(format!("{}", 100000 + rank)),
                        genes: vec![format!("GENE{rank}")],
                        band: if rank == 1 { Band::Strong } else { Band::Weak },
                        similarity: 1.0 / rank as f32,
                        nearest_case: format!("case-{rank}"),
                        evidence: None,
                    })
                    .collect(),
                basis: Basis {
                    phenotype: self.questions.then(|| "HPO test".to_string()),
                    ..basis(photos.len())
                },
            }),
            Answer::NoMatch => Ok(AnalysisOutcome::NoCloseMatch {
                basis: basis(photos.len()),
            }),
            Answer::Fail => Err(AnalyseError::NoUsableFace {
                photos: photos.len(),
                reason: Issue::SeveralFaces,
            }),
        }
    }

    fn refine(&mut self, answers: &[Reply]) -> Refined {
        self.refines.push(answers.to_vec());
        match answers.len() {
            n @ (0 | 1) => Refined::Ask {
                number: n + 1,
                question: ["Heart defect?", "Seizures?"][n].into(),
            },
            _ => Refined::Done {
                candidates: (1..=5)
                    .rev()
                    .enumerate()
                    .map(|(i, was)| Candidate {
                        rank: i + 1,
                        name: format!("Syndrome {was}"),
                        omim: None,
                        genes: Vec::new(),
                        band: Band::Weak,
                        similarity: 0.5,
                        nearest_case: format!("case-{was}"),
                        evidence: Some(format!("+Heart defect (was #{was})")),
                    })
                    .collect(),
            },
        }
    }

    fn clear_session(&mut self) {
        self.clears += 1;
    }
}

/// A short name for each view, to compare sequences.
fn tag(v: &View) -> String {
    match v {
        View::Blank => "blank".into(),
        View::Starting { .. } => "starting".into(),
        View::Preview {
            guidance,
            photos_taken,
            photos_wanted,
            not_taken,
            ..
        } => format!(
            "preview {photos_taken}/{photos_wanted} {guidance:?}{}",
            if *not_taken { " (not taken)" } else { "" }
        ),
        View::Capturing { photo, of } => format!("capture {photo}/{of}"),
        View::Analysing { photos } => format!("analysing {photos}"),
        View::Results { page, .. } => format!("results p{page}"),
        View::Question {
            number, question, ..
        } => format!("question {number} {question}"),
        View::NoCloseMatch { .. } => "no match".into(),
        View::Error { kind, .. } => format!("error {kind:?}"),
        View::Notice { text, .. } => format!("notice {text}"),
    }
}

/// Three photos per patient, the top 10 two to a page, a one-minute idle timeout.
fn ctx() -> AppContext {
    common::ctx(3, 10, Duration::from_secs(60))
}

struct Outcome {
    views: Vec<View>,
    notices: Vec<Notice>,
    analyzer: FakeAnalyzer,
    report: RunReport,
}

impl Outcome {
    fn tags(&self) -> Vec<String> {
        self.views.iter().map(tag).collect()
    }
}

fn run_with<C: Camera>(
    camera: C,
    clock: ManualClock,
    script: &[(u64, ButtonEvent)],
    analyzer: FakeAnalyzer,
    ctx: &AppContext,
    opts: RunOptions,
) -> Outcome {
    let mut dev = Device {
        camera,
        buttons: ScriptedButtons::at_frames(script.iter().copied()),
        clock,
        analyzer,
        display: Screen::default(),
        notifier: Notices::default(),
    };
    let report = run_device(&mut dev, ctx, &opts);
    Outcome {
        views: dev.display.0,
        notices: dev.notifier.0,
        analyzer: dev.analyzer,
        report,
    }
}

fn run_scenes(
    scenes: &[u8],
    script: &[(u64, ButtonEvent)],
    answer: Answer,
    ctx: &AppContext,
    iterations: u64,
) -> Outcome {
    let cam = ReplayCamera::from_images(scenes.iter().map(|&c| scene(c)).collect(), 10.0).unwrap();
    run_with(
        cam,
        ManualClock::new(),
        script,
        FakeAnalyzer::new(answer),
        ctx,
        opts(iterations),
    )
}

/// A result that offers phenotype questions: "next" past the last page asks them (capture =
/// yes, next = no), then shows the re-ranked list with what the answers did, pages through it,
/// and never offers a second round; clear wipes the session.
#[test]
fn phenotype_questions_after_the_last_page_re_rank_the_list() {
    let script = [
        (3, Capture),
        (5, Capture),
        (7, Capture),
        (9, Next),
        (11, Next),
        (13, Next),    // past the last page: the first question
        (15, Capture), // yes
        (17, Next),    // no: the round ends
        (19, Next),
        (21, Next),
        (23, Next), // the refined list wraps: no second round
        (25, Clear),
    ];
    let cam = ReplayCamera::from_images(vec![scene(READY)], 10.0).unwrap();
    let mut analyzer = FakeAnalyzer::new(Answer::Candidates);
    analyzer.questions = true;
    let out = run_with(cam, ManualClock::new(), &script, analyzer, &ctx(), opts(28));
    let tags = out.tags();
    let from = tags.iter().position(|t| t == "results p0").unwrap();
    assert_eq!(
        tags[from..],
        [
            "results p0",
            "results p1",
            "results p2",
            "question 1 Heart defect?",
            "question 2 Seizures?",
            "results p0",
            "results p1",
            "results p2",
            "results p0",
            "preview 0/3 Ready",
        ]
    );
    assert_eq!(
        out.analyzer.refines,
        vec![vec![], vec![Reply::Yes], vec![Reply::Yes, Reply::No]]
    );
    let results: Vec<&View> = out
        .views
        .iter()
        .filter(|v| matches!(v, View::Results { .. }))
        .collect();
    // Only the face list's last page offers the questions; the refined list carries evidence.
    let offers: Vec<bool> = results
        .iter()
        .map(|v| {
            matches!(
                v,
                View::Results {
                    questions_next: true,
                    ..
                }
            )
        })
        .collect();
    assert_eq!(offers, [false, false, true, false, false, false, false]);
    let View::Results {
        candidates, basis, ..
    } = results[3]
    else {
        unreachable!()
    };
    assert_eq!(candidates[0].name, "Syndrome 5");
    assert_eq!(
        candidates[0].evidence.as_deref(),
        Some("+Heart defect (was #5)")
    );
    assert_eq!(basis.phenotype.as_deref(), Some("HPO test"));
    let View::Question { max, basis, .. } = out
        .views
        .iter()
        .find(|v| matches!(v, View::Question { .. }))
        .unwrap()
    else {
        unreachable!()
    };
    assert_eq!(*max, gestaltcam::hpo::MAX_QUESTIONS);
    assert_eq!(basis.phenotype.as_deref(), Some("HPO test"));
    assert_eq!(out.analyzer.clears, 1, "clear wiped the session");
}

#[test]
fn full_session() {
    let script = [
        (3, Capture),
        (5, Capture),
        (7, Capture),
        (9, Next),
        (11, Clear),
    ];
    let out = run_scenes(&[READY], &script, Answer::Candidates, &ctx(), 14);
    assert_eq!(
        out.tags(),
        vec![
            "starting",
            "starting",
            "preview 0/3 Ready",
            "capture 1/3",
            "preview 1/3 Ready",
            "capture 2/3",
            "preview 2/3 Ready",
            "capture 3/3",
            "analysing 3",
            "results p0",
            "results p1",
            "preview 0/3 Ready",
        ]
    );
    // Before the self-test: only the camera line; after: the self-test lines plus the camera,
    // pending until the first frame.
    assert!(matches!(&out.views[0], View::Starting { checks } if checks.len() == 1));
    let View::Starting { checks } = &out.views[1] else {
        panic!("first view is not Starting")
    };
    let names: Vec<&str> = checks.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["Model", "Gallery", "Camera"]);
    assert_eq!(checks[2].state, CheckState::Pending);
    // Results carry all 5 candidates (top_k 10 > 5), 2 a page, and the basis.
    let View::Results {
        candidates,
        basis,
        total,
        pages,
        ..
    } = &out.views[9]
    else {
        panic!("not results")
    };
    assert_eq!((*total, *pages), (5, 3));
    assert_eq!(candidates.len(), 2);
    assert_eq!(candidates[0].name, "Syndrome 1");
    assert_eq!(basis.photos, 3);
    assert_eq!(out.analyzer.analysed, vec![3]);
    assert_eq!(out.analyzer.clears, 1);
    assert_eq!(out.report.iterations, 14);
    assert_eq!(out.report.analyses, 1);
    assert_eq!(out.report.final_mode, "preview");
    // No preview analysis while results were on screen (iterations 7..=10).
    assert_eq!(out.analyzer.previews, 14 - 4);
}

#[test]
fn next_during_capture_finishes_early_and_top_k_truncates() {
    let ctx = AppContext { top_k: 3, ..ctx() };
    let out = run_scenes(
        &[READY],
        &[(2, Capture), (4, Next)],
        Answer::Candidates,
        &ctx,
        6,
    );
    assert_eq!(
        out.tags(),
        vec![
            "starting",
            "starting",
            "preview 0/3 Ready",
            "capture 1/3",
            "preview 1/3 Ready",
            "analysing 1",
            "results p0",
        ]
    );
    let View::Results {
        candidates, total, ..
    } = out.views.last().unwrap()
    else {
        panic!("not results")
    };
    assert_eq!(*total, 3);
    assert_eq!(candidates.len(), 2);
}

/// A camera that is unplugged while the shared clock is inside `gone`.
struct Pluggable {
    inner: ReplayCamera,
    clock: ManualClock,
    gone: std::ops::Range<Duration>,
}

impl Camera for Pluggable {
    fn frame(&mut self) -> Result<Frame, CameraError> {
        if self.gone.contains(&self.clock.now()) {
            Err(CameraError::Disconnected("unplugged".into()))
        } else {
            self.inner.frame()
        }
    }
}

fn pluggable_camera(clock: &ManualClock, gone: std::ops::Range<Duration>) -> impl Camera {
    let c = clock.clone();
    let factory = move || {
        if gone.contains(&c.now()) {
            Err(CameraError::Disconnected("no /dev/video0".into()))
        } else {
            Ok(Pluggable {
                inner: ReplayCamera::from_images(vec![scene(READY)], 10.0).unwrap(),
                clock: c.clone(),
                gone: gone.clone(),
            })
        }
    };
    let backoff = Backoff {
        initial: Duration::from_millis(100),
        max: Duration::from_millis(400),
    };
    Reconnecting::new(factory, clock.clone(), backoff)
}

#[test]
fn camera_unplugged_mid_session_then_replugged_continues() {
    let clock = ManualClock::new();
    let cam = pluggable_camera(&clock, Duration::from_secs(1)..Duration::from_secs(2));
    let script = [(3, Capture), (24, Capture), (26, Capture)];
    let out = run_with(
        cam,
        clock,
        &script,
        FakeAnalyzer::new(Answer::Candidates),
        &ctx(),
        opts(30),
    );
    assert_eq!(
        out.tags(),
        vec![
            "starting",
            "starting",
            "preview 0/3 Ready",
            "capture 1/3",
            "preview 1/3 Ready",
            "error CameraMissing",
            // Back by itself, and the photo taken before the unplug is still there.
            "preview 1/3 Ready",
            "capture 2/3",
            "preview 2/3 Ready",
            "capture 3/3",
            "analysing 3",
            "results p0",
        ]
    );
    assert_eq!(out.analyzer.analysed, vec![3]);
    assert!(out.report.camera_errors >= 4, "{:?}", out.report);
}

#[test]
fn camera_missing_at_start_shows_error_then_resumes() {
    let clock = ManualClock::new();
    let cam = pluggable_camera(&clock, Duration::ZERO..Duration::from_millis(500));
    let out = run_with(
        cam,
        clock,
        &[],
        FakeAnalyzer::new(Answer::Candidates),
        &ctx(),
        opts(12),
    );
    assert_eq!(
        out.tags(),
        vec![
            "starting",
            "starting",
            "error CameraMissing",
            "preview 0/3 Ready"
        ]
    );
    // What to do comes from the kind; no technician detail for a missing camera.
    let View::Error { technical, .. } = &out.views[2] else {
        panic!("not an error")
    };
    assert_eq!(technical, "");
}

#[test]
fn idle_timeout_blanks_results_and_wipes_the_session() {
    let ctx = AppContext {
        idle_timeout: Duration::from_secs(2),
        ..ctx()
    };
    let script = [(2, Capture), (3, Capture), (4, Capture), (30, Capture)];
    // Stop before the timeout: results still shown.
    let early = run_scenes(&[READY], &script, Answer::Candidates, &ctx, 23);
    assert_eq!(early.tags().last().unwrap(), "results p0");
    assert_eq!(early.analyzer.clears, 0);

    let out = run_scenes(&[READY], &script, Answer::Candidates, &ctx, 32);
    let tags = out.tags();
    assert_eq!(
        tags[tags.len() - 3..],
        ["results p0", "blank", "preview 0/3 Ready"]
    );
    assert_eq!(out.analyzer.clears, 1);
    // The wake-up press did not take a photo.
    assert_eq!(out.analyzer.analysed, vec![3]);
}

#[test]
fn guidance_follows_the_frame_summary() {
    let scenes = [NO_FACE, DARK, BLURRED, TURNED, TWO_FACES, SMALL, READY];
    let out = run_scenes(&scenes, &[], Answer::Candidates, &ctx(), 7);
    assert_eq!(
        out.tags(),
        vec![
            "starting",
            "starting",
            "preview 0/3 NoFace",
            "preview 0/3 TooDark",
            "preview 0/3 Blurred",
            "preview 0/3 TurnToCamera",
            "preview 0/3 OneFaceOnly",
            "preview 0/3 MoveCloser",
            "preview 0/3 Ready",
        ]
    );
    // The face box reaches the view; none without a face.
    assert!(matches!(out.views[2], View::Preview { face_box: None, .. }));
    assert!(matches!(
        out.views[8],
        View::Preview {
            face_box: Some(_),
            ..
        }
    ));
}

#[test]
fn capture_without_usable_face_does_not_advance() {
    for (code, why) in [(NO_FACE, "NoFace"), (DARK, "TooDark"), (BLURRED, "Blurred")] {
        let out = run_scenes(
            &[code],
            &[(2, Capture), (4, Capture), (5, Next)],
            Answer::Candidates,
            &ctx(),
            8,
        );
        // The press is answered on screen: "Not taken" with the reason, no photo.
        assert_eq!(
            out.tags()[2..],
            [
                format!("preview 0/3 {why}"),
                format!("preview 0/3 {why} (not taken)")
            ],
            "{:?}",
            out.tags()
        );
        assert!(out.analyzer.analysed.is_empty());
    }
    // The note goes after NOT_TAKEN_SHOWN.
    let iterations = 8 + (gestaltcam::app::NOT_TAKEN_SHOWN.as_millis() / TICK.as_millis()) as u64;
    let out = run_scenes(
        &[NO_FACE],
        &[(2, Capture)],
        Answer::Candidates,
        &ctx(),
        iterations,
    );
    assert_eq!(
        out.tags()[2..],
        [
            "preview 0/3 NoFace",
            "preview 0/3 NoFace (not taken)",
            "preview 0/3 NoFace"
        ]
    );
}

#[test]
fn no_close_match_and_analysis_error() {
    let script = [(2, Capture), (3, Next), (5, Next), (7, Clear)];
    let out = run_scenes(&[READY], &script, Answer::NoMatch, &ctx(), 9);
    assert_eq!(
        out.tags()[5..],
        ["analysing 1", "no match", "preview 0/3 Ready"]
    );
    assert_eq!(out.analyzer.clears, 1);

    let script = [(2, Capture), (3, Next), (5, Capture)];
    let out = run_scenes(&[READY], &script, Answer::Fail, &ctx(), 7);
    assert_eq!(
        out.tags()[5..],
        [
            "analysing 1",
            "error Retake(SeveralFaces)",
            "preview 0/3 Ready"
        ]
    );
}

#[test]
fn failed_self_test_stays_on_error() {
    let mut analyzer = FakeAnalyzer::new(Answer::Candidates);
    analyzer.gallery_ok = false;
    let cam = ReplayCamera::from_images(vec![scene(READY)], 10.0).unwrap();
    let out = run_with(
        cam,
        ManualClock::new(),
        &[(2, Capture), (3, Next)],
        analyzer,
        &ctx(),
        opts(6),
    );
    assert_eq!(out.tags(), vec!["starting", "error GalleryRefused"]);
    assert_eq!(out.analyzer.previews, 0);
    assert!(!out.notices.contains(&Notice::Ready));
}

#[test]
fn notifications_ready_status_and_watchdog() {
    let out = run_scenes(&[READY], &[], Answer::Candidates, &ctx(), 25);
    assert_eq!(
        out.notices.iter().filter(|n| **n == Notice::Ready).count(),
        1
    );
    assert!(out.notices.contains(&Notice::Status("preview".into())));
    // 25 iterations of 100 ms, watchdog every second: at 0, 1 and 2 s.
    assert_eq!(
        out.notices
            .iter()
            .filter(|n| **n == Notice::Watchdog)
            .count(),
        3
    );
}

#[test]
fn shutdown_flag_stops_the_loop() {
    let flag = Arc::new(AtomicBool::new(true));
    let cam = ReplayCamera::from_images(vec![scene(READY)], 10.0).unwrap();
    let out = run_with(
        cam,
        ManualClock::new(),
        &[],
        FakeAnalyzer::new(Answer::Candidates),
        &ctx(),
        RunOptions {
            shutdown: Some(flag.clone()),
            ..RunOptions::default()
        },
    );
    assert_eq!(out.report.iterations, 0);
    flag.store(false, Ordering::SeqCst);
}

/// A SIGTERM (the flag) while a patient's results are on screen blanks the panel and wipes
/// the session before the loop ends.
#[test]
fn shutdown_during_results_blanks_the_panel() {
    let flag = Arc::new(AtomicBool::new(false));
    let seen = Arc::new(Mutex::new(Vec::new()));
    let (f, v) = (flag.clone(), seen.clone());
    let display = move |view: &View| {
        if matches!(view, View::Results { .. }) {
            f.store(true, Ordering::SeqCst);
        }
        v.lock().unwrap().push(view.clone());
    };
    let mut dev = Device {
        camera: ReplayCamera::from_images(vec![scene(READY)], 10.0).unwrap(),
        buttons: ScriptedButtons::at_frames([(2, Capture), (3, Next)]),
        clock: ManualClock::new(),
        analyzer: FakeAnalyzer::new(Answer::Candidates),
        display,
        notifier: Notices::default(),
    };
    let report = run_device(
        &mut dev,
        &ctx(),
        &RunOptions {
            shutdown: Some(flag),
            max_iterations: Some(50),
            frame_interval: Some(TICK),
            ..RunOptions::default()
        },
    );
    let views = seen.lock().unwrap();
    assert!(
        matches!(views[views.len() - 2], View::Results { .. }),
        "{views:?}"
    );
    assert_eq!(views.last(), Some(&View::Blank));
    assert!(report.iterations < 50);
    assert_eq!(dev.analyzer.clears, 1, "the session is wiped");
}

/// Set in the child process that [`saving_disabled_writes_nothing`] runs itself in.
const ISOLATED_ENV: &str = "GESTALTCAM_TEST_ISOLATED";

/// Saving off: nothing is written anywhere, the working directory and `$HOME` included. The
/// process's working directory is global to the test binary, so the test re-runs itself alone in
/// a child process whose working directory and `$HOME` are an empty temporary folder.
#[test]
#[cfg_attr(
    not(target_arch = "x86_64"),
    ignore = "spawns the test binary, impossible under qemu-user"
)]
fn saving_disabled_writes_nothing() {
    let Some(dir) = std::env::var_os(ISOLATED_ENV) else {
        let tmp = tempfile::tempdir().unwrap();
        let out = std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "app::saving_disabled_writes_nothing",
                "--test-threads=1",
            ])
            .current_dir(tmp.path())
            .env("HOME", tmp.path())
            .env(ISOLATED_ENV, tmp.path())
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && stdout.contains("1 passed"),
            "{stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            common::entries_under(tmp.path()),
            Vec::<std::path::PathBuf>::new()
        );
        return;
    };
    let tmp = std::path::PathBuf::from(dir);
    assert_eq!(
        std::env::current_dir().unwrap(),
        tmp.canonicalize().unwrap()
    );
    let script = [
        (3, Capture),
        (5, Capture),
        (7, Capture),
        (9, Next),
        (11, Clear),
    ];
    let cam = ReplayCamera::from_images(vec![scene(READY)], 10.0).unwrap();
    let out = run_with(
        cam,
        ManualClock::new(),
        &script,
        FakeAnalyzer::new(Answer::Candidates),
        &ctx(), // saving: false
        RunOptions {
            save_dir: Some(tmp.as_path().join("captures")),
            ..opts(14)
        },
    );
    assert_eq!(out.analyzer.analysed, vec![3]);
    assert!(out.report.saved.is_empty());
    assert_eq!(
        common::entries_under(tmp.as_path()),
        Vec::<std::path::PathBuf>::new()
    );
}

#[test]
fn saving_enabled_writes_private_files() {
    use std::os::unix::fs::PermissionsExt;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("captures");
    let ctx = AppContext {
        saving: true,
        ..ctx()
    };
    let script = [(3, Capture), (5, Capture), (7, Capture)];
    let cam = ReplayCamera::from_images(vec![scene(READY)], 10.0).unwrap();
    let out = run_with(
        cam,
        ManualClock::new(),
        &script,
        FakeAnalyzer::new(Answer::Candidates),
        &ctx,
        RunOptions {
            save_dir: Some(dir.clone()),
            ..opts(9)
        },
    );
    assert_eq!(out.report.saved.len(), 3);
    assert_eq!(out.report.save_errors, 0);
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&dir), 0o700);
    for p in &out.report.saved {
        assert!(p.starts_with(&dir));
        assert_eq!(mode(p), 0o600, "{}", p.display());
        let img = image::open(p).unwrap().to_rgb8();
        assert_eq!(img.get_pixel(0, 0)[0], READY);
    }
}

/// Sees a ready face in every frame; ranks one fixed query against a real (synthetic) gallery.
struct GalleryAnalyzer {
    gallery: gestaltcam::gallery::Gallery,
    top_k: usize,
}

impl Analyzer for GalleryAnalyzer {
    fn preview(&mut self, _: &Frame) -> Result<FrameSummary, AnalyseError> {
        Ok(common::ready_face())
    }

    fn analyse(&mut self, photos: &[Photo]) -> Result<AnalysisOutcome, AnalyseError> {
        let ranking = self
            .gallery
            .rank_photos(&[vec![0.0, 0.0]], self.top_k, Default::default())
            .map_err(|e| AnalyseError::RankingFailed {
                detail: e.to_string(),
            })?;
        Ok(AnalysisOutcome::Candidates {
            candidates: ranking.candidates(),
            basis: basis(photos.len()),
        })
    }
}

/// `labels` syndromes, one case each, at increasing distance from the origin.
fn line_gallery(labels: usize) -> gestaltcam::gallery::Gallery {
    use gestaltcam::gallery::{Case, Gallery, GalleryMeta, Label, Storage};
    Gallery::from_parts(
        GalleryMeta {
            embedder_id: "test".into(),
            metric: gestaltcam::manifest::Metric::Euclidean,
            name: "line".into(),
            created_unix: 0,
            threshold: None,
            storage: Storage::F32,
        },
        (0..labels)
            .map(|i| Label {
                name: format!("S{}", i + 1),
                omim: None,
                genes: Vec::new(),
            })
            .collect(),
        (0..labels)
            .map(|i| Case {
                case_id: format!("c{i}"),
                subject: format!("c{i}"),
                label: i as u32,
            })
            .collect(),
        2,
        (0..labels).flat_map(|i| [1.0 + i as f32, 0.0]).collect(),
    )
    .unwrap()
}

#[test]
fn every_rank_is_reachable_on_every_panel() {
    use embedded_graphics::prelude::Size;
    use gestaltcam::config::Config;
    use gestaltcam::ui::Layout;
    for (w, h) in [(240, 240), (320, 240), (240, 320), (128, 64)] {
        let fits = Layout::new(Size::new(w, h)).candidates_per_page();
        for top_k in [1usize, 2, 3, 10, 30] {
            for labels in [top_k.saturating_sub(1).max(1), top_k + 3] {
                // The configuration may only lower the page size: 3 asks for more than most
                // panels fit.
                let cfg = Config {
                    top_k,
                    photos_per_patient: 1,
                    results_per_page: 3,
                    ..Config::default()
                };
                let ctx = AppContext::for_panel(&cfg, Size::new(w, h));
                assert_eq!(ctx.per_page, fits.min(3), "{w}x{h}");
                let shown = top_k.min(labels);
                let pages = shown.div_ceil(ctx.per_page);
                // Capture, then "next" once per page: the last press wraps to page 1.
                let mut script = vec![(2, Capture)];
                script.extend((0..pages as u64).map(|i| (4 + i, Next)));
                let cam = ReplayCamera::from_images(vec![scene(READY)], 10.0).unwrap();
                let mut dev = Device {
                    camera: cam,
                    buttons: ScriptedButtons::at_frames(script),
                    clock: ManualClock::new(),
                    analyzer: GalleryAnalyzer {
                        gallery: line_gallery(labels),
                        top_k: cfg.top_k,
                    },
                    display: Screen::default(),
                    notifier: Notices::default(),
                };
                run_device(&mut dev, &ctx, &opts(6 + pages as u64));
                let results: Vec<(usize, usize, usize, Vec<usize>)> = dev
                    .display
                    .0
                    .iter()
                    .filter_map(|v| match v {
                        View::Results {
                            candidates,
                            page,
                            pages,
                            total,
                            ..
                        } => Some((
                            *page,
                            *pages,
                            *total,
                            candidates.iter().map(|c| c.rank).collect(),
                        )),
                        _ => None,
                    })
                    .collect();
                let case = format!("{w}x{h} top_k {top_k} labels {labels}: {results:?}");
                // One view per page, then page 1 again (a single page is not redrawn).
                let expected_views = if pages == 1 { 1 } else { pages + 1 };
                assert_eq!(results.len(), expected_views, "{case}");
                let mut ranks = Vec::new();
                for (i, (page, n_pages, total, on_page)) in results.iter().take(pages).enumerate() {
                    assert_eq!((*page, *n_pages, *total), (i, pages, shown), "{case}");
                    assert!(!on_page.is_empty() && on_page.len() <= fits, "{case}");
                    ranks.extend(on_page.iter().copied());
                }
                assert_eq!(ranks, (1..=shown).collect::<Vec<_>>(), "{case}");
                if pages > 1 {
                    assert_eq!(results[pages], results[0], "wraps to page 1: {case}");
                }
            }
        }
    }
}

/// With one detector plan (`preview_detector_side = 0`; the 192 plan: `preview::`), the real
/// analyzer embeds the face the preview found in a captured photo, without a second detection: a capture whose kept face is implausibly small is refused as "too small" even
/// though the photo shows a good face, and the preview's face gives the same ranking as
/// detecting the photo afresh.
#[test]
#[cfg_attr(
    not(target_arch = "x86_64"),
    ignore = "embeds the demo gallery: too slow under qemu-user (runs on the host)"
)]
fn a_capture_keeps_the_face_found_at_capture() {
    use gestaltcam::pipeline::FacePipeline;
    use gestaltcam::screening::PipelineAnalyzer;
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let pipeline = FacePipeline::load(
        &root.join("models"),
        None,
        gestaltcam::pipeline::DEVICE_EMBED_OPTIONS,
    )
    .expect("models");
    let gallery = gestaltcam::lab::demo_gallery(&pipeline, &root.join("demo")).expect("demo");
    let mut analyzer = PipelineAnalyzer::new(Ok(pipeline), Ok(gallery));
    let image = gestaltcam::photo::load_path(&root.join("tests/fixtures/photos/obama2.jpg"))
        .expect("photo");
    let frame = Frame::new(image, 0, Duration::ZERO);
    let summary = analyzer.preview(&frame).expect("preview");
    assert_eq!(summary.issue, None, "{summary:?}");
    let face = summary
        .face
        .clone()
        .expect("the preview keeps the patient's face");

    let kept = analyzer
        .analyse(&[Photo {
            frame: frame.clone(),
            face: Some(face.clone()),
        }])
        .expect("analysis");
    let fresh = analyzer
        .analyse(&[Photo {
            frame: frame.clone(),
            face: None,
        }])
        .expect("analysis");
    assert_eq!(kept, fresh);
    let AnalysisOutcome::Candidates { candidates, .. } = kept else {
        panic!("no candidates: {kept:?}")
    };
    assert!(
        candidates[0].name.contains("DEMO label A"),
        "{candidates:?}"
    );

    // The same face squeezed to a few pixels between the eyes.
    let mut shrunk = face;
    let cx = shrunk.landmarks.iter().map(|p| p[0]).sum::<f32>() / 5.0;
    let cy = shrunk.landmarks.iter().map(|p| p[1]).sum::<f32>() / 5.0;
    for p in shrunk.landmarks.iter_mut() {
        p[0] = cx + (p[0] - cx) * 0.02;
        p[1] = cy + (p[1] - cy) * 0.02;
    }
    let refused = analyzer.analyse(&[Photo {
        frame,
        face: Some(shrunk),
    }]);
    assert_eq!(
        refused,
        Err(AnalyseError::NoUsableFace {
            photos: 1,
            reason: Issue::TooSmall
        })
    );
}

/// No camera at all: the reconnecting camera answers "disconnected" at once, so without a pause
/// the loop spins a core (measured 98-100% before). With `camera_retry` each failed poll sleeps
/// on the clock; a frame never does.
#[test]
fn a_missing_camera_does_not_spin_the_loop() {
    struct Gone;
    impl Camera for Gone {
        fn frame(&mut self) -> Result<Frame, CameraError> {
            Err(CameraError::Disconnected("no such device".into()))
        }
    }
    const RETRY: Duration = Duration::from_millis(100);
    /// 30 iterations with `camera_retry` and no pacing: the outcome and the clock's time.
    fn thirty<C: Camera>(camera: C) -> (Outcome, Duration) {
        let clock = ManualClock::new();
        let out = run_with(
            camera,
            clock.clone(),
            &[],
            FakeAnalyzer::new(Answer::Candidates),
            &ctx(),
            RunOptions {
                max_iterations: Some(30),
                camera_retry: Some(RETRY),
                ..RunOptions::default()
            },
        );
        (out, clock.now())
    }
    let (out, slept) = thirty(Gone);
    assert_eq!(out.report.iterations, 30);
    assert_eq!(slept, RETRY * 30, "one pause per failed poll");
    assert_eq!(
        out.tags().last().map(String::as_str),
        Some("error CameraMissing")
    );

    // A camera that delivers frames is never paused by it.
    let (out, slept) = thirty(ReplayCamera::from_images(vec![scene(READY)], 10.0).unwrap());
    assert_eq!(out.report.frames, 30);
    assert_eq!(slept, Duration::ZERO);
}

/// The viewfinder: with `viewfinder` set the preview carries the camera picture, scaled down to
/// fit the panel; without it (monochrome panels, PNG files by default) it carries none.
#[test]
fn the_preview_carries_the_picture_only_when_the_panel_shows_it() {
    let pictures = |viewfinder| {
        let ctx = AppContext {
            viewfinder,
            ..ctx()
        };
        let out = run_scenes(&[READY], &[], Answer::Candidates, &ctx, 4);
        out.views
            .iter()
            .filter_map(|v| match v {
                View::Preview { picture, .. } => Some(picture.clone()),
                _ => None,
            })
            .collect::<Vec<_>>()
    };
    let off = pictures(None);
    assert!(!off.is_empty() && off.iter().all(Option::is_none));
    let on = pictures(Some((120, 100)));
    assert!(!on.is_empty());
    for p in &on {
        let p = p.as_ref().expect("a picture on every preview");
        let (w, h) = p.0.dimensions();
        let (sw, sh) = scene(READY).dimensions();
        assert!(w <= 120 && h <= 100, "{w}x{h}");
        // Same shape as the camera's frame (within a pixel of rounding).
        assert!((f64::from(w) / f64::from(h) - f64::from(sw) / f64::from(sh)).abs() < 0.02);
    }
}
