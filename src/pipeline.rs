//! Photo → face detection → choice of the patient's face → alignment → embedding.
//!
//! [`PhotoEmbedder`] is the seam the gallery, evaluation and the device loop use, so they can be
//! tested with a small fake and run for real with [`FacePipeline`].

use crate::manifest::Metric;
use crate::vision::Face;
use image::RgbImage;

/// Why a decoded photo could not be used: it gave no embedding (no usable face, or a model
/// failed). Each variant is something a clinician can act on. Reading the file is
/// [`crate::photo::PhotoFileError`].
#[derive(Debug, thiserror::Error)]
pub enum UnusablePhotoError {
    #[error("no face found")]
    NoFace,
    #[error("{count} faces of similar size found; photograph one face at a time")]
    SeveralFaces { count: usize },
    #[error("the face is too small ({pixels:.0} px between the eyes); move closer")]
    FaceTooSmall { pixels: f32 },
    #[error("face detector failed: {0}")]
    Detect(String),
    #[error("embedding model failed: {0}")]
    Embed(String),
}

/// An embedding of the patient's face in one photo.
#[derive(Debug, Clone)]
pub struct FaceEmbedding {
    /// L2-normalised embedding.
    pub vector: Vec<f32>,
    /// The face it came from, in the photo's coordinates.
    pub face: Face,
    /// How many faces the detector saw (the chosen one included).
    pub faces_seen: usize,
}

/// Anything that turns a photo into the patient's face embedding.
pub trait PhotoEmbedder {
    /// Identity of the embedding model (see [`crate::manifest::ModelEntry::embedder_id`]);
    /// galleries record it and refuse another model's.
    fn embedder_id(&self) -> String;
    /// Length of the embedding vectors.
    fn embedding_size(&self) -> usize;
    /// The distance the model's manifest names.
    fn metric(&self) -> Metric;
    /// Embeds the patient's face in `photo`.
    fn embed_photo(&self, photo: &RgbImage) -> Result<FaceEmbedding, UnusablePhotoError>;
    /// The embedder set and variants a gallery built by this embedder records
    /// ([`EmbeddingRecipe`]); `None` (the default, for test doubles): none recorded.
    fn recipe(&self) -> Option<EmbeddingRecipe> {
        None
    }
}

use crate::embed::{EmbedError, EmbedOptions, Embedder, EmbedderSet, EmbeddingRecipe};
use crate::manifest::{AlignmentMode, Manifest, ManifestError, ModelEntry, Role, Template};
use crate::vision::align::Aligned;
use crate::vision::alignment::align_with;
use crate::vision::detect::{DetectError, Detector, DetectorSource};
use crate::vision::quality::{self, Issue, Measures, QualityThresholds};
use crate::vision::search;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

/// What the device and the commands use unless told otherwise: flip test-time augmentation on
/// (it raised dev-set top-1 by 1.6 points; docs/accuracy.md).
pub const DEVICE_EMBED_OPTIONS: EmbedOptions = EmbedOptions { flip_tta: true };

/// Runs every model inference from now on with tract's matrix products split over `threads`
/// threads (0 = one per core; 1 = single-threaded, tract's default). Process-wide (tract keeps
/// one default executor): the device sets it once at start-up from its config; the batch
/// commands (`gallery build`, `eval`, `calibrate`) leave it at 1 and embed several photos at once
/// instead. Returns the thread count used, which [`inference_threads`] then reports.
pub fn set_inference_threads(threads: usize) -> usize {
    use tract_linalg::multithread::{set_default_executor, Executor};
    let n = match threads {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    };
    set_default_executor(if n > 1 {
        Executor::multithread_with_name(n, "gestaltcam-inference")
    } else {
        Executor::SingleThread
    });
    INFERENCE_THREADS.store(n, Ordering::Relaxed);
    n
}

static INFERENCE_THREADS: AtomicUsize = AtomicUsize::new(1);

/// The thread count last set by [`set_inference_threads`] (1, tract's default, until then).
pub fn inference_threads() -> usize {
    INFERENCE_THREADS.load(Ordering::Relaxed)
}

/// Smallest eye distance, in pixels, at which a photo file is still embedded. (The live preview
/// asks for more: [`QualityThresholds::min_inter_ocular`].)
pub const MIN_PHOTO_INTER_OCULAR: f32 = 12.0;

