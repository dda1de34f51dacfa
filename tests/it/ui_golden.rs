//! Golden images of every screen at every panel size, plus layout invariants.
//!
//! Each screen is rendered headless into a `FrameBuffer` and compared pixel-exact with
//! `tests/golden/<panel>/<screen>.png`. Regenerate with `UPDATE_GOLDEN=1 cargo test --test
//! ui_golden`; on a mismatch the actual image is written under the temp dir and the test
//! fails with the number of differing pixels.
//!
//! Result and error screens are the app's own messages: the views come out of
//! `app::update` (paging by the panel's layout, error screens from typed `AnalyseError`s, the
//! self-test's real error texts), not hand-built view models.

use std::path::{Path, PathBuf};

use crate::common;

use embedded_graphics::{
    mock_display::MockDisplay,
    pixelcolor::{BinaryColor, Rgb565, Rgb888},
    prelude::*,
};
use gestaltcam::{
    analysis::{AnalyseError, AnalysisOutcome, Refined},
    app::{update, AppContext, ButtonEvent, Effect, Event, State},
    camera::Frame,
    config::Config,
    display::FrameBuffer,
    hpo::Answer,
    ui::{
        self,
        view::{Band, Basis, Candidate, CheckState, ErrorKind, Guidance, SelfCheck, View},
        widgets::band_indicator,
        Layout, LayoutStyle, Palette,
    },
    vision::quality::Issue,
};

fn basis(demo: bool) -> Basis {
    if demo {
        Basis {
            reference_cases: 120,
            syndromes: 12,
            photos: 1,
            model_version: "gm-r100-q8 1.0.2".into(),
            gallery_version: "demo-0.3".into(),
            demo: true,
            phenotype: None,
        }
    } else {
        Basis {
            reference_cases: 7459,
            syndromes: 449,
            photos: 2,
            model_version: "gm-r100-q8 1.0.2".into(),
            gallery_version: "GMDB 2025-06".into(),
            demo: false,
            phenotype: None,
        }
    }
}

fn cand(rank: usize, name: &str, omim: Option<&str>, band: Band, case: &str) -> Candidate {
    // Genes as a GMDB label file lists them (some syndromes have none).
    let genes: &[&str] = match omim {
        Some("122470") => &["NIPBL", "SMC1A", "SMC3", "RAD21", "HDAC8"],
        Some("147920") => &["KMT2D"],
        Some("194050") => &["ELN", "GTF2I"],
        Some("270400") => &["DHCR7"],
        _ => &[],
    };
    Candidate {
        rank,
        name: name.into(),
        omim: omim.map(Into::into),
        genes: genes.iter().map(|g| g.to_string()).collect(),
        band,
        similarity: 0.9 - rank as f32 * 0.1,
        nearest_case: case.into(),
        evidence: None,
    }
}

fn candidates() -> Vec<Candidate> {
    vec![
        cand(
            1,
            "Cornelia de Lange syndrome",
            Some("122470"),
            Band::Strong,
            "GMDB-P-10234",
        ),
        cand(
            2,
            "Kabuki syndrome",
            Some("147920"),
            Band::Moderate,
            "GMDB-P-20871",
        ),
        cand(
            3,
            "Williams-Beuren syndrome",
            Some("194050"),
            Band::Moderate,
            "GMDB-P-00412",
        ),
        cand(
            4,
            "Smith-Lemli-Opitz syndrome",
            Some("270400"),
            Band::Weak,
            "GMDB-P-31377",
        ),
        cand(
            5,
            "Koolen-de Vries syndrome",
            None,
            Band::Weak,
            "GMDB-P-12000",
        ),
    ]
}

