//! The screening itself: the real face analyzer behind the [`Analyzer`] port. It finds the
//! patient's face in preview frames and captures (detector), embeds it (tract), ranks the
//! gallery's syndromes by it, and runs the phenotype questions (HPO) on the result. Pure:
//! frames in, views' data out; nothing is written anywhere. It knows the port
//! ([`crate::analysis`]), not the app that drives it.

use crate::analysis::{
    AnalyseError, AnalysisOutcome, Analyzer, Capture, FrameSummary, Progress, ProgressSink, Refined,
};
use crate::camera::Frame;
use crate::gallery::{FusionMode, Gallery};
use crate::hpo::{
    self, Answer, FaceLikelihood, HpoError, HpoIndex, QueryTerm, QuestionRound, Step,
};
use crate::pipeline::{FacePipeline, UnusablePhotoError};
use crate::ui::view::{Basis, Candidate, CheckState, SelfCheck};
use crate::vision::quality::Issue;
use std::path::Path;

/// The phenotype questions' data: the HPO index and the curated questions compiled against it.
pub struct Phenotype {
    index: HpoIndex,
    bank: Vec<QueryTerm>,
}

impl Phenotype {
    /// Reads the HPO release files in `dir` (`hp.obo`, `phenotype.hpoa`).
    pub fn load(dir: &Path) -> Result<Self, HpoError> {
        let index = HpoIndex::load(dir)?;
        let bank = index.question_bank()?;
        Ok(Phenotype { index, bank })
    }

    /// `HPO 2025-01-16`: what the basis line names.
    pub fn release(&self) -> String {
        self.index.release.basis_line()
    }
}

/// The question round on the last result, and the face candidates it started from (in the
/// round's candidate order).
struct Round {
    round: QuestionRound,
    face: Vec<Candidate>,
}

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
    /// Extra self-test lines (e.g. the camera's), shown after model and gallery.
    pub extra_checks: Vec<SelfCheck>,
    /// Why the configured gallery was refused when the gallery in use is the last good copy
    /// (see [`crate::setup`]): the self-test then shows a warning the clinician must
    /// acknowledge.
    pub gallery_refused: Option<String>,
    /// The phenotype questions: `None` = off; an error (missing or malformed HPO files) keeps
    /// the device face-only with a start-screen warning.
    pub phenotype: Option<Result<Phenotype, String>>,
    /// The board cannot hold the configured models (what they need, what it has): they were
    /// not loaded, and the self-test's first line is a failed "RAM" check.
    pub memory_refused: Option<String>,
    round: Option<Round>,
}