/// Why the models could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum PipelineLoadError {
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    #[error("face detector refused: {0}")]
    Detector(#[from] DetectError),
    #[error("embedding model refused: {0}")]
    Embedder(#[from] EmbedError),
    #[error("model `{0}` has no alignment template")]
    NoTemplate(String),
    #[error("ensemble `{id}` is not usable: {message}")]
    Ensemble { id: String, message: String },
}

mod members;
mod trace;
pub use members::Members;
pub use trace::PhotoTrace;

/// The models in a folder a command named could not be loaded: the folder and why.
#[derive(Debug, thiserror::Error)]
#[error("loading models from {}", dir.display())]
pub struct ModelsDirError {
    pub dir: PathBuf,
    #[source]
    pub source: PipelineLoadError,
}

/// Loads the pipeline a command asks for (`--models`, `--embedder`, `--no-flip-tta`): the
/// default detector and the embedder `embedder` (or the manifest's first) from `models_dir`,
/// with an error that names the folder.
pub fn load_models(
    models_dir: &Path,
    embedder: Option<&str>,
    opts: EmbedOptions,
) -> Result<FacePipeline, ModelsDirError> {
    FacePipeline::load(models_dir, embedder, opts).map_err(|source| ModelsDirError {
        dir: models_dir.to_path_buf(),
        source,
    })
}

/// Loads the pipeline a command that reads a gallery asks for: as [`load_models`] (an
/// `--embedder` naming an `[[ensemble]]` loads it), but without `--embedder` the embedder (or
/// declared ensemble) is the one that built the gallery, `gallery_embedder_id` being the
/// id the gallery records ([`Manifest::embedder_for_gallery`]).
pub fn load_models_for_gallery(
    models_dir: &Path,
    embedder: Option<&str>,
    gallery_embedder_id: Option<&str>,
    opts: EmbedOptions,
) -> Result<FacePipeline, ModelsDirError> {
    let dir_err = |source: PipelineLoadError| ModelsDirError {
        dir: models_dir.to_path_buf(),
        source,
    };
    let manifest = Manifest::load_dir(models_dir).map_err(|e| dir_err(e.into()))?;
    if let Some(set) = embedder.filter(|id| manifest.ensemble(id).is_some()) {
        return load_models(models_dir, Some(set), opts);
    }
    if embedder.is_none() {
        if let Some(set) = gallery_embedder_id.and_then(|g| members::ensemble_for(&manifest, g)) {
            return load_models(models_dir, Some(&set), opts);
        }
    }
    let chosen = manifest
        .embedder_for_gallery(embedder, gallery_embedder_id)
        .map_err(|e| dir_err(e.into()))?;
    load_models(models_dir, Some(&chosen.id), opts)
}

/// The manifest's first detector, and the embedder or ensemble `embedder` (or the first
/// embedder).
fn entries<'m>(
    manifest: &'m Manifest,
    embedder: Option<&str>,
) -> Result<(&'m ModelEntry, Members<'m>), PipelineLoadError> {
    let detector = manifest.first_with_role(Role::Detector)?;
    let members = match embedder {
        Some(id) => Members::named(manifest, id)?,
        None => Members::single(manifest.first_with_role(Role::Embedder)?),
    };
    Ok((detector, members))
}

/// Told `(plans ready, plans)` as the models load ([`FacePipeline::load_with_preview_reporting`]);
/// called from the loading threads.
pub type LoadProgress<'a> = dyn Fn(usize, usize) + Sync + 'a;

/// Reports nothing.
const NONE: fn(usize, usize) = |_, _| {};

/// A scoped thread's result; its panic, if it panicked, carries on in the caller.
fn joined<T>(handle: std::thread::ScopedJoinHandle<'_, T>) -> T {
    handle
        .join()
        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
}

/// What the live preview needs to know about one frame.
#[derive(Debug, Clone, PartialEq)]
pub struct FrameCheck {
    pub faces: Vec<Face>,
    /// Index of the patient's face in `faces`, when one can be chosen.
    pub chosen: Option<usize>,
    pub measures: Option<Measures>,
    /// The first problem, or `None` when the frame is ready to capture.
    pub issue: Option<Issue>,
}