fn long_candidates() -> Vec<Candidate> {
    vec![
        cand(
            1,
            "Intellectual developmental disorder, X-linked syndromic, Snijders Blok type",
            Some("300958"),
            Band::Strong,
            "GMDB-P-40001-with-a-very-long-case-identifier",
        ),
        cand(
            2,
            "Börjeson-Forssman-Lehmann syndrome",
            Some("301900"),
            Band::Weak,
            "GMDB-P-7",
        ),
        cand(
            12,
            "Pseudohypoparathyroidism type Ia (Albright hereditary osteodystrophy)",
            Some("103580"),
            Band::Moderate,
            "GMDB-P-99999",
        ),
    ]
}

fn check(name: &str, state: CheckState, detail: &str) -> SelfCheck {
    SelfCheck {
        name: name.into(),
        state,
        detail: detail.into(),
    }
}

/// The app, started and showing the preview, on a panel of `w`×`h` with `ctx`.
fn app_in_preview(ctx: &AppContext) -> State {
    let (state, _) = update(State::new(), Event::SelfTest(vec![]), ctx);
    let ready = common::ready_face();
    let frame = Frame::new(image::RgbImage::new(4, 4), 0, std::time::Duration::ZERO);
    let (state, _) = update(
        state,
        Event::Frame {
            frame,
            summary: ready,
        },
        ctx,
    );
    state
}

fn shown(fx: Vec<Effect>) -> Vec<View> {
    fx.into_iter()
        .filter_map(|e| match e {
            Effect::Show(v) => Some(v),
            _ => None,
        })
        .collect()
}

/// The views the app shows for `outcome` on a `w`×`h` panel: the analysis result, then one
/// view per "next" press.
fn app_results(
    w: u32,
    h: u32,
    outcome: Result<AnalysisOutcome, AnalyseError>,
    nexts: usize,
) -> Vec<View> {
    let cfg = Config {
        photos_per_patient: 1,
        ..Config::default()
    };
    let ctx = AppContext::for_panel(&cfg, Size::new(w, h));
    let state = app_in_preview(&ctx);
    let (mut state, _) = update(state, Event::Button(ButtonEvent::Capture), &ctx);
    let mut views = Vec::new();
    let (next, fx) = update(state, Event::Analysed(outcome), &ctx);
    state = next;
    views.extend(shown(fx));
    for _ in 0..nexts {
        let (next, fx) = update(state, Event::Button(ButtonEvent::Next), &ctx);
        state = next;
        views.extend(shown(fx));
    }
    views
}

fn candidates_outcome(
    candidates: Vec<Candidate>,
    basis: Basis,
) -> Result<AnalysisOutcome, AnalyseError> {
    Ok(AnalysisOutcome::Candidates { candidates, basis })
}

/// The page the app shows after `page` presses of "next" (wrapping like the app does).
fn results_page(w: u32, h: u32, candidates: Vec<Candidate>, basis: Basis, page: usize) -> View {
    app_results(w, h, candidates_outcome(candidates, basis), page)
        .pop()
        .expect("the app showed results")
}

/// The last page the app shows for `candidates`.
fn results_last(w: u32, h: u32, candidates: Vec<Candidate>, basis: Basis) -> View {
    let first = results_page(w, h, candidates.clone(), basis.clone(), 0);
    let View::Results { pages, .. } = first else {
        panic!("not results: {first:?}")
    };
    results_page(w, h, candidates, basis, pages - 1)
}

/// A result that offers the phenotype questions (its basis names the HPO release).
fn phenotype_basis() -> Basis {
    let mut b = basis(false);
    b.phenotype = Some("HPO 2025-01-16".into());
    b
}