impl PipelineAnalyzer {
    /// Pairs a pipeline and a gallery; a gallery made by another model, embedder set or
    /// variants is refused here.
    pub fn new(pipeline: Result<FacePipeline, String>, gallery: Result<Gallery, String>) -> Self {
        let gallery = match (&pipeline, gallery) {
            (Ok(p), Ok(g)) => match g.check_recipe(&p.embedding_recipe()) {
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
            extra_checks: Vec::new(),
            gallery_refused: None,
            phenotype: None,
            memory_refused: None,
            round: None,
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
            phenotype: None,
        }
    }

    /// The self-test line of the phenotype questions, if they are configured.
    fn phenotype_check(&self) -> Option<SelfCheck> {
        let line = |state, detail: String| SelfCheck {
            name: "Questions".into(),
            state,
            detail,
        };
        Some(match self.phenotype.as_ref()? {
            Err(e) => line(CheckState::Warning, format!("face only: {e}")),
            // Not a fault at the bedside: the questions need a calibrated gallery, and the
            // package turns them on for whatever gallery comes. Said, not held for a button.
            Ok(_) if self.gallery().is_some_and(|g| g.calibration().is_none()) => {
                line(CheckState::Ok, "off: the gallery has no calibration".into())
            }
            Ok(p) => line(
                CheckState::Ok,
                format!("{}, {} questions", p.release(), p.bank.len()),
            ),
        })
    }

    /// A question round on `ranking`'s candidates when the HPO data is loaded and the gallery
    /// is calibrated for this session (its distance histograms are the face likelihood).
    fn start_round(
        &self,
        g: &Gallery,
        ranking: &crate::gallery::Ranking,
        photos: usize,
    ) -> Option<Round> {
        let Some(Ok(_)) = &self.phenotype else {
            return None;
        };
        let (_, _, session) = g.session_threshold(photos, Some(self.fusion));
        let face = match FaceLikelihood::from_session(session?) {
            Ok(f) => f,
            Err(e) => {
                log::warn!("no phenotype questions: {e}");
                return None;
            }
        };
        Some(Round {
            round: QuestionRound::new(hpo::Candidate::from_ranking(ranking), face),
            face: ranking.candidates(),
        })
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
        let mut checks = Vec::new();
        if let Some(detail) = &self.memory_refused {
            checks.push(check("RAM", Err(detail)));
        }
        checks.push(check("Model", model));
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
        checks.extend(self.phenotype_check());
        checks.extend(self.extra_checks.iter().cloned());
        checks
    }

    fn preview(&mut self, frame: &Frame) -> Result<FrameSummary, AnalyseError> {
        let p = self
            .pipeline
            .as_ref()
            .map_err(|e| AnalyseError::ModelUnavailable { detail: e.clone() })?;
        let img = &frame.image;
        let check = p.check_frame(img).map_err(|e| AnalyseError::ModelFailed {
            detail: e.to_string(),
        })?;
        let chosen = check.chosen.map(|i| check.faces[i].clone());
        // Several similar faces: box the first so the screen shows what it means.
        let boxed = chosen.as_ref().or(check.faces.first());
        Ok(FrameSummary {
            face_count: if chosen.is_some() {
                1
            } else {
                check.faces.len()
            },
            face_box: boxed.map(|f| fraction_box(&f.bbox, img.width(), img.height())),
            face: chosen,
            issue: check.issue,
        })
    }

    fn analyse(&mut self, photos: &[Capture]) -> Result<AnalysisOutcome, AnalyseError> {
        self.analyse_reporting(photos, &|_| {})
    }

    /// Reports each model pass of each photo as it ends ([`PassCounter`]).
    fn analyse_reporting(
        &mut self,
        photos: &[Capture],
        progress: &ProgressSink<'_>,
    ) -> Result<AnalysisOutcome, AnalyseError> {
        let p = self
            .pipeline
            .as_ref()
            .map_err(|e| AnalyseError::ModelUnavailable { detail: e.clone() })?;
        let g = self
            .gallery
            .as_ref()
            .map_err(|e| AnalyseError::GalleryUnavailable { detail: e.clone() })?;
        let mut vectors = Vec::new();
        let mut first_problem = None;
        // The face found at capture (detected again by the full plan when the preview runs the
        // smaller one); a capture without one (not taken through the preview) is detected here. The photos are independent: side by side on a multithreaded device.
        let counter = PassCounter::new(photos.len(), p.passes(), progress);
        let indexed: Vec<(usize, &Capture)> = photos.iter().enumerate().collect();
        let embedded = crate::threads::map(&indexed, |&(i, photo)| {
            let pass_done = || counter.pass_done(i);
            let out = match &photo.face {
                Some(face) => p.embed_face_counted(&photo.frame.image, face, &pass_done),
                None => p.embed_photo_counted(&photo.frame.image, &pass_done),
            };
            // A photo that failed before its last pass counts as done all the same.
            counter.photo_done(i);
            out
        });
        for (n, embedded) in embedded.into_iter().enumerate() {
            match embedded {
                Ok(v) => vectors.push(v),
                Err(UnusablePhotoError::Detect(m) | UnusablePhotoError::Embed(m)) => {
                    return Err(AnalyseError::ModelFailed { detail: m })
                }
                Err(e) => {
                    log::info!("photo {} of {} not usable: {e}", n + 1, photos.len());
                    first_problem.get_or_insert(match e {
                        UnusablePhotoError::SeveralFaces { .. } => Issue::SeveralFaces,
                        UnusablePhotoError::FaceTooSmall { .. } => Issue::TooSmall,
                        _ => Issue::NoFace,
                    });
                }
            }
        }
        if vectors.is_empty() {
            return Err(AnalyseError::NoUsableFace {
                photos: photos.len(),
                reason: first_problem.unwrap_or(Issue::NoFace),
            });
        }
        self.round = None;
        // The question round re-ranks the first hpo::TOP_N face candidates.
        let k = if self.phenotype.is_some() {
            self.top_k.max(hpo::TOP_N)
        } else {
            self.top_k
        };
        let ranking = g
            .rank_photos(&vectors, k.max(1), self.fusion)
            .map_err(|e| AnalyseError::RankingFailed {
                detail: e.to_string(),
            })?;
        log::info!(
            "analysed {} photo(s): {} (threshold of the {}-photo calibration)",
            vectors.len(),
            if ranking.close_match {
                "close match"
            } else {
                "no close match"
            },
            ranking
                .threshold_photos
                .map_or("no".to_string(), |n| n.to_string())
        );
        let mut basis = self.basis(g, p, vectors.len());
        if !ranking.close_match {
            return Ok(AnalysisOutcome::NoCloseMatch { basis });
        }
        self.round = self.start_round(g, &ranking, vectors.len());
        if self.round.is_some() {
            basis.phenotype = self
                .phenotype
                .as_ref()
                .and_then(|p| p.as_ref().ok())
                .map(Phenotype::release);
        }
        Ok(AnalysisOutcome::Candidates {
            candidates: ranking.candidates(),
            basis,
        })
    }

    fn refine(&mut self, answers: &[Answer]) -> Refined {
        let (Some(Ok(ph)), Some(r)) = (&self.phenotype, &self.round) else {
            return Refined::Unavailable;
        };
        match r.round.step(&ph.index, &ph.bank, answers) {
            Step::Ask { number, label } => Refined::Ask {
                number,
                question: label,
            },
            Step::Done { ranked } => {
                let start = r.round.candidates();
                let candidates = ranked
                    .iter()
                    .filter_map(|s| {
                        let i = start.iter().position(|c| c.label == s.label)?;
                        let mut c = r.face.get(i)?.clone();
                        c.evidence = Some(hpo::evidence_line(s));
                        Some(c)
                    })
                    .enumerate()
                    .map(|(rank, mut c)| {
                        c.rank = rank + 1;
                        c
                    })
                    .collect();
                log::info!(
                    "phenotype questions: {} answer(s), list re-ranked",
                    answers.len()
                );
                Refined::Done { candidates }
            }
        }
    }

    fn clear_session(&mut self) {
        self.round = None;
    }
}

/// Counts the model passes of a session's photos (which may run side by side) and reports the
/// total after each one.
struct PassCounter<'a> {
    /// Passes done, per photo.
    done: Vec<std::sync::atomic::AtomicUsize>,
    passes: usize,
    sink: &'a ProgressSink<'a>,
}