/// The real pipeline: detector + aligner + embedder from a models directory.
#[derive(Debug)]
pub struct FacePipeline {
    detector: Detector,
    /// The live preview's plan of the same detector at a smaller input
    /// ([`Self::with_preview_side`]); `None`: the preview runs `detector`.
    preview: Option<Detector>,
    /// The embedders (one, or a declared ensemble) and the variants they run.
    embedders: EmbedderSet,
    /// Each member's alignment template, in member order.
    templates: Vec<Template>,
    /// How faces are aligned onto each member's template (the entry's `alignment`), in member
    /// order.
    alignments: Vec<AlignmentMode>,
    pub thresholds: QualityThresholds,
}

impl FacePipeline {
    /// Loads the default detector and the embedder `embedder` (or the manifest's first embedder)
    /// from `models_dir/MANIFEST.toml`, checking every file's hash.
    pub fn load(
        models_dir: &Path,
        embedder: Option<&str>,
        opts: EmbedOptions,
    ) -> Result<Self, PipelineLoadError> {
        let manifest = Manifest::load_dir(models_dir)?;
        let (detector, members) = entries(&manifest, embedder)?;
        let (pipeline, _no_preview) = Self::from_members_with_preview(
            &manifest,
            detector,
            &members,
            opts,
            (0, false),
            &NONE,
        )?;
        Ok(pipeline)
    }

    /// [`Self::load`] and [`Self::set_preview_side`] in one, as the device starts. The detector
    /// file is read, hashed and decoded once for both of its plans ([`DetectorSource`]), and
    /// with more than one [inference thread](set_inference_threads) the two detector plans and
    /// the embedder are optimised at the same time, each on its own thread (the same work, in
    /// less time). A `preview_side` the detector cannot take is not fatal: the pipeline then
    /// runs one plan, and the second value says why.
    pub fn load_with_preview(
        models_dir: &Path,
        embedder: Option<&str>,
        opts: EmbedOptions,
        preview_side: usize,
    ) -> Result<(Self, Result<(), PipelineLoadError>), PipelineLoadError> {
        Self::load_with_preview_reporting(models_dir, embedder, opts, preview_side, &NONE)
    }

    /// [`Self::load_with_preview`], calling `progress(ready, plans)` first with 0 and then as
    /// each model plan is ready (the detector's, its preview plan's, each embedder's): how the
    /// start-up screen says "Loading model 2 of 3".
    pub fn load_with_preview_reporting(
        models_dir: &Path,
        embedder: Option<&str>,
        opts: EmbedOptions,
        preview_side: usize,
        progress: &LoadProgress<'_>,
    ) -> Result<(Self, Result<(), PipelineLoadError>), PipelineLoadError> {
        let parallel = inference_threads() > 1;
        Self::load_with_preview_on(models_dir, embedder, opts, preview_side, parallel, progress)
    }

    /// [`Self::load_with_preview_reporting`], the plans optimised on their own threads or not.
    fn load_with_preview_on(
        models_dir: &Path,
        embedder: Option<&str>,
        opts: EmbedOptions,
        preview_side: usize,
        parallel: bool,
        progress: &LoadProgress<'_>,
    ) -> Result<(Self, Result<(), PipelineLoadError>), PipelineLoadError> {
        let manifest = Manifest::load_dir(models_dir)?;
        let (detector, members) = entries(&manifest, embedder)?;
        Self::from_members_with_preview(
            &manifest,
            detector,
            &members,
            opts,
            (preview_side, parallel),
            progress,
        )
    }

    /// Builds the pipeline from explicit manifest entries.
    pub fn from_entries(
        manifest: &Manifest,
        detector: &ModelEntry,
        embedder: &ModelEntry,
        opts: EmbedOptions,
    ) -> Result<Self, PipelineLoadError> {
        let members = Members::single(embedder);
        let (pipeline, _no_preview) =
            Self::from_members_with_preview(manifest, detector, &members, opts, (0, false), &NONE)?;
        Ok(pipeline)
    }

