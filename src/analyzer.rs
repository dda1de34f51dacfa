//! The device's analyzer: the real detector, embedder and gallery behind the app's
//! [`Analyzer`] trait. Pure: frames in, views' data out; nothing is written anywhere.

use crate::app::run::Analyzer;
use crate::app::{AnalyseError, AnalysisOutcome, FrameSummary, GuidanceThresholds};
use crate::camera::Frame;
use crate::gallery::{FusionMode, Gallery};
use crate::pipeline::{FacePipeline, PhotoEmbedder, PhotoError};
use crate::ui::view::{Basis, CheckState, SelfCheck};
use crate::vision::quality::Issue;

/// Detector + embedder + gallery, as loaded at start-up. A part that failed to load is kept as
/// its error message, so the self-test screen can say which part was refused and why.
pub struct PipelineAnalyzer {
    pipeline: Result<FacePipeline, String>,
    gallery: Result<Gallery, String>,
    pub fusion: FusionMode,
    /// How many candidates to rank.
    pub top_k: usize,
    /// The bundled demo gallery: every result screen says DEMO.
    pub demo: bool,
    /// Limits the app's guidance uses, so the measured values are scaled to meet them.
    pub guidance: GuidanceThresholds,
    /// Extra self-test lines (e.g. the camera's), shown after model and gallery.
    pub extra_checks: Vec<SelfCheck>,
    /// Why the configured gallery was refused when the gallery in use is the last good copy
    /// (see [`crate::app::setup`]): the self-test then shows a warning the clinician must
    /// acknowledge.
    pub gallery_refused: Option<String>,
}

impl PipelineAnalyzer {
    /// Pairs a pipeline and a gallery; a gallery made by another model is refused here.
    pub fn new(pipeline: Result<FacePipeline, String>, gallery: Result<Gallery, String>) -> Self {
        let gallery = match (&pipeline, gallery) {
            (Ok(p), Ok(g)) => match g.check_embedder(&p.embedder_id()) {
                Ok(()) => Ok(g),
                Err(e) => Err(e.to_string()),
            },
            (_, g) => g,
        };
        Self {
            pipeline,
            gallery,
            fusion: FusionMode::default(),
            top_k: 10,
            demo: false,
            guidance: GuidanceThresholds::default(),
            extra_checks: Vec::new(),
            gallery_refused: None,
        }
    }

    pub fn pipeline(&self) -> Option<&FacePipeline> {
        self.pipeline.as_ref().ok()
    }

    pub fn gallery(&self) -> Option<&Gallery> {
        self.gallery.as_ref().ok()
    }

    fn basis(&self, gallery: &Gallery, pipeline: &FacePipeline, photos: usize) -> Basis {
        Basis {
            reference_cases: gallery.len(),
            syndromes: gallery.labels().len(),
            photos,
            model_version: pipeline.embedder().entry().version.clone(),
            gallery_version: gallery.name().to_string(),
            demo: self.demo,
        }
    }
}

fn check(name: &str, r: Result<String, &String>) -> SelfCheck {
    match r {
        Ok(detail) => SelfCheck {
            name: name.into(),
            state: CheckState::Ok,
            detail,
        },
        Err(e) => SelfCheck {
            name: name.into(),
            state: CheckState::Failed,
            detail: e.clone(),
        },
    }
}

impl Analyzer for PipelineAnalyzer {
    fn self_test(&mut self) -> Vec<SelfCheck> {
        let model = self.pipeline.as_ref().map(|p| {
            let e = p.embedder().entry();
            format!("{} {}", e.id, &e.sha256[..8.min(e.sha256.len())])
        });
        let gallery = self
            .gallery
            .as_ref()
            .map(|g| format!("{}: {} cases", g.name(), g.len()));
        let mut checks = vec![check("Model", model)];
        match (&self.gallery, &self.gallery_refused) {
            (Ok(g), Some(reason)) => {
                checks.push(SelfCheck {
                    name: "Gallery".into(),
                    state: CheckState::Warning,
                    detail: format!("configured one refused: {reason}"),
                });
                checks.push(SelfCheck {
                    name: "Using".into(),
                    state: CheckState::Ok,
                    detail: format!("last good {}: {} cases", g.name(), g.len()),
                });
            }
            _ => checks.push(check("Gallery", gallery)),
        }
        checks.extend(self.extra_checks.iter().cloned());
        checks
    }