/// The phenotype questions as the app shows them on a `w`×`h` panel: the last results page
/// (which offers them), the first question, and the list re-ranked by the answers.
fn question_flow(w: u32, h: u32) -> [View; 3] {
    let cfg = Config {
        photos_per_patient: 1,
        ..Config::default()
    };
    let ctx = AppContext::for_panel(&cfg, Size::new(w, h));
    let (mut state, _) = update(
        app_in_preview(&ctx),
        Event::Button(ButtonEvent::Capture),
        &ctx,
    );
    let step = |state: State, event: Event| {
        let (next, fx) = update(state, event, &ctx);
        let refine = fx.iter().find_map(|e| match e {
            Effect::Refine(a) => Some(a.clone()),
            _ => None,
        });
        (next, shown(fx).pop(), refine)
    };
    let outcome = candidates_outcome(candidates(), phenotype_basis());
    let (next, mut offer, _) = step(state, Event::Analysed(outcome));
    state = next;
    let pages = ctx.pages(candidates().len());
    for _ in 1..pages {
        let (next, v, _) = step(state, Event::Button(ButtonEvent::Next));
        (state, offer) = (next, v);
    }
    let offer = offer.expect("the last results page");
    let (next, _, refine) = step(state, Event::Button(ButtonEvent::Next));
    assert_eq!(
        refine,
        Some(vec![]),
        "next on the last page asks for the first question"
    );
    let ask = Refined::Ask {
        number: 1,
        question: "Congenital heart defect?".into(),
    };
    let (next, question, _) = step(next, Event::Refined(ask));
    let (next, _, refine) = step(next, Event::Button(ButtonEvent::Capture));
    assert_eq!(refine, Some(vec![Answer::Yes]), "capture answers yes");
    // Williams-Beuren (heart defects) moves up, Kabuki stays, the others are lowered.
    let mut ranked = candidates();
    ranked.swap(0, 2);
    let evidence = [
        "+Heart defect",
        "-Heart defect",
        "+Heart defect",
        "-Heart defect",
    ];
    for (i, c) in ranked.iter_mut().enumerate() {
        c.rank = i + 1;
        c.evidence = Some(
            evidence
                .get(i)
                .map_or("face only (no HPO annotations)", |e| e)
                .into(),
        );
    }
    let (_, refined, _) = step(next, Event::Refined(Refined::Done { candidates: ranked }));
    [
        offer,
        question.expect("the question screen"),
        refined.expect("the re-ranked list"),
    ]
}

fn app_error(w: u32, h: u32, e: AnalyseError) -> View {
    app_results(w, h, Err(e), 0)
        .pop()
        .expect("the app showed an error")
}

/// The fatal screen the app shows for a failed self-test line.
fn self_test_error(name: &str, detail: String) -> View {
    let ctx = AppContext::default();
    let check = SelfCheck {
        name: name.into(),
        state: CheckState::Failed,
        detail,
    };
    let (_, fx) = update(State::new(), Event::SelfTest(vec![check]), &ctx);
    shown(fx).pop().expect("an error screen")
}

/// What the app shows when the camera goes away during the preview.
fn camera_lost() -> View {
    let ctx = AppContext::default();
    let (_, fx) = update(app_in_preview(&ctx), Event::CameraLost, &ctx);
    shown(fx).pop().expect("the camera-missing screen")
}

fn uncalibrated(mut c: Vec<Candidate>) -> Vec<Candidate> {
    c.iter_mut().for_each(|c| c.band = Band::Uncalibrated);
    c
}

