//! Face detection, face choice, alignment (the plain 5-point fit, an OpenCV-style warp,
//! GestaltMatcher-Arc's path) and frame quality. Pure: images in, numbers out.

pub mod align;
pub mod alignment;
pub mod detect;
pub mod gmarc;
pub mod quality;
pub mod search;
pub mod warp;

pub use crate::manifest::FivePoints;

/// One detected face in image pixel coordinates.
#[derive(Debug, Clone, PartialEq)]
pub struct Face {
    /// `[x0, y0, x1, y1]`, top-left and bottom-right corners.
    pub bbox: [f32; 4],
    /// Detector confidence in 0..=1.
    pub score: f32,
    /// Right eye, left eye, nose tip, right mouth corner, left mouth corner (ArcFace order).
    pub landmarks: FivePoints,
}

impl Face {
    pub fn width(&self) -> f32 {
        (self.bbox[2] - self.bbox[0]).max(0.0)
    }
    pub fn height(&self) -> f32 {
        (self.bbox[3] - self.bbox[1]).max(0.0)
    }
    pub fn area(&self) -> f32 {
        self.width() * self.height()
    }
    /// Distance between the two eye landmarks.
    pub fn inter_ocular(&self) -> f32 {
        let [r, l] = [self.landmarks[0], self.landmarks[1]];
        ((r[0] - l[0]).powi(2) + (r[1] - l[1]).powi(2)).sqrt()
    }
}