    fn preview(&mut self, frame: &Frame) -> FrameSummary {
        let Ok(p) = &self.pipeline else {
            return FrameSummary::no_face(0.0);
        };
        let img = &frame.image;
        let whole_frame_brightness = || {
            let n = (img.width() as f32 * img.height() as f32).max(1.0);
            img.pixels()
                .map(|px| {
                    0.299 * f32::from(px[0]) + 0.587 * f32::from(px[1]) + 0.114 * f32::from(px[2])
                })
                .sum::<f32>()
                / n
                / 255.0
        };
        let Ok(check) = p.check_frame(img) else {
            return FrameSummary::no_face(whole_frame_brightness());
        };
        let (Some(i), Some(m)) = (check.chosen, check.measures) else {
            let mut s = FrameSummary::no_face(whole_frame_brightness());
            if check.issue == Some(Issue::SeveralFaces) {
                // Several similar faces: report them so the screen says "one face only".
                s.face_count = check.faces.len();
                s.face_box = check
                    .faces
                    .first()
                    .map(|f| fraction_box(&f.bbox, img.width(), img.height()));
                s.sharpness = 1.0;
                s.frontal = 1.0;
            }
            return s;
        };
        let face = &check.faces[i];
        let t = &p.thresholds;
        let g = &self.guidance;
        // Scale measurements so the pipeline's own limits land exactly on the app's thresholds.
        let sharpness = (m.sharpness / t.min_sharpness.max(1e-6) * g.min_sharpness).clamp(0.0, 1.0);
        let frontal =
            (1.0 - m.yaw.abs() / t.max_yaw.max(1e-6) * (1.0 - g.min_frontal)).clamp(0.0, 1.0);
        let brightness =
            (m.brightness / t.min_brightness.max(1e-6) * g.min_brightness).clamp(0.0, 1.0);
        FrameSummary {
            face_count: 1,
            face_box: Some(fraction_box(&face.bbox, img.width(), img.height())),
            brightness,
            sharpness,
            frontal,
        }
    }

    fn analyse(&mut self, photos: &[Frame]) -> Result<AnalysisOutcome, AnalyseError> {
        let p = self
            .pipeline
            .as_ref()
            .map_err(|e| AnalyseError::Model(e.clone()))?;
        let g = self
            .gallery
            .as_ref()
            .map_err(|e| AnalyseError::Gallery(e.clone()))?;
        let mut vectors = Vec::new();
        let mut first_bad = None;
        for (n, photo) in photos.iter().enumerate() {
            match p.embed_photo(&photo.image) {
                Ok(e) => vectors.push(e.vector),
                Err(PhotoError::Detect(m) | PhotoError::Embed(m)) => {
                    return Err(AnalyseError::Model(m))
                }
                Err(_) => {
                    first_bad.get_or_insert(n + 1);
                }
            }
        }
        if vectors.is_empty() {
            return Err(AnalyseError::NoUsableFace {
                photo: first_bad.unwrap_or(1),
            });
        }
        let ranking = g
            .rank_photos(&vectors, self.top_k.max(1), self.fusion)
            .map_err(|e| AnalyseError::Gallery(e.to_string()))?;
        let basis = self.basis(g, p, vectors.len());
        if !ranking.close_match {
            return Ok(AnalysisOutcome::NoCloseMatch { basis });
        }
        Ok(AnalysisOutcome::Candidates {
            candidates: ranking.candidates(),
            basis,
        })
    }
}

fn fraction_box(b: &[f32; 4], w: u32, h: u32) -> [f32; 4] {
    let (w, h) = (w.max(1) as f32, h.max(1) as f32);
    [
        (b[0] / w).clamp(0.0, 1.0),
        (b[1] / h).clamp(0.0, 1.0),
        (b[2] / w).clamp(0.0, 1.0),
        (b[3] / h).clamp(0.0, 1.0),
    ]
}