    /// [`Self::from_entries`] for an embedder or ensemble, with the detector's preview plan at
    /// `preview_side` (0: none), the plans optimised on their own threads or not
    /// ([`Self::load_with_preview`]), each plan reported to `progress` as it is ready.
    fn from_members_with_preview(
        manifest: &Manifest,
        det_entry: &ModelEntry,
        members: &Members<'_>,
        opts: EmbedOptions,
        (preview_side, parallel): (usize, bool),
        progress: &LoadProgress<'_>,
    ) -> Result<(Self, Result<(), PipelineLoadError>), PipelineLoadError> {
        let templates = members.templates()?;
        let wants_preview =
            preview_side != 0 && (preview_side, preview_side) != det_entry.input_hw();
        let plans = 1 + usize::from(wants_preview) + members.entries().len();
        let ready = std::sync::atomic::AtomicUsize::new(0);
        let one_ready = || {
            let n = ready.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
            progress(n.min(plans), plans);
        };
        progress(0, plans);
        let source = DetectorSource::read(manifest, det_entry)?;
        let preview = || {
            let plan = wants_preview.then(|| source.plan_sized(preview_side));
            if plan.is_some() {
                one_ready();
            }
            plan
        };
        let embed = || members.load_counted(manifest, opts, &one_ready);
        let detector = || {
            let plan = source.plan();
            one_ready();
            plan
        };
        let (detector, preview, embedder) = if parallel {
            std::thread::scope(|s| {
                let preview = s.spawn(preview);
                let embedder = s.spawn(embed);
                let detector = detector();
                (detector, joined(preview), joined(embedder))
            })
        } else {
            (detector(), preview(), embed())
        };
        drop(source);
        let (preview, outcome) = match preview {
            None => (None, Ok(())),
            Some(Ok(d)) => (Some(d), Ok(())),
            Some(Err(e)) => (None, Err(PipelineLoadError::from(e))),
        };
        let pipeline = Self {
            detector: detector?,
            preview,
            embedders: embedder?,
            templates,
            alignments: members.alignments(),
            thresholds: QualityThresholds::default(),
        };
        Ok((pipeline, outcome))
    }

    /// The live preview runs the detector at a `side`×`side` input (smaller than the
    /// manifest's: [`Detector::load_sized`]); each capture is then detected again by the full
    /// detector as a photo file is ([`Self::capture_face`]). The manifest's own side, or 0,
    /// keeps one plan for both.
    pub fn with_preview_side(
        mut self,
        models_dir: &Path,
        side: usize,
    ) -> Result<Self, PipelineLoadError> {
        self.set_preview_side(models_dir, side)?;
        Ok(self)
    }

    /// [`Self::with_preview_side`] in place; on an error the preview runs the full detector.
    /// It reads the detector file again: at start-up [`Self::load_with_preview`] reads it once
    /// for both plans.
    pub fn set_preview_side(
        &mut self,
        models_dir: &Path,
        side: usize,
    ) -> Result<(), PipelineLoadError> {
        self.preview = None;
        if side == 0 || (side, side) == self.detector.input_hw() {
            return Ok(());
        }
        let manifest = Manifest::load_dir(models_dir)?;
        let entry = manifest.model(self.detector.id())?;
        self.preview = Some(Detector::load_sized(&manifest, entry, side)?);
        Ok(())
    }

    /// The (first) embedder's alignment mode; [`Self::alignment_name`] names every member's.
    pub fn alignment(&self) -> AlignmentMode {
        self.alignments[0]
    }

    pub fn detector(&self) -> &Detector {
        &self.detector
    }

    /// The detector the live preview runs ([`Self::check_frame`]).
    pub fn preview_detector(&self) -> &Detector {
        self.preview.as_ref().unwrap_or(&self.detector)
    }

    /// The first (for dlib's default, the only) embedder.
    pub fn embedder(&self) -> &Embedder {
        &self.embedders.members()[0]
    }

    /// The embedders and the variants they run.
    pub fn embedders(&self) -> &EmbedderSet {
        &self.embedders
    }

    /// What a gallery built by this pipeline records, and what one it queries must match.
    pub fn embedding_recipe(&self) -> EmbeddingRecipe {
        self.embedders.recipe()
    }

    /// Detects faces, in photo coordinates: one pass over the whole photo (what the live
    /// preview needs).
    pub fn detect(&self, photo: &RgbImage) -> Result<Vec<Face>, UnusablePhotoError> {
        self.detector
            .detect(photo)
            .map_err(|e| UnusablePhotoError::Detect(e.to_string()))
    }