/// Every screen for a `w`×`h` panel, with realistic view models (see the module docs).
fn screens(w: u32, h: u32) -> Vec<(&'static str, View)> {
    vec![
        ("blank", View::Blank),
        (
            "starting_pending",
            View::Starting {
                checks: vec![
                    check("Model", CheckState::Ok, "sha256 3f9a2c1e"),
                    check("Gallery", CheckState::Pending, "verifying signature"),
                    check("Camera", CheckState::Pending, ""),
                ],
            },
        ),
        (
            "starting_failed",
            View::Starting {
                checks: vec![
                    check("Model", CheckState::Ok, "sha256 3f9a2c1e"),
                    check("Gallery", CheckState::Ok, "7459 cases, 449 syndromes"),
                    check("Camera", CheckState::Failed, "not found: /dev/video0"),
                ],
            },
        ),
        (
            "preview_noface",
            View::Preview {
                face_box: None,
                guidance: Guidance::NoFace,
                photos_taken: 0,
                photos_wanted: 3,
                not_taken: false,
                picture: None,
            },
        ),
        (
            "preview_not_taken",
            View::Preview {
                face_box: None,
                guidance: Guidance::NoFace,
                photos_taken: 1,
                photos_wanted: 3,
                not_taken: true,
                picture: None,
            },
        ),
        (
            "preview_ready",
            View::Preview {
                face_box: Some([0.32, 0.18, 0.68, 0.80]),
                guidance: Guidance::Ready,
                photos_taken: 1,
                photos_wanted: 3,
                not_taken: false,
                picture: None,
            },
        ),
        (
            "preview_picture",
            View::Preview {
                face_box: Some([0.30, 0.20, 0.62, 0.78]),
                guidance: Guidance::Ready,
                photos_taken: 0,
                photos_wanted: 3,
                not_taken: false,
                picture: Some(test_picture()),
            },
        ),
        (
            "preview_dark",
            View::Preview {
                face_box: Some([0.05, 0.40, 0.30, 0.95]),
                guidance: Guidance::TooDark,
                photos_taken: 2,
                photos_wanted: 3,
                not_taken: false,
                picture: None,
            },
        ),
        ("capturing", View::Capturing { photo: 2, of: 3 }),
        ("analysing", View::Analysing { photos: 3 }),
        (
            "results_p1",
            results_page(w, h, candidates(), basis(false), 0),
        ),
        (
            "results_p2",
            results_page(w, h, candidates(), basis(false), 1),
        ),
        (
            "results_last",
            results_last(w, h, candidates(), basis(false)),
        ),
        (
            "results_demo",
            results_page(w, h, candidates(), basis(true), 0),
        ),
        (
            "results_uncalibrated",
            results_page(w, h, uncalibrated(candidates()), basis(true), 0),
        ),
        ("results_questions_offer", question_flow(w, h)[0].clone()),
        ("question", question_flow(w, h)[1].clone()),
        ("results_refined", question_flow(w, h)[2].clone()),
        (
            "results_long_names",
            results_page(w, h, long_candidates(), basis(true), 0),
        ),
        (
            "results_long_names_p2",
            results_page(w, h, long_candidates(), basis(false), 1),
        ),
        (
            "no_match",
            View::NoCloseMatch {
                basis: basis(false),
            },
        ),
        ("no_match_demo", View::NoCloseMatch { basis: basis(true) }),
        ("error_camera", camera_lost()),
        (
            "error_model",
            self_test_error(
                "Model",
                gestaltcam::manifest::ManifestError::HashMismatch {
                    id: "dlib-resnet-v1-int8".into(),
                    path: "/usr/share/gestaltcam/models/dlib_resnet_int8.onnx".into(),
                    expected: "3f9a2c1e".repeat(8),
                    actual: "0b7d44aa".repeat(8),
                }
                .to_string(),
            ),
        ),
        (
            "error_gallery",
            self_test_error(
                "Gallery",
                gestaltcam::gallery::GalleryError::EmbedderMismatch {
                    gallery: "dlib-resnet-v1-f32@1a2b3c4d".into(),
                    model: "dlib-resnet-v1-int8@5e6f7a8b".into(),
                }
                .to_string(),
            ),
        ),
        (
            "error_retake_two_faces",
            app_error(
                w,
                h,
                AnalyseError::NoUsableFace {
                    photos: 3,
                    reason: Issue::SeveralFaces,
                },
            ),
        ),
        (
            "error_retake_no_face",
            app_error(
                w,
                h,
                AnalyseError::NoUsableFace {
                    photos: 1,
                    reason: Issue::NoFace,
                },
            ),
        ),
        (
            "error_analysis",
            app_error(
                w,
                h,
                AnalyseError::ModelFailed {
                    detail: "embedding model failed: Evaluating #12 \"conv_2\" Conv: out of memory"
                        .into(),
                },
            ),
        ),
        // The update notices (`setup::content::NoticeSink`), in the words the import writes.
        (
            "notice_updated",
            View::Notice {
                accepted: true,
                text: "Gallery updated: GMDB 2026-06, 7,459 cases".into(),
                next: "Restarting with the new content".into(),
            },
        ),
        (
            "notice_refused",
            View::Notice {
                accepted: false,
                text: "Update refused: not signed by your programme".into(),
                next: "Nothing was changed".into(),
            },
        ),
        (
            "notice_newer_device",
            View::Notice {
                accepted: false,
                text: "Update needs a newer device version".into(),
                next: "Nothing was changed".into(),
            },
        ),
        // Content that failed at start-up was rolled back (`setup::content::start`).
        (
            "starting_rolled_back",
            View::Starting {
                checks: vec![
                    check("Model", CheckState::Ok, "dlib-resnet-v1-int8 3f9a2c1e"),
                    check("Gallery", CheckState::Ok, "GMDB 2026-05: 7,102 cases"),
                    check(
                        "Update",
                        CheckState::Warning,
                        "failed, previous gallery used",
                    ),
                    check("Camera", CheckState::Ok, "/dev/video0"),
                ],
            },
        ),
    ]
}

