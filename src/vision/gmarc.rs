//! GestaltMatcher-Arc's alignment, on this device's detector's landmarks
//! ([`AlignmentMode::GmArc`](crate::manifest::AlignmentMode::GmArc)).
//!
//! The steps of GM-Arc's cropper, in order:
//! 1. the *original* photo is rotated about the nose landmark by the angle of the line from the
//!    first eye to the second (OpenCV's `getRotationMatrix2D(nose, angle, 1)`), so the eyes are
//!    level; bilinear, border 0, same size as the photo ([`eye_level_rotation`]);
//! 2. the face is detected again in the rotated photo; its landmarks are truncated to integers
//!    (toward zero, Python's `int`), in the rotated photo's pixels. GM-Arc takes the most
//!    confident face; here, of several faces, the one nearest the first landmarks turned by the
//!    rotation ([`nearest`]), so a second person never replaces the patient (with one face, the
//!    same face);
//! 3. the least-squares similarity of those points onto the template (skimage's
//!    `SimilarityTransform.estimate`, [`fit_f64`]) and an OpenCV-style `warpAffine` of the
//!    rotated photo to the crop, border 0 ([`warp_affine`]).
//!
//! GM-Arc detects on the photo resized to 640 on its long side and scales the detections back
//! by `long side / 640`; this device's detector letterboxes the photo into its own input and
//! maps its detections back to the photo's pixels itself, so the landmarks used here are
//! already in photo pixels (the same points up to GM-Arc's integer rounding of the resized size).
//! When the rotated photo shows no face, the first landmarks turned by the rotation stand in.

use super::align::{checked_size, compose, fit_f64, residual, AlignError, Aligned, Similarity};
use super::warp::{warp_affine, Affine};
use crate::manifest::{FivePoints, Template};
use image::RgbImage;

/// The rotation about the nose (landmark 2) that makes the line from the first eye to the second
/// horizontal, as OpenCV's `getRotationMatrix2D(nose, angle_degrees, 1.0)` builds it.
pub fn eye_level_rotation(landmarks: &FivePoints) -> Similarity {
    let m = rotation_affine(landmarks);
    Similarity {
        a: m[0][0] as f32,
        b: m[1][0] as f32,
        tx: m[0][2] as f32,
        ty: m[1][2] as f32,
    }
}

/// [`eye_level_rotation`] as OpenCV's matrix in double precision (what step 1 warps with):
/// `[[α, β, (1−α)cx − βcy], [−β, α, βcx + (1−α)cy]]`, α = cos θ, β = sin θ, θ the eye line's
/// angle, (cx, cy) the nose.
fn rotation_affine(landmarks: &FivePoints) -> Affine {
    let angle = eye_line_degrees(landmarks[0], landmarks[1]).to_radians();
    let (alpha, beta) = (angle.cos(), angle.sin());
    let [cx, cy] = landmarks[2].map(f64::from);
    [
        [alpha, beta, (1.0 - alpha) * cx - beta * cy],
        [-beta, alpha, beta * cx + (1.0 - alpha) * cy],
    ]
}

/// The angle in degrees of the line from `eye1` to `eye2`, computed as GM-Arc does (an arc
/// cosine of the single-precision unit vector, signed by the line's slope), so the rotation
/// matrix agrees with its to the last bits: a sub-pixel knife edge in the warp's fixed point
/// otherwise moves a few pixels by a grey level or more.
fn eye_line_degrees(eye1: [f32; 2], eye2: [f32; 2]) -> f64 {
    let v = [eye2[0] - eye1[0], eye2[1] - eye1[1]];
    let norm = (v[0] * v[0] + v[1] * v[1]).sqrt();
    let cos = f64::from(v[0] / norm).clamp(-1.0, 1.0);
    let degrees = -180.0 / std::f64::consts::PI * cos.acos();
    if v[1] < 0.0 {
        degrees
    } else {
        -degrees
    }
}

/// Landmarks truncated toward zero, as GM-Arc's `int(...)` does.
pub fn truncated(points: &FivePoints) -> [[f64; 2]; 5] {
    points.map(|p| [f64::from(p[0].trunc()), f64::from(p[1].trunc())])
}

/// Of `faces`, the one whose landmarks are nearest `expected` (sum of point distances).
pub fn nearest(faces: &[FivePoints], expected: &FivePoints) -> Option<FivePoints> {
    let distance = |f: &FivePoints| -> f32 {
        f.iter()
            .zip(expected)
            .map(|(p, q)| (p[0] - q[0]).hypot(p[1] - q[1]))
            .sum()
    };
    faces
        .iter()
        .min_by(|a, b| distance(a).total_cmp(&distance(b)))
        .copied()
}

