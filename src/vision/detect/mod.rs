//! Face detection with five landmarks: RetinaFace-MobileNet0.25 run by tract.
//!
//! The model (see `models/README.md`, detector section) has a fixed input, e.g. 1×3×320×320. An
//! image of any size is *letterboxed* into it: scaled by `s = min(W/w, H/h)` to
//! `(round(w·s), round(h·s))` with bilinear sampling (half-pixel centres, no antialiasing),
//! placed at the top-left corner, the rest zero after normalisation. Pixels are reordered to the
//! manifest's `colour_order` and normalised as `(pixel − mean) / std`.
//!
//! Postprocessing follows the RetinaFace reference: one anchor per (cell, min_size) for each
//! stride (cells row-major, sizes inner), box centre/size and landmarks decoded with the two
//! variances, score threshold, greedy NMS, then mapped back to the original image's pixels. Boxes
//! are not clipped to the image. `models/tools/retinaface_ref.py` is the same procedure in numpy,
//! used to produce the onnxruntime reference detections the tests compare against.
//!
//! Parameters come from the manifest entry's `[model.params]` table:
//!
//! | key | type | meaning |
//! |---|---|---|
//! | `min_sizes` | array of arrays of numbers | anchor sizes (input pixels) per stride |
//! | `steps` | array of integers | feature-map strides |
//! | `variances` | `[centre, size]` | box/landmark decode variances |
//! | `score_threshold` | number in 0..1 | faces scoring at or below are dropped |
//! | `nms_iou` | number in 0..1 | IoU above which a lower-scoring box is suppressed |
//! | `pre_nms_top_k` | integer, optional (5000) | candidates kept before NMS |
//! | `max_faces` | integer, optional (100) | faces kept after NMS |
//! | `min_image_side` | integer, optional (8) | smaller images give no faces without inference |
//! | `outputs` | 3 strings, optional | ONNX output names for boxes, scores, landmarks |

mod decode;
mod letterbox;
mod loader;
mod params;

pub use decode::{decode, iou, nms};
pub use letterbox::{Letterbox, Region};
pub use loader::DetectorSource;
pub use params::DetectorParams;

use crate::manifest::{InputSpec, ManifestError};
use crate::vision::Face;
use image::RgbImage;
use letterbox::clip;
use std::sync::Arc;
use tract_onnx::prelude::*;

/// Why the detector could not be loaded or run.
#[derive(Debug, thiserror::Error)]
pub enum DetectError {
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    #[error("model `{id}` has role {role}, not detector")]
    WrongRole { id: String, role: String },
    #[error("detector `{id}`: parameter `{name}` {message}")]
    Param {
        id: String,
        name: String,
        message: String,
    },
    #[error("detector `{id}`: cannot load the ONNX model: {message}")]
    Model { id: String, message: String },
    #[error("detector `{id}`: output `{name}` has shape {got:?}, expected {expected:?}")]
    OutputShape {
        id: String,
        name: String,
        expected: Vec<usize>,
        got: Vec<usize>,
    },
    #[error("image is {width}×{height}: it has no pixels")]
    EmptyImage { width: u32, height: u32 },
    #[error("detector inference failed: {0}")]
    Inference(String),
}

/// A loaded face detector. Cheap to share (`&self` detection); not tied to an image size.
#[derive(Debug, Clone)]
pub struct Detector {
    id: String,
    model: Arc<TypedRunnableModel>,
    in_h: usize,
    in_w: usize,
    input: InputSpec,
    params: DetectorParams,
    anchors: Vec<[f32; 3]>,
}

impl Detector {
    /// The manifest id of the model.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The model's input height and width.
    pub fn input_hw(&self) -> (usize, usize) {
        (self.in_h, self.in_w)
    }

    pub fn params(&self) -> &DetectorParams {
        &self.params
    }

    /// Detects faces; returns them in `img`'s pixel coordinates, highest score first.
    ///
    /// An image with no pixels is an [`DetectError::EmptyImage`]; one with a side shorter than
    /// `min_image_side` has no faces.
    pub fn detect(&self, img: &RgbImage) -> Result<Vec<Face>, DetectError> {
        self.detect_in(img, Region::whole(img.width(), img.height()))
    }

    /// Detects faces in `region` of `img` (clipped to the image), letterboxed on its own into
    /// the model input; returns them in `img`'s pixel coordinates, highest score first.
    pub fn detect_in(&self, img: &RgbImage, region: Region) -> Result<Vec<Face>, DetectError> {
        let (w, h) = img.dimensions();
        if w == 0 || h == 0 {
            return Err(DetectError::EmptyImage {
                width: w,
                height: h,
            });
        }
        let region = clip(region, w, h);
        if region.width.min(region.height) < self.params.min_image_side {
            return Ok(Vec::new());
        }
        let (input, lb) = self.preprocess_in(img, region)?;
        let outputs = self
            .model
            .run(tvec!(input.into_tvalue()))
            .map_err(|e| DetectError::Inference(format!("{e:#}")))?;
        let [loc, conf, landm] = self.output_rows(&outputs)?;
        Ok(decode(&loc, &conf, &landm, &self.anchors, &self.params, lb))
    }

    /// The three outputs (boxes, scores, landmarks) as flat rows, each checked to hold
    /// 4, 2 and 10 values per anchor.
    fn output_rows(&self, outputs: &TVec<TValue>) -> Result<[Vec<f32>; 3], DetectError> {
        let row = |i: usize, width: usize| -> Result<Vec<f32>, DetectError> {
            let t = outputs.get(i).ok_or_else(|| {
                DetectError::Inference(format!("model gave {} outputs, expected 3", outputs.len()))
            })?;
            let expected = vec![1, self.anchors.len(), width];
            if t.shape() != expected.as_slice() {
                return Err(DetectError::OutputShape {
                    id: self.id.clone(),
                    name: self.params.outputs[i].clone(),
                    expected,
                    got: t.shape().to_vec(),
                });
            }
            let view = t
                .to_plain_array_view::<f32>()
                .map_err(|e| DetectError::Inference(format!("{e:#}")))?;
            Ok(view.iter().copied().collect())
        };
        Ok([row(0, 4)?, row(1, 2)?, row(2, 10)?])
    }
}