    /// Finds faces in a photo to embed: the whole-photo pass, then, when it finds no face of
    /// [`search::MIN_INPUT_FACE`] input pixels in a photo bigger than the detector's input, a
    /// search in tiles ([`search::find_faces`]).
    pub fn find_faces(&self, photo: &RgbImage) -> Result<Vec<Face>, UnusablePhotoError> {
        search::find_faces(&self.detector, photo)
            .map_err(|e| UnusablePhotoError::Detect(e.to_string()))
    }

    /// `face` detected again at the photo's full resolution on a crop around it, where the
    /// whole-photo pass saw it small ([`search::refine`]).
    pub fn refine(&self, photo: &RgbImage, face: &Face) -> Result<Face, UnusablePhotoError> {
        search::refine(&self.detector, photo, face)
            .map_err(|e| UnusablePhotoError::Detect(e.to_string()))
    }

    /// Detection by the preview's plan ([`Self::preview_detector`]) plus the quality verdict
    /// the live preview shows ([`quality::assess`]).
    pub fn check_frame(&self, frame: &RgbImage) -> Result<FrameCheck, UnusablePhotoError> {
        let faces = self
            .preview_detector()
            .detect(frame)
            .map_err(|e| UnusablePhotoError::Detect(e.to_string()))?;
        let a = quality::assess(frame, &faces, &self.thresholds);
        Ok(FrameCheck {
            faces,
            chosen: a.chosen,
            measures: a.measures,
            issue: a.issue,
        })
    }

    /// Aligns and embeds the face of a capture, `face` being the one the preview found
    /// ([`Self::capture_face`]).
    pub fn embed_face(
        &self,
        photo: &RgbImage,
        face: &Face,
    ) -> Result<Vec<f32>, UnusablePhotoError> {
        self.embed_face_counted(photo, face, &|| {})
    }

    /// Model passes per photo: each embedder on each variant ([`EmbedderSet::passes`]).
    pub fn passes(&self) -> usize {
        self.embedders.passes()
    }

    /// [`Self::embed_face`], calling `pass_done` as each model pass ends.
    pub fn embed_face_counted(
        &self,
        photo: &RgbImage,
        face: &Face,
        pass_done: &(dyn Fn() + Sync),
    ) -> Result<Vec<f32>, UnusablePhotoError> {
        let face = self.capture_face(photo, face)?;
        Ok(self.embed_checked(photo, &face, pass_done)?.vector)
    }

    /// [`PhotoEmbedder::embed_photo`]'s vector (the face found here), calling `pass_done` as
    /// each model pass ends.
    pub fn embed_photo_counted(
        &self,
        photo: &RgbImage,
        pass_done: &(dyn Fn() + Sync),
    ) -> Result<Vec<f32>, UnusablePhotoError> {
        let (face, _) = self.find_and_refine(photo)?;
        Ok(self.embed_checked(photo, &face, pass_done)?.vector)
    }

    /// The face a capture is aligned with, as precise as the photo allows. With one detector
    /// plan the capture keeps the face the preview found, looked at again on a crop at full
    /// resolution where the whole-frame pass saw it small ([`Self::refine`]). When the preview
    /// runs the smaller plan ([`Self::with_preview_side`]), the capture is detected again as a
    /// photo file is (the full detector, the face choice, the crop), so its landmarks and its
    /// "one face only" check are the full detector's, whatever the preview saw.
    pub fn capture_face(&self, photo: &RgbImage, face: &Face) -> Result<Face, UnusablePhotoError> {
        if self.preview.is_some() {
            Ok(self.find_and_refine(photo)?.0)
        } else {
            self.refine(photo, face)
        }
    }

    /// A photo's faces by the full detector, the patient's chosen, refined: that face and how
    /// many faces the photo showed.
    fn find_and_refine(&self, photo: &RgbImage) -> Result<(Face, usize), UnusablePhotoError> {
        let faces = self.find_faces(photo)?;
        let chosen = match quality::choose_face(&faces, photo.dimensions(), &self.thresholds) {
            Ok(i) => i,
            Err(Issue::SeveralFaces) => {
                return Err(UnusablePhotoError::SeveralFaces { count: faces.len() })
            }
            Err(_) => return Err(UnusablePhotoError::NoFace),
        };
        Ok((self.refine(photo, &faces[chosen])?, faces.len()))
    }