/// GM-Arc's alignment of the face with `landmarks` (photo pixels) in `image` onto `template`.
/// `redetect` gives the landmarks of the faces it finds in the rotated photo.
pub fn align_gm_arc(
    image: &RgbImage,
    landmarks: &FivePoints,
    template: &Template,
    redetect: impl FnOnce(&RgbImage) -> Vec<FivePoints>,
) -> Result<Aligned, AlignError> {
    let [w, h] = checked_size(template)?;
    if landmarks.iter().flatten().any(|v| !v.is_finite()) || landmarks[0] == landmarks[1] {
        return Err(AlignError::DegenerateLandmarks);
    }
    let rotation = eye_level_rotation(landmarks);
    let rotated = warp_affine(
        image,
        &rotation_affine(landmarks),
        image.width(),
        image.height(),
    );
    let expected = landmarks.map(|p| rotation.apply(p));
    let found = nearest(&redetect(&rotated), &expected).unwrap_or(expected);
    let points = truncated(&found);
    let dst = template.points.map(|p| [f64::from(p[0]), f64::from(p[1])]);
    let [a, b, tx, ty] = fit_f64(&points, &dst)?;
    let fit = [[a, -b, tx], [b, a, ty]];
    let chip = warp_affine(&rotated, &fit, w, h);
    let fit32 = Similarity {
        a: a as f32,
        b: b as f32,
        tx: tx as f32,
        ty: ty as f32,
    };
    let used = points.map(|p| [p[0] as f32, p[1] as f32]);
    Ok(Aligned {
        chip,
        transform: compose(&fit32, &rotation),
        residual: residual(&fit32, &used, &template.points),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEMPLATE: FivePoints = [
        [38.2946, 51.6963],
        [73.5318, 51.5014],
        [56.0252, 71.7366],
        [41.5493, 92.3655],
        [70.7299, 92.2041],
    ];

    #[test]
    fn the_rotation_levels_the_eyes_and_keeps_the_nose() {
        let tilted: FivePoints = [
            [100.0, 100.0],
            [140.0, 130.0],
            [115.0, 140.0],
            [95.0, 160.0],
            [125.0, 180.0],
        ];
        let r = eye_level_rotation(&tilted);
        let (e1, e2) = (r.apply(tilted[0]), r.apply(tilted[1]));
        assert!((e1[1] - e2[1]).abs() < 1e-3, "eyes at {e1:?} and {e2:?}");
        assert!(e2[0] > e1[0]);
        let nose = r.apply(tilted[2]);
        assert!((nose[0] - 115.0).abs() < 1e-3 && (nose[1] - 140.0).abs() < 1e-3);
    }

    #[test]
    fn truncation_goes_toward_zero() {
        let pts: FivePoints = [
            [1.9, -1.9],
            [2.5, 0.2],
            [-0.7, 3.99],
            [4.0, 5.0],
            [6.1, 7.9],
        ];
        assert_eq!(
            truncated(&pts),
            [[1.0, -1.0], [2.0, 0.0], [-0.0, 3.0], [4.0, 5.0], [6.0, 7.0]]
        );
    }

    #[test]
    fn redetected_points_decide_the_fit_and_no_face_falls_back() {
        let tpl = Template {
            size: [112, 112],
            points: TEMPLATE,
        };
        let img = RgbImage::from_fn(200, 200, |x, y| image::Rgb([x as u8, y as u8, 90]));
        let face = TEMPLATE.map(|p| [p[0] + 40.0, p[1] + 30.0]);
        // Level eyes: the rotation is nearly the identity; the template moved by whole pixels.
        let moved = TEMPLATE.map(|p| [p[0].trunc() + 40.0, p[1].trunc() + 30.0]);
        let far = moved.map(|p| [p[0] + 60.0, p[1]]);
        let with = align_gm_arc(&img, &face, &tpl, |_| vec![far, moved]).expect("align");
        let without = align_gm_arc(&img, &face, &tpl, |_| Vec::new()).expect("align");
        assert_eq!(with.chip.dimensions(), (112, 112));
        assert!(with.residual < 1.0 && without.residual < 1.0);
        let p = with.transform.apply(face[2]);
        assert!((p[0] - TEMPLATE[2][0]).abs() < 1.5 && (p[1] - TEMPLATE[2][1]).abs() < 1.5);
    }
}
