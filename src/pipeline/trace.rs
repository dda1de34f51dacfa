//! Validation hooks: what a photo's embedding was made from, so a clinic can compare the
//! device with GestaltMatcher-Arc on its own photos (`analyze --json`; `models/README.md`).

use super::{FaceEmbedding, FacePipeline, UnusablePhotoError};
use crate::embed::PairNorm;
use image::RgbImage;
use serde::Serialize;

/// How one photo was embedded.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PhotoTrace {
    /// The five landmarks the face was aligned with, `[x, y]` in photo pixels.
    pub landmarks: [[f32; 2]; 5],
    /// The alignment modes' names ([`crate::manifest::AlignmentMode::name`]: `five-point`,
    /// `five-point-opencv`, `gm-arc`; an ensemble whose members differ joins them with `+`).
    pub alignment: String,
    /// Each (model, variant) pass's output norm before normalisation.
    pub vector_norms: Vec<PairNorm>,
}

impl FacePipeline {
    /// [`super::PhotoEmbedder::embed_photo`] plus how the photo was embedded.
    pub fn embed_photo_traced(
        &self,
        photo: &RgbImage,
    ) -> Result<(FaceEmbedding, PhotoTrace), UnusablePhotoError> {
        let (face, faces_seen) = self.find_and_refine(photo)?;
        let embedded = self.embed_checked(photo, &face, &|| {})?;
        let trace = PhotoTrace {
            landmarks: face.landmarks,
            alignment: self.alignment_name(),
            vector_norms: embedded.norms,
        };
        let embedding = FaceEmbedding {
            vector: embedded.vector,
            face,
            faces_seen,
        };
        Ok((embedding, trace))
    }
}