    /// Aligns and embeds a face whose landmarks are final.
    fn embed_refined(&self, photo: &RgbImage, face: &Face) -> Result<Vec<f32>, UnusablePhotoError> {
        Ok(self.embed_checked(photo, face, &|| {})?.vector)
    }

    /// [`Self::embed_refined`] with the passes' norms: refuses a face too small, aligns, embeds.
    /// `pass_done` is called as each model pass ends.
    fn embed_checked(
        &self,
        photo: &RgbImage,
        face: &Face,
        pass_done: &(dyn Fn() + Sync),
    ) -> Result<crate::embed::SetEmbedding, UnusablePhotoError> {
        let iod = face.inter_ocular();
        if iod < MIN_PHOTO_INTER_OCULAR {
            return Err(UnusablePhotoError::FaceTooSmall { pixels: iod });
        }
        self.embed_aligned(photo, face, pass_done)
    }

    /// `face` aligned onto `template` the way `mode` says (GM-Arc's mode detects the rotated
    /// photo again with the full detector).
    fn align_on(
        &self,
        photo: &RgbImage,
        face: &Face,
        template: &Template,
        mode: AlignmentMode,
    ) -> Result<Aligned, UnusablePhotoError> {
        let redetect = |rotated: &RgbImage| {
            let faces = self.detector.detect(rotated).unwrap_or_default();
            faces.into_iter().map(|f| f.landmarks).collect()
        };
        align_with(photo, &face.landmarks, template, mode, redetect)
            .map_err(|e| UnusablePhotoError::Detect(e.to_string()))
    }

    /// The alignment modes' names, in member order without repeats, joined by `+` (one name for
    /// a single embedder): what `analyze --json` reports.
    pub fn alignment_name(&self) -> String {
        let mut names: Vec<&str> = Vec::new();
        for m in &self.alignments {
            if !names.contains(&m.name()) {
                names.push(m.name());
            }
        }
        names.join("+")
    }

    /// Aligns the chosen face onto the (first) embedder's template.
    pub fn align(&self, photo: &RgbImage, face: &Face) -> Result<Aligned, UnusablePhotoError> {
        self.align_on(photo, face, &self.templates[0], self.alignments[0])
    }

    /// Embeds an aligned chip (every member on the same chip).
    pub fn embed_chip(&self, chip: &RgbImage) -> Result<Vec<f32>, UnusablePhotoError> {
        self.embedders
            .embed_chip(chip)
            .map(|e| e.vector)
            .map_err(|e| UnusablePhotoError::Embed(e.to_string()))
    }

    /// Aligns the face once per distinct template and runs every (model, variant) pair.
    fn embed_aligned(
        &self,
        photo: &RgbImage,
        face: &Face,
        pass_done: &(dyn Fn() + Sync),
    ) -> Result<crate::embed::SetEmbedding, UnusablePhotoError> {
        let mut chips: Vec<RgbImage> = Vec::with_capacity(self.templates.len());
        let ways: Vec<(&Template, AlignmentMode)> = self
            .templates
            .iter()
            .zip(self.alignments.iter().copied())
            .collect();
        for (i, &(t, mode)) in ways.iter().enumerate() {
            let same = ways[..i].iter().position(|&(u, m)| u == t && m == mode);
            let chip = match same {
                Some(j) => chips[j].clone(),
                None => self.align_on(photo, face, t, mode)?.chip,
            };
            chips.push(chip);
        }
        let chips: Vec<&RgbImage> = chips.iter().collect();
        self.embedders
            .embed_chips_counted(&chips, pass_done)
            .map_err(|e| UnusablePhotoError::Embed(e.to_string()))
    }
}

impl PhotoEmbedder for FacePipeline {
    fn embedder_id(&self) -> String {
        self.embedders.recipe().gallery_id()
    }

    fn embedding_size(&self) -> usize {
        self.embedders.embedding_size()
    }

    fn metric(&self) -> Metric {
        self.embedders.metric()
    }

    fn recipe(&self) -> Option<EmbeddingRecipe> {
        Some(self.embedders.recipe())
    }