/// The panels: name, size, colour.
#[derive(Clone, Copy)]
enum Kind {
    Colour,
    Mono,
}

const PANELS: &[(&str, u32, u32, Kind)] = &[
    ("240x240", 240, 240, Kind::Colour),
    ("320x240", 320, 240, Kind::Colour),
    ("128x64", 128, 64, Kind::Mono),
];

fn render_fb<C: Palette + Default>(view: Option<&View>, w: u32, h: u32) -> FrameBuffer<C> {
    let mut fb = FrameBuffer::<C>::new(w, h);
    let layout = Layout::new(Size::new(w, h));
    let r = match view {
        Some(v) => ui::draw(v, &layout, &mut fb),
        None => ui::test_pattern(&format!("ST7789 {w}x{h}"), &mut fb),
    };
    assert!(r.is_ok());
    fb
}

fn render(view: Option<&View>, w: u32, h: u32, kind: Kind) -> image::RgbImage {
    match kind {
        Kind::Colour => render_fb::<Rgb565>(view, w, h).to_rgb_image(),
        Kind::Mono => render_fb::<BinaryColor>(view, w, h).to_rgb_image(),
    }
}

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

/// Compare with (or, with UPDATE_GOLDEN=1, write) one golden image. `Err` describes a failure.
fn compare(panel: &str, screen: &str, actual: &image::RgbImage) -> Result<(), String> {
    let path = golden_dir().join(panel).join(format!("{screen}.png"));
    if std::env::var_os("UPDATE_GOLDEN").is_some_and(|v| v == "1") {
        std::fs::create_dir_all(path.parent().ok_or("no parent")?).map_err(|e| e.to_string())?;
        actual
            .save(&path)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        return Ok(());
    }
    let keep_actual = || {
        let dir = std::env::temp_dir().join("gestaltcam-golden").join(panel);
        let out = dir.join(format!("{screen}.actual.png"));
        match std::fs::create_dir_all(&dir).map(|_| actual.save(&out)) {
            Ok(Ok(())) => out.display().to_string(),
            _ => "(could not save actual image)".to_string(),
        }
    };
    let expected = match image::open(&path) {
        Ok(img) => img.to_rgb8(),
        Err(e) => {
            return Err(format!(
            "{panel}/{screen}: cannot read {} ({e}); actual image at {}; run with UPDATE_GOLDEN=1",
            path.display(),
            keep_actual()
        ))
        }
    };
    if expected.dimensions() != actual.dimensions() {
        return Err(format!(
            "{panel}/{screen}: size {:?} != golden {:?}; actual at {}",
            actual.dimensions(),
            expected.dimensions(),
            keep_actual()
        ));
    }
    let differing = expected
        .pixels()
        .zip(actual.pixels())
        .filter(|(a, b)| a != b)
        .count();
    if differing > 0 {
        return Err(format!(
            "{panel}/{screen}: {differing} pixels differ from {}; actual at {}",
            path.display(),
            keep_actual()
        ));
    }
    Ok(())
}

