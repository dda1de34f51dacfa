//! A model file altered on disk, and missing or malformed HPO files: what the device refuses
//! or degrades to, and the screen that says so.

use super::*;

#[test]
#[cfg_attr(
    not(target_arch = "x86_64"),
    ignore = "loads the real models (a minute or more each under qemu-user): runs on the host"
)]
fn tampered_model_is_refused_with_a_screen() {
    let tmp = tempfile::tempdir().unwrap();
    let models = tmp.path().join("models");
    std::fs::create_dir(&models).unwrap();
    let manifest = Manifest::load_dir(&models_dir()).unwrap();
    let embedder = manifest.first_with_role(Role::Embedder).unwrap().clone();
    let detector = manifest.first_with_role(Role::Detector).unwrap().clone();
    std::fs::copy(
        models_dir().join("MANIFEST.toml"),
        models.join("MANIFEST.toml"),
    )
    .unwrap();
    std::fs::copy(
        models_dir().join(&detector.file),
        models.join(&detector.file),
    )
    .unwrap();
    let mut bytes = std::fs::read(models_dir().join(&embedder.file)).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x40;
    std::fs::write(models.join(&embedder.file), &bytes).unwrap();

    let mut cfg = device_config(tmp.path());
    cfg.models_dir = models;
    // A valid gallery and a last good copy exist: there is no fallback for models.
    make_gallery(1, "ref A", 3, 6, &device_embedder_id())
        .save(&cfg.gallery)
        .unwrap();
    let mut analyzer = analyzer_for(&cfg);
    assert!(analyzer.pipeline().is_none());
    let checks = analyzer.self_test();
    let model = check(&checks, "Model");
    assert_eq!(model.state, CheckState::Failed);
    assert!(model.detail.contains(&embedder.file), "{}", model.detail);
    assert!(model.detail.contains("sha256"), "{}", model.detail);

    let cam = face_camera();
    let out = run(
        cam,
        analyzer,
        &[(2, Capture), (3, Capture)],
        &ctx(1),
        &opts(6),
    );
    assert_eq!(tags(&out.views), ["starting", "error ModelRefused"]);
    let detail = error_detail(&out.views[1]);
    assert!(detail.starts_with("Model: "), "{detail}");
    assert!(detail.contains(&embedder.file), "{detail}");
    assert_eq!(out.report.analyses, 0);
    assert!(!out.notices.contains(&Notice::Ready));
}

/// Missing or malformed HPO files: the device keeps working face-only and the start screen
/// warns (a "Questions" warning line holds it until a button is pressed).
#[test]
fn missing_or_malformed_hpo_data_is_a_start_screen_warning() {
    use gestaltcam::screening::{Phenotype, PipelineAnalyzer};
    let tmp = tempfile::tempdir().unwrap();
    let broken = tmp.path().join("broken");
    std::fs::create_dir_all(&broken).unwrap();
    std::fs::write(broken.join("hp.obo"), b"\xff\xfe not an ontology").unwrap();
    std::fs::write(
        broken.join("phenotype.hpoa"),
        b"#version: x\nnot\ta\ttable\n",
    )
    .unwrap();
    for dir in [tmp.path().join("missing"), broken] {
        let mut a = PipelineAnalyzer::new(Err("no model".into()), Err("no gallery".into()));
        a.phenotype = Some(Phenotype::load(&dir).map_err(|e| e.to_string()));
        let checks = a.self_test();
        let q = check(&checks, "Questions");
        assert_eq!(q.state, CheckState::Warning, "{}: {q:?}", dir.display());
        assert!(q.detail.starts_with("face only: "), "{q:?}");
        // Without the analysis, a refinement is refused, not a panic.
        assert_eq!(a.refine(&[]), Refined::Unavailable);
    }
    // Not configured: no line at all.
    let mut a = PipelineAnalyzer::new(Err("no model".into()), Err("no gallery".into()));
    assert!(a.self_test().iter().all(|c| c.name != "Questions"));
}

/// Its detector fails on the first `failures` preview frames, then sees what
/// [`FakeAnalyzer`] sees.
struct FailingPreview {
    failures: usize,
}

impl Analyzer for FailingPreview {
    fn preview(&mut self, frame: &Frame) -> Result<FrameSummary, AnalyseError> {
        if self.failures == 0 {
            return FakeAnalyzer.preview(frame);
        }
        self.failures -= 1;
        Err(AnalyseError::ModelFailed {
            detail: "face detector failed: out of memory".into(),
        })
    }
    fn analyse(&mut self, photos: &[Photo]) -> Result<AnalysisOutcome, AnalyseError> {
        FakeAnalyzer.analyse(photos)
    }
}

