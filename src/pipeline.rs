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