#[test]
fn golden_images_match() {
    let mut failures = Vec::new();
    let mut compared = 0;
    for &(panel, w, h, kind) in PANELS {
        for (screen, view) in screens(w, h) {
            let img = render(Some(&view), w, h, kind);
            if let Err(e) = compare(panel, screen, &img) {
                failures.push(e);
            }
            compared += 1;
        }
        let img = render(None, w, h, kind);
        if let Err(e) = compare(panel, "test_pattern", &img) {
            failures.push(e);
        }
        compared += 1;
    }
    assert_eq!(compared, PANELS.len() * (screens(240, 240).len() + 1));
    assert!(
        failures.is_empty(),
        "{} of {compared} golden images differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// A draw target that records every pixel drawn outside its bounds.
struct BoundsRecorder<C> {
    size: Size,
    outside: Vec<Point>,
    inside: usize,
    _c: std::marker::PhantomData<C>,
}

impl<C> BoundsRecorder<C> {
    fn new(w: u32, h: u32) -> Self {
        BoundsRecorder {
            size: Size::new(w, h),
            outside: Vec::new(),
            inside: 0,
            _c: std::marker::PhantomData,
        }
    }
}

impl<C: PixelColor> OriginDimensions for BoundsRecorder<C> {
    fn size(&self) -> Size {
        self.size
    }
}

impl<C: PixelColor> DrawTarget for BoundsRecorder<C> {
    type Color = C;
    type Error = core::convert::Infallible;

    fn draw_iter<I: IntoIterator<Item = Pixel<C>>>(
        &mut self,
        pixels: I,
    ) -> Result<(), Self::Error> {
        let bb = self.bounding_box();
        for Pixel(p, _) in pixels {
            if bb.contains(p) {
                self.inside += 1;
            } else {
                self.outside.push(p);
            }
        }
        Ok(())
    }
}

fn out_of_bounds<C: Palette>(view: Option<&View>, w: u32, h: u32) -> (usize, Vec<Point>) {
    let mut rec = BoundsRecorder::<C>::new(w, h);
    let layout = Layout::new(Size::new(w, h));
    let r = match view {
        Some(v) => ui::draw(v, &layout, &mut rec),
        None => ui::test_pattern("a panel with a rather long name for its size", &mut rec),
    };
    assert!(r.is_ok());
    (rec.inside, rec.outside)
}

#[test]
fn nothing_is_drawn_outside_the_panel() {
    // The sample screens plus hostile ones: huge counts, empty and absurdly long strings.
    let mut views: Vec<View> = screens(240, 240).into_iter().map(|(_, v)| v).collect();
    views.extend(screens(128, 64).into_iter().map(|(_, v)| v));
    let mut hostile = long_candidates();
    hostile.push(cand(
        123456,
        "Supercalifragilisticexpialidocious-syndrome-without-any-spaces-at-all",
        Some("999999999999"),
        Band::Strong,
        "",
    ));
    let mut wide_basis = basis(true);
    wide_basis.reference_cases = usize::MAX;
    wide_basis.model_version = "m".repeat(200);
    wide_basis.gallery_version = "g".repeat(200);
    views.push(View::Results {
        candidates: hostile,
        page: usize::MAX,
        pages: usize::MAX,
        total: usize::MAX,
        basis: wide_basis.clone(),
        questions_next: true,
    });
    views.push(View::NoCloseMatch { basis: wide_basis });
    views.push(View::Capturing {
        photo: usize::MAX,
        of: usize::MAX,
    });
    views.push(View::Preview {
        face_box: Some([-1.0, 2.0, f32::NAN, 0.5]),
        guidance: Guidance::TurnToCamera,
        photos_taken: 99,
        photos_wanted: 3,
        not_taken: true,
        picture: None,
    });
    views.push(View::Preview {
        face_box: Some([-0.5, -0.5, 1.5, 1.5]),
        guidance: Guidance::Blurred,
        photos_taken: 0,
        photos_wanted: 0,
        not_taken: false,
        picture: None,
    });
    views.push(View::Starting {
        checks: (0..20)
            .map(|i| check(&"X".repeat(i * 3), CheckState::Failed, &"d".repeat(i * 10)))
            .collect(),
    });
    views.push(View::Error {
        kind: ErrorKind::Other,
        technical: "x".repeat(5000),
    });
    views.push(View::Results {
        candidates: vec![],
        page: 0,
        pages: 1,
        total: 0,
        basis: basis(false),
        questions_next: false,
    });
    for &(panel, w, h, kind) in PANELS.iter().chain(&[
        ("160x128", 160, 128, Kind::Colour),
        ("96x64", 96, 64, Kind::Mono),
    ]) {
        for view in views.iter().map(Some).chain([None]) {
            let (inside, outside) = match kind {
                Kind::Colour => out_of_bounds::<Rgb565>(view, w, h),
                Kind::Mono => out_of_bounds::<BinaryColor>(view, w, h),
            };
            assert!(
                outside.is_empty(),
                "{panel}: {} pixels outside the panel, first {:?}, view {view:?}",
                outside.len(),
                &outside[..outside.len().min(5)]
            );
            // The screen was cleared (and something drawn) inside.
            assert!(
                inside >= (w * h) as usize,
                "{panel}: only {inside} pixels drawn"
            );
        }
    }
}

#[test]
fn demo_marker_changes_the_header_only_when_demo() {
    for &(panel, w, h, kind) in PANELS {
        let view = |demo| results_page(w, h, candidates(), basis(demo), 0);
        let plain = render(Some(&view(false)), w, h, kind);
        let demo = render(Some(&view(true)), w, h, kind);
        let header_h = if Layout::new(Size::new(w, h)).style == LayoutStyle::Full {
            24
        } else {
            11
        };
        let header_diff = (0..w)
            .flat_map(|x| (0..header_h).map(move |y| (x, y)))
            .filter(|&(x, y)| plain.get_pixel(x, y) != demo.get_pixel(x, y))
            .count();
        assert!(
            header_diff > 20,
            "{panel}: DEMO badge not visible ({header_diff} px)"
        );
    }
}

#[test]
fn layouts_per_panel() {
    assert_eq!(Layout::new(Size::new(240, 240)).candidates_per_page(), 2);
    assert_eq!(Layout::new(Size::new(320, 240)).candidates_per_page(), 2);
    let mono = Layout::new(Size::new(128, 64));
    assert_eq!(mono.style, LayoutStyle::Compact);
    assert_eq!(mono.candidates_per_page(), 1);
}

#[test]
fn band_indicator_pattern() {
    let cases = [
        (Band::Strong, ["### ### ###", "### ### ###", "### ### ###"]),
        (
            Band::Moderate,
            ["### ### ###", "### ### # #", "### ### ###"],
        ),
        (
            Band::Supporting,
            ["### ### ###", "### # # # #", "### ### ###"],
        ),
        (Band::Weak, ["### ### ###", "# # # # # #", "### ### ###"]),
        (
            Band::Uncalibrated,
            ["### ### ###", "# # # # # #", "### ### ###"],
        ),
    ];
    for (band, pattern) in cases {
        let mut display = MockDisplay::<BinaryColor>::new();
        let w = band_indicator(
            &mut display,
            band,
            Point::zero(),
            Size::new(3, 3),
            1,
            BinaryColor::On,
            BinaryColor::On,
        )
        .unwrap();
        assert_eq!(w, 11);
        display.assert_pattern(&pattern);
    }
    // Colour: filled cells in the fill colour, outlines in the outline colour.
    let mut display = MockDisplay::<Rgb888>::new();
    band_indicator(
        &mut display,
        Band::Supporting,
        Point::new(1, 0),
        Size::new(2, 2),
        0,
        Rgb888::RED,
        Rgb888::BLUE,
    )
    .unwrap();
    display.assert_pattern(&[" RRBBBB", " RRBBBB"]);
}

/// Whether `text`, drawn in `font` as `fg` on `bg`, appears anywhere in `screen` pixel-exact.
fn contains_text<C: Palette + Default>(
    screen: &FrameBuffer<C>,
    text: &str,
    font: &embedded_graphics::mono_font::MonoFont<'_>,
    fg: C,
    bg: C,
) -> bool {
    use embedded_graphics::{
        mono_font::MonoTextStyleBuilder,
        text::{Baseline, Text},
    };
    let tw = ui::widgets::text_width(text, font);
    let th = font.character_size.height;
    let mut stamp = FrameBuffer::filled(tw, th, bg);
    let style = MonoTextStyleBuilder::new()
        .font(font)
        .text_color(fg)
        .background_color(bg)
        .build();
    assert!(
        Text::with_baseline(text, Point::zero(), style, Baseline::Top)
            .draw(&mut stamp)
            .is_ok()
    );
    let Size { width, height } = screen.size();
    if tw > width || th > height {
        return false;
    }
    (0..=height - th).any(|y0| {
        (0..=width - tw).any(|x0| {
            (0..th).all(|y| (0..tw).all(|x| stamp.pixel(x, y) == screen.pixel(x0 + x, y0 + y)))
        })
    })
}

fn check_result_screens<C: Palette + Default>(w: u32, h: u32) {
    let layout = Layout::new(Size::new(w, h));
    let fonts = layout.fonts();
    let (disclaimer_font, disclaimer_fg, basis_font, basis_fg) = match layout.style {
        LayoutStyle::Full => (fonts.body, C::WARN, fonts.small, C::MUTED),
        LayoutStyle::Compact => (fonts.small, C::TEXT, fonts.small, C::TEXT),
    };
    for (name, view) in screens(w, h) {
        let basis = match &view {
            View::Results { basis, .. } | View::NoCloseMatch { basis } => basis.clone(),
            _ => continue,
        };
        let fb = render_fb::<C>(Some(&view), w, h);
        assert!(
            contains_text(
                &fb,
                ui::view::DISCLAIMER,
                disclaimer_font,
                disclaimer_fg,
                C::BACKGROUND
            ),
            "{w}x{h} {name}: disclaimer missing"
        );
        let cases = basis.reference_cases.to_string();
        for needle in [
            cases.as_str(),
            basis.model_version.as_str(),
            basis.gallery_version.as_str(),
        ] {
            assert!(
                contains_text(&fb, needle, basis_font, basis_fg, C::BACKGROUND),
                "{w}x{h} {name}: basis {needle:?} missing"
            );
        }
        let demo_font = match layout.style {
            LayoutStyle::Full => fonts.header,
            LayoutStyle::Compact => fonts.body,
        };
        assert_eq!(
            contains_text(&fb, "DEMO", demo_font, C::DEMO_TEXT, C::DEMO_BG),
            basis.demo,
            "{w}x{h} {name}: DEMO marker shown iff demo"
        );
    }
}

#[test]
fn result_screens_show_disclaimer_basis_and_demo_marker() {
    check_result_screens::<Rgb565>(240, 240);
    check_result_screens::<Rgb565>(320, 240);
    check_result_screens::<BinaryColor>(128, 64);
}

/// A synthetic camera picture for the viewfinder goldens: a 4:3 colour ramp with a grey disc
/// where the face box is.
fn test_picture() -> gestaltcam::ui::view::Picture {
    let img = image::RgbImage::from_fn(160, 120, |x, y| {
        let (dx, dy) = (x as i32 - 74, y as i32 - 59);
        if dx * dx + dy * dy < 30 * 30 {
            image::Rgb([200, 170, 150])
        } else {
            image::Rgb([(x * 255 / 159) as u8, (y * 255 / 119) as u8, 96])
        }
    });
    gestaltcam::ui::view::Picture(std::sync::Arc::new(img))
}