#[test]
fn a_failing_preview_is_logged_and_shown_without_a_face() {
    // The detector fails on four preview frames: the loop gets each failure as an error,
    // counts it and warns once; the screen shows those frames as frames without a face (no
    // box, capture refused), and the preview is ready again when the detector works.
    use gestaltcam::ui::view::Guidance;
    logs::start();
    let cam =
        gestaltcam::camera::ReplayCamera::from_images(vec![RgbImage::new(16, 12)], 10.0).unwrap();
    let out = run(
        cam,
        FailingPreview { failures: 4 },
        &[(2, Capture)],
        &ctx(1),
        &opts(8),
    );
    assert_eq!(out.report.preview_errors, 4);
    assert_eq!(out.report.analyses, 0, "no photo taken while failing");
    assert_eq!(out.report.final_mode, "preview");
    let previews: Vec<(Option<[f32; 4]>, Guidance, bool)> = out
        .views
        .iter()
        .filter_map(|v| match v {
            View::Preview {
                face_box,
                guidance,
                not_taken,
                ..
            } => Some((*face_box, *guidance, *not_taken)),
            _ => None,
        })
        .collect();
    assert_eq!(
        previews,
        vec![
            (None, Guidance::NoFace, false),
            (None, Guidance::NoFace, true),
            (Some([0.3, 0.2, 0.7, 0.8]), Guidance::Ready, true),
        ],
        "{:?}",
        tags(&out.views)
    );
    let logged = logs::from("gestaltcam::app::run");
    let warned: Vec<&String> = logged
        .iter()
        .filter(|(l, _)| *l == log::Level::Warn)
        .map(|(_, m)| m)
        .collect();
    assert_eq!(
        warned,
        ["preview analysis failed: model failed: face detector failed: out of memory"],
        "{logged:?}"
    );
    assert!(
        logged
            .iter()
            .any(|(l, m)| *l == log::Level::Info && m == "preview analysis works again"),
        "{logged:?}"
    );
}

/// A board with less memory than the configured models need (here 200 MB against the dlib
/// pipeline's estimate) does not load them: the self-test's first line is a failed "RAM"
/// check and the device shows "Not enough memory", with the need and the board's memory on the
/// technician's line. Nothing is analysed. The same models on a board of 8 GB load.
#[test]
fn a_board_too_small_for_the_models_refuses_them_with_a_screen() {
    use gestaltcam::setup::analyzer_for_board;
    let tmp = tempfile::tempdir().unwrap();
    let cfg = device_config(tmp.path());
    make_gallery(1, "ref A", 3, 6, &device_embedder_id())
        .save(&cfg.gallery)
        .unwrap();
    let small = 200 << 20;
    let steps = std::sync::Mutex::new(Vec::new());
    let mut analyzer = analyzer_for_board(&cfg, Some(small), &|l| steps.lock().unwrap().push(l));
    assert!(analyzer.pipeline().is_none());
    // No model was loaded: the only step is the gallery's.
    let steps = steps.into_inner().unwrap();
    assert!(steps.iter().all(|s| s.gallery), "{steps:?}");
    let checks = analyzer.self_test();
    assert_eq!(checks[0].name, "RAM");
    assert_eq!(checks[0].state, CheckState::Failed);
    assert!(
        checks[0].detail.starts_with("needs ") && checks[0].detail.ends_with(", has 200 MB"),
        "{}",
        checks[0].detail
    );
    let out = run(face_camera(), analyzer, &[(2, Capture)], &ctx(1), &opts(6));
    assert_eq!(tags(&out.views), ["starting", "error TooLittleMemory"]);
    let detail = error_detail(&out.views[1]);
    assert!(detail.starts_with("RAM: needs "), "{detail}");
    assert_eq!(out.report.analyses, 0);
    assert!(!out.notices.contains(&Notice::Ready));
}

/// Start-up reports each model plan as it is ready (the detector's, its preview plan's, the
/// embedder's), then the gallery: "Loading model 1 of 3" … "Loading the gallery".
#[test]
#[cfg_attr(
    not(target_arch = "x86_64"),
    ignore = "loads the real models (a minute or more each under qemu-user): runs on the host"
)]
fn loading_reports_each_model_then_the_gallery() {
    use gestaltcam::setup::analyzer_for_board;
    let tmp = tempfile::tempdir().unwrap();
    let cfg = device_config(tmp.path());
    make_gallery(1, "ref A", 3, 6, &device_embedder_id())
        .save(&cfg.gallery)
        .unwrap();
    let steps = std::sync::Mutex::new(Vec::new());
    let eight_gb = 8 << 30;
    let analyzer = analyzer_for_board(&cfg, Some(eight_gb), &|l| {
        steps.lock().unwrap().push(l);
    });
    assert!(analyzer.pipeline().is_some());
    let texts: Vec<String> = steps
        .into_inner()
        .unwrap()
        .iter()
        .map(|l| l.text())
        .collect();
    assert_eq!(
        texts,
        [
            "Loading model 1 of 3",
            "Loading model 2 of 3",
            "Loading model 3 of 3",
            "Models loaded",
            "Loading the gallery"
        ]
    );
}