impl<'a> PassCounter<'a> {
    /// Reports the start (photo 1, no pass done).
    fn new(photos: usize, passes: usize, sink: &'a ProgressSink<'a>) -> Self {
        let c = PassCounter {
            done: (0..photos).map(|_| Default::default()).collect(),
            passes: passes.max(1),
            sink,
        };
        c.report();
        c
    }

    fn pass_done(&self, photo: usize) {
        use std::sync::atomic::Ordering;
        let passes = self.passes;
        let _ = self.done[photo].fetch_update(Ordering::SeqCst, Ordering::SeqCst, |d| {
            Some((d + 1).min(passes))
        });
        self.report();
    }

    /// The photo is finished (embedded, or refused): all its passes count.
    fn photo_done(&self, photo: usize) {
        let before = self.done[photo].swap(self.passes, std::sync::atomic::Ordering::SeqCst);
        if before != self.passes {
            self.report();
        }
    }

    fn report(&self) {
        let done = self
            .done
            .iter()
            .map(|d| d.load(std::sync::atomic::Ordering::SeqCst))
            .sum();
        (self.sink)(Progress::from_done(done, self.passes, self.done.len()));
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::DEVICE_EMBED_OPTIONS;
    use image::RgbImage;
    use std::time::Duration;

    fn frame(width: u32, height: u32) -> Frame {
        Frame::new(RgbImage::new(width, height), 0, Duration::ZERO)
    }

    /// Models that did not load make the preview fail, not report a frame without a face.
    #[test]
    fn preview_without_models_is_an_error() {
        let mut a = PipelineAnalyzer::new(Err("no detector".into()), Err("no gallery".into()));
        assert_eq!(
            a.preview(&frame(64, 48)),
            Err(AnalyseError::ModelUnavailable {
                detail: "no detector".into()
            })
        );
    }

    /// A detector error on a preview frame (here: a frame with no pixels) reaches the app as
    /// an error, where it used to be an ordinary "no face" summary.
    #[test]
    fn a_detector_error_on_preview_is_an_error() {
        let models = Path::new(env!("CARGO_MANIFEST_DIR")).join("models");
        let pipeline = FacePipeline::load(&models, None, DEVICE_EMBED_OPTIONS).expect("models");
        let mut a = PipelineAnalyzer::new(Ok(pipeline), Err("no gallery".into()));
        let got = a.preview(&frame(0, 0));
        let Err(AnalyseError::ModelFailed { detail }) = &got else {
            panic!("expected a detector failure: {got:?}");
        };
        assert!(detail.contains("no pixels"), "{detail}");
    }
}