    fn embed_photo(&self, photo: &RgbImage) -> Result<FaceEmbedding, UnusablePhotoError> {
        let (face, faces_seen) = self.find_and_refine(photo)?;
        let vector = self.embed_refined(photo, &face)?;
        Ok(FaceEmbedding {
            vector,
            face,
            faces_seen,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn models() -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("models")
    }

    /// [`FacePipeline::load_with_preview_on`] with the device's options.
    fn load(
        dir: &Path,
        embedder: Option<&str>,
        side: usize,
        parallel: bool,
    ) -> Result<(FacePipeline, Result<(), PipelineLoadError>), PipelineLoadError> {
        FacePipeline::load_with_preview_on(
            dir,
            embedder,
            DEVICE_EMBED_OPTIONS,
            side,
            parallel,
            &NONE,
        )
    }

    fn photo() -> RgbImage {
        let path =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/photos/astronaut.png");
        crate::photo::load_path(&path).expect("fixture photo")
    }

    /// One read of the detector file gives the plans two reads give, whether the plans are
    /// optimised one after the other or on their own threads: the same faces from the preview
    /// plan and the full one, the same embedding.
    #[test]
    fn one_read_gives_the_plans_of_two_serial_or_parallel() {
        let (models, img) = (models(), photo());
        let two_reads = FacePipeline::load(&models, None, DEVICE_EMBED_OPTIONS)
            .expect("loads")
            .with_preview_side(&models, 160)
            .expect("preview plan");
        let want_preview = two_reads.preview_detector().detect(&img).expect("detects");
        let want = two_reads.embed_photo(&img).expect("embeds");
        assert!(!want_preview.is_empty());
        for parallel in [false, true] {
            let (p, preview) = load(&models, None, 160, parallel).expect("loads");
            preview.expect("the preview plan");
            assert_eq!(
                p.preview_detector().input_hw(),
                (160, 160),
                "parallel {parallel}"
            );
            assert_eq!(p.detector().input_hw(), (320, 320));
            assert_eq!(p.embedder_id(), two_reads.embedder_id());
            assert_eq!(
                p.preview_detector().detect(&img).expect("detects"),
                want_preview
            );
            let got = p.embed_photo(&img).expect("embeds");
            assert_eq!(
                (got.face, got.vector),
                (want.face.clone(), want.vector.clone())
            );
        }
    }

    /// A preview side the detector cannot take leaves one plan and says why; 0 asks for one
    /// plan; a damaged embedder file still fails the load, in parallel as serially.
    #[test]
    fn a_preview_side_the_detector_cannot_take_leaves_one_plan() {
        let models = models();
        for parallel in [false, true] {
            let (p, preview) = load(&models, None, 352, parallel)
                .expect("the pipeline loads without the preview plan");
            match preview {
                Err(PipelineLoadError::Detector(DetectError::Param { name, message, .. })) => {
                    assert_eq!(name, "input_shape");
                    assert!(message.contains("352"), "{message}");
                }
                other => panic!("parallel {parallel}: {other:?}"),
            }
            assert_eq!(p.preview_detector().input_hw(), (320, 320));
            let (one, preview) = load(&models, None, 0, parallel).expect("loads");
            preview.expect("no preview plan asked for");
            assert!(one.preview.is_none());
        }
        // The embedder's file damaged: refused while the detector's plans are built beside it.
        let tmp = tempfile::tempdir().expect("tempdir");
        for f in ["MANIFEST.toml", "retinaface-mnet025-320.onnx"] {
            std::fs::copy(models.join(f), tmp.path().join(f)).expect("copy");
        }
        std::fs::write(
            tmp.path().join("dlib_face_resnet_v1_int8.onnx"),
            b"not a model",
        )
        .unwrap();
        for parallel in [false, true] {
            let refused = load(tmp.path(), Some("dlib-resnet-v1-int8"), 192, parallel);
            match refused {
                Err(PipelineLoadError::Embedder(EmbedError::Manifest(
                    ManifestError::HashMismatch { .. },
                ))) => {}
                Err(e) => panic!("parallel {parallel}: {e}"),
                Ok(_) => panic!("parallel {parallel}: a damaged embedder loaded"),
            }
        }
    }
}
