//! Photo → face detection → choice of the patient's face → alignment → embedding.
//!
//! [`PhotoEmbedder`] is the seam the gallery, evaluation and the device loop use, so they can be
//! tested with a small fake and run for real with [`FacePipeline`].

use crate::manifest::Metric;
use crate::vision::Face;
use image::RgbImage;

/// Why a photo gave no embedding. Each variant is something a clinician can act on.
#[derive(Debug, thiserror::Error)]
pub enum PhotoError {
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
    fn embed_photo(&self, photo: &RgbImage) -> Result<FaceEmbedding, PhotoError>;
}

use crate::embed::{EmbedError, EmbedOptions, Embedder};
use crate::manifest::{Manifest, ManifestError, ModelEntry, Role, Template};
use crate::vision::align::{align, Aligned};
use crate::vision::detect::{DetectError, Detector};
use crate::vision::quality::{self, Issue, Measures, QualityThresholds};
use crate::vision::search;
use std::path::Path;

/// What the device and the commands use unless told otherwise: flip test-time augmentation on
/// (it raised dev-set top-1 by 1.6 points; README).
pub const DEVICE_EMBED_OPTIONS: EmbedOptions = EmbedOptions { flip_tta: true };

/// Runs every model inference from now on with tract's matrix products split over `threads`
/// threads (0 = one per core; 1 = single-threaded, tract's default). Process-wide (tract keeps
/// one default executor): the device sets it once at start-up from its config; the batch
/// commands (`gallery build`, `eval`, `calibrate`) leave it at 1 and embed several photos at once
/// instead. Returns the thread count used.
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
    n
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
    embedder: Embedder,
    template: Template,
    embedder_id: String,
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
        let det_entry = manifest.first_with_role(Role::Detector)?;
        let emb_entry = match embedder {
            Some(id) => manifest.model(id)?,
            None => manifest.first_with_role(Role::Embedder)?,
        };
        Self::from_entries(&manifest, det_entry, emb_entry, opts)
    }

    /// Builds the pipeline from explicit manifest entries.
    pub fn from_entries(
        manifest: &Manifest,
        detector: &ModelEntry,
        embedder: &ModelEntry,
        opts: EmbedOptions,
    ) -> Result<Self, PipelineLoadError> {
        let template = embedder
            .template
            .clone()
            .ok_or_else(|| PipelineLoadError::NoTemplate(embedder.id.clone()))?;
        Ok(Self {
            detector: Detector::load(manifest, detector)?,
            preview: None,
            embedder: Embedder::load(manifest, embedder, opts)?,
            template,
            embedder_id: embedder.embedder_id(),
            thresholds: QualityThresholds::default(),
        })
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

    pub fn detector(&self) -> &Detector {
        &self.detector
    }

    /// The detector the live preview runs ([`Self::check_frame`]).
    pub fn preview_detector(&self) -> &Detector {
        self.preview.as_ref().unwrap_or(&self.detector)
    }

    pub fn embedder(&self) -> &Embedder {
        &self.embedder
    }

    /// Detects faces, in photo coordinates: one pass over the whole photo (what the live
    /// preview needs).
    pub fn detect(&self, photo: &RgbImage) -> Result<Vec<Face>, PhotoError> {
        self.detector
            .detect(photo)
            .map_err(|e| PhotoError::Detect(e.to_string()))
    }

    /// Finds faces in a photo to embed: the whole-photo pass, then, when it finds no face of
    /// [`search::MIN_INPUT_FACE`] input pixels in a photo bigger than the detector's input, a
    /// search in tiles ([`search::find_faces`]).
    pub fn find_faces(&self, photo: &RgbImage) -> Result<Vec<Face>, PhotoError> {
        search::find_faces(&self.detector, photo).map_err(|e| PhotoError::Detect(e.to_string()))
    }

    /// `face` detected again at the photo's full resolution on a crop around it, where the
    /// whole-photo pass saw it small ([`search::refine`]).
    pub fn refine(&self, photo: &RgbImage, face: &Face) -> Result<Face, PhotoError> {
        search::refine(&self.detector, photo, face).map_err(|e| PhotoError::Detect(e.to_string()))
    }

    /// Detection by the preview's plan ([`Self::preview_detector`]) plus the quality verdict
    /// the live preview shows ([`quality::assess`]).
    pub fn check_frame(&self, frame: &RgbImage) -> Result<FrameCheck, PhotoError> {
        let faces = self
            .preview_detector()
            .detect(frame)
            .map_err(|e| PhotoError::Detect(e.to_string()))?;
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
    pub fn embed_face(&self, photo: &RgbImage, face: &Face) -> Result<Vec<f32>, PhotoError> {
        let face = self.capture_face(photo, face)?;
        self.embed_refined(photo, &face)
    }

    /// The face a capture is aligned with, as precise as the photo allows. With one detector
    /// plan the capture keeps the face the preview found, looked at again on a crop at full
    /// resolution where the whole-frame pass saw it small ([`Self::refine`]). When the preview
    /// runs the smaller plan ([`Self::with_preview_side`]), the capture is detected again as a
    /// photo file is (the full detector, the face choice, the crop), so its landmarks and its
    /// "one face only" check are the full detector's, whatever the preview saw.
    pub fn capture_face(&self, photo: &RgbImage, face: &Face) -> Result<Face, PhotoError> {
        if self.preview.is_some() {
            Ok(self.find_and_refine(photo)?.0)
        } else {
            self.refine(photo, face)
        }
    }

    /// A photo's faces by the full detector, the patient's chosen, refined: that face and how
    /// many faces the photo showed.
    fn find_and_refine(&self, photo: &RgbImage) -> Result<(Face, usize), PhotoError> {
        let faces = self.find_faces(photo)?;
        let chosen = match quality::choose_face(&faces, photo.dimensions(), &self.thresholds) {
            Ok(i) => i,
            Err(Issue::SeveralFaces) => {
                return Err(PhotoError::SeveralFaces { count: faces.len() })
            }
            Err(_) => return Err(PhotoError::NoFace),
        };
        Ok((self.refine(photo, &faces[chosen])?, faces.len()))
    }

    /// Aligns and embeds a face whose landmarks are final.
    fn embed_refined(&self, photo: &RgbImage, face: &Face) -> Result<Vec<f32>, PhotoError> {
        let iod = face.inter_ocular();
        if iod < MIN_PHOTO_INTER_OCULAR {
            return Err(PhotoError::FaceTooSmall { pixels: iod });
        }
        let aligned = self.align(photo, face)?;
        self.embed_chip(&aligned.chip)
    }

    /// Aligns the chosen face onto the embedder's template.
    pub fn align(&self, photo: &RgbImage, face: &Face) -> Result<Aligned, PhotoError> {
        align(photo, &face.landmarks, &self.template).map_err(|e| PhotoError::Detect(e.to_string()))
    }

    /// Embeds an aligned chip.
    pub fn embed_chip(&self, chip: &RgbImage) -> Result<Vec<f32>, PhotoError> {
        self.embedder
            .embed_chip(chip)
            .map_err(|e| PhotoError::Embed(e.to_string()))
    }
}

impl PhotoEmbedder for FacePipeline {
    fn embedder_id(&self) -> String {
        self.embedder_id.clone()
    }

    fn embedding_size(&self) -> usize {
        self.embedder.embedding_size()
    }

    fn metric(&self) -> Metric {
        self.embedder.metric()
    }

    fn embed_photo(&self, photo: &RgbImage) -> Result<FaceEmbedding, PhotoError> {
        let (face, faces_seen) = self.find_and_refine(photo)?;
        let vector = self.embed_refined(photo, &face)?;
        Ok(FaceEmbedding {
            vector,
            face,
            faces_seen,
        })
    }
}
