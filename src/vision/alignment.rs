//! The alignment an embedder's manifest entry chooses ([`AlignmentMode`]): one entry point over
//! the plain 5-point alignment ([`super::align`]) and GestaltMatcher-Arc's ([`super::gmarc`]).

use super::align::{align, align_opencv, AlignError, Aligned};
use super::gmarc::align_gm_arc;
use crate::manifest::{AlignmentMode, FivePoints, Template};
use image::RgbImage;

/// Aligns the face with `landmarks` in `image` onto `template` the way `mode` says.
/// `redetect` finds the faces' five landmarks again in an image (the photo turned so the eyes
/// are level); only [`AlignmentMode::GmArc`] calls it.
pub fn align_with(
    image: &RgbImage,
    landmarks: &FivePoints,
    template: &Template,
    mode: AlignmentMode,
    redetect: impl FnOnce(&RgbImage) -> Vec<FivePoints>,
) -> Result<Aligned, AlignError> {
    match mode {
        AlignmentMode::FivePoint => align(image, landmarks, template),
        AlignmentMode::FivePointOpencv => align_opencv(image, landmarks, template),
        AlignmentMode::GmArc => align_gm_arc(image, landmarks, template, redetect),
    }
}
