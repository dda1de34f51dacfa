//! Is this frame good enough to capture? Brightness, sharpness, face size and pose, measured on
//! the face region, so the live preview can tell the clinician what to fix.

use super::Face;
use image::RgbImage;

/// Thresholds for [`assess`]; the defaults suit a 320×240 to 1280×720 USB camera.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct QualityThresholds {
    /// Mean luma (0–255) of the face region below which the frame is "too dark".
    pub min_brightness: f32,
    /// Variance of the Laplacian on the face (rescaled to 64 px between the eyes) below which
    /// the face is "blurred".
    pub min_sharpness: f32,
    /// Fewest pixels between the eyes for a usable face.
    pub min_inter_ocular: f32,
    /// Largest horizontal offset of the nose from the eye midpoint, as a fraction of the eye
    /// distance, before the face counts as turned away.
    pub max_yaw: f32,
    /// A second face at least this fraction of the largest face's area makes the choice
    /// ambiguous ("one face only").
    pub second_face_ratio: f32,
}

impl Default for QualityThresholds {
    fn default() -> Self {
        Self {
            min_brightness: 45.0,
            min_sharpness: 30.0,
            min_inter_ocular: 24.0,
            max_yaw: 0.35,
            second_face_ratio: 0.4,
        }
    }
}

/// What is wrong with a frame, most important first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Issue {
    NoFace,
    SeveralFaces,
    TooSmall,
    TooDark,
    Blurred,
    TurnedAway,
}

/// Measurements of one face in one frame.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Measures {
    pub brightness: f32,
    pub sharpness: f32,
    pub inter_ocular: f32,
    pub yaw: f32,
}

/// Picks the patient's face. The photographer centres the patient, so a face that covers the
/// image centre and is not much smaller than the largest face is chosen; otherwise the largest
/// face, unless another face is nearly as large (then the choice is ambiguous: "one face only").
/// Returns the index into `faces`, or the issue.
pub fn choose_face(
    faces: &[Face],
    image_size: (u32, u32),
    t: &QualityThresholds,
) -> Result<usize, Issue> {
    let mut order: Vec<usize> = (0..faces.len()).collect();
    order.sort_by(|&a, &b| faces[b].area().total_cmp(&faces[a].area()));
    let Some(&largest) = order.first() else {
        return Err(Issue::NoFace);
    };
    let (cx, cy) = (image_size.0 as f32 / 2.0, image_size.1 as f32 / 2.0);
    let covers_centre =
        |f: &Face| f.bbox[0] <= cx && cx <= f.bbox[2] && f.bbox[1] <= cy && cy <= f.bbox[3];
    let central: Vec<usize> = order
        .iter()
        .copied()
        .filter(|&i| covers_centre(&faces[i]))
        .collect();
    if let [only] = central.as_slice() {
        if faces[*only].area() >= t.second_face_ratio * faces[largest].area() {
            return Ok(*only);
        }
    }
    match order.get(1) {
        Some(&second) if faces[second].area() >= t.second_face_ratio * faces[largest].area() => {
            Err(Issue::SeveralFaces)
        }
        _ => Ok(largest),
    }
}

/// Measures brightness, sharpness, size and yaw of `face` in `frame`.
pub fn measure(frame: &RgbImage, face: &Face) -> Measures {
    let iod = face.inter_ocular();
    let (w, h) = frame.dimensions();
    let x0 = face.bbox[0].max(0.0).min(w as f32) as u32;
    let y0 = face.bbox[1].max(0.0).min(h as f32) as u32;
    let x1 = face.bbox[2].max(0.0).min(w as f32) as u32;
    let y1 = face.bbox[3].max(0.0).min(h as f32) as u32;
    let (rw, rh) = (x1.saturating_sub(x0), y1.saturating_sub(y0));
    let (brightness, sharpness) = if rw >= 3 && rh >= 3 {
        let region = image::imageops::crop_imm(frame, x0, y0, rw, rh).to_image();
        let grey = image::imageops::grayscale(&region);
        let brightness = grey.pixels().map(|p| f32::from(p[0])).sum::<f32>() / (rw * rh) as f32;
        // Rescale so sharpness does not depend on how large the face is.
        let k = if iod > 1.0 { 64.0 / iod } else { 1.0 };
        let nw = ((rw as f32 * k).round() as u32).clamp(3, 512);
        let nh = ((rh as f32 * k).round() as u32).clamp(3, 512);
        let norm = image::imageops::resize(&grey, nw, nh, image::imageops::FilterType::Triangle);
        (brightness, laplacian_variance(&norm))
    } else {
        (0.0, 0.0)
    };
    let [re, le, nose, _, _] = face.landmarks;
    let mid_x = (re[0] + le[0]) / 2.0;
    let yaw = if iod > 0.0 {
        (nose[0] - mid_x) / iod
    } else {
        0.0
    };
    Measures {
        brightness,
        sharpness,
        inter_ocular: iod,
        yaw,
    }
}

/// The verdict on one frame: the patient's face, its measures and the first problem.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Assessment {
    /// Index of the patient's face, when one can be chosen.
    pub chosen: Option<usize>,
    pub measures: Option<Measures>,
    /// `None` = ready to capture.
    pub issue: Option<Issue>,
}

/// The one rule that decides "too small / too dark / blurred / turned / several faces / no
/// face" for a frame, used by the live preview and therefore by every capture (a photo is
/// only taken from a frame this calls ready). A frame without a face whose mean luma is below
/// `min_brightness` is "too dark" rather than "no face".
pub fn assess(frame: &RgbImage, faces: &[Face], t: &QualityThresholds) -> Assessment {
    match choose_face(faces, frame.dimensions(), t) {
        Err(Issue::NoFace) if mean_luma(frame) < t.min_brightness => Assessment {
            chosen: None,
            measures: None,
            issue: Some(Issue::TooDark),
        },
        Err(issue) => Assessment {
            chosen: None,
            measures: None,
            issue: Some(issue),
        },
        Ok(i) => {
            let m = measure(frame, &faces[i]);
            Assessment {
                chosen: Some(i),
                measures: Some(m),
                issue: judge(&m, t),
            }
        }
    }
}

/// Mean luma (0–255) of a whole frame, sampled on a grid of at most ~4,000 pixels.
pub fn mean_luma(frame: &RgbImage) -> f32 {
    let (w, h) = frame.dimensions();
    if w == 0 || h == 0 {
        return 0.0;
    }
    let step = ((u64::from(w) * u64::from(h) / 4096) as f64)
        .sqrt()
        .max(1.0) as u32;
    let (mut sum, mut n) = (0f64, 0f64);
    for y in (0..h).step_by(step as usize) {
        for x in (0..w).step_by(step as usize) {
            let p = frame.get_pixel(x, y);
            sum += 0.299 * f64::from(p[0]) + 0.587 * f64::from(p[1]) + 0.114 * f64::from(p[2]);
            n += 1.0;
        }
    }
    (sum / n) as f32
}

/// The first problem with `m`, if any.
pub fn judge(m: &Measures, t: &QualityThresholds) -> Option<Issue> {
    if m.inter_ocular < t.min_inter_ocular {
        Some(Issue::TooSmall)
    } else if m.brightness < t.min_brightness {
        Some(Issue::TooDark)
    } else if m.sharpness < t.min_sharpness {
        Some(Issue::Blurred)
    } else if m.yaw.abs() > t.max_yaw {
        Some(Issue::TurnedAway)
    } else {
        None
    }
}

/// Variance of the 4-neighbour Laplacian over the interior of a grey image.
pub fn laplacian_variance(grey: &image::GrayImage) -> f32 {
    let (w, h) = grey.dimensions();
    if w < 3 || h < 3 {
        return 0.0;
    }
    let px = |x: u32, y: u32| f64::from(grey.get_pixel(x, y)[0]);
    let (mut sum, mut sum2, mut n) = (0.0f64, 0.0f64, 0.0f64);
    for y in 1..h - 1 {
        for x in 1..w - 1 {
            let l = px(x - 1, y) + px(x + 1, y) + px(x, y - 1) + px(x, y + 1) - 4.0 * px(x, y);
            sum += l;
            sum2 += l * l;
            n += 1.0;
        }
    }
    let mean = sum / n;
    (sum2 / n - mean * mean) as f32
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{GrayImage, Luma, Rgb};

    fn face(x0: f32, y0: f32, size: f32) -> Face {
        let s = size;
        Face {
            bbox: [x0, y0, x0 + s, y0 + s],
            score: 0.99,
            landmarks: [
                [x0 + 0.3 * s, y0 + 0.4 * s],
                [x0 + 0.7 * s, y0 + 0.4 * s],
                [x0 + 0.5 * s, y0 + 0.6 * s],
                [x0 + 0.35 * s, y0 + 0.8 * s],
                [x0 + 0.65 * s, y0 + 0.8 * s],
            ],
        }
    }

    fn checker(w: u32, h: u32, cell: u32, lo: u8, hi: u8) -> RgbImage {
        RgbImage::from_fn(w, h, |x, y| {
            if (x / cell + y / cell) % 2 == 0 {
                Rgb([hi; 3])
            } else {
                Rgb([lo; 3])
            }
        })
    }

    #[test]
    fn choose_face_prefers_the_largest_unless_ambiguous() {
        let t = QualityThresholds::default();
        let size = (1000, 1000);
        assert_eq!(choose_face(&[], size, &t), Err(Issue::NoFace));
        let big = face(10.0, 10.0, 100.0);
        let small = face(150.0, 10.0, 30.0);
        assert_eq!(choose_face(&[small.clone(), big.clone()], size, &t), Ok(1));
        let similar = face(150.0, 10.0, 90.0);
        assert_eq!(
            choose_face(&[big.clone(), similar.clone()], size, &t),
            Err(Issue::SeveralFaces)
        );
        // The same two faces with one of them over the image centre: that one is the patient.
        assert_eq!(
            choose_face(&[big.clone(), similar.clone()], (300, 200), &t),
            Ok(1)
        );
        // ...unless the centred face is much smaller than the largest one.
        let tiny_central = face(140.0, 90.0, 30.0);
        assert_eq!(
            choose_face(&[big.clone(), similar, tiny_central], (300, 200), &t),
            Err(Issue::SeveralFaces)
        );
        // Two faces both over the centre (overlapping boxes): ambiguous when of similar size.
        let a = face(100.0, 50.0, 120.0);
        let b = face(120.0, 60.0, 110.0);
        assert_eq!(
            choose_face(&[a, b], (300, 200), &t),
            Err(Issue::SeveralFaces)
        );
    }

    #[test]
    fn dark_blurred_small_and_turned_faces_are_flagged() {
        let t = QualityThresholds::default();
        let f = face(20.0, 20.0, 160.0);
        let sharp = checker(200, 200, 4, 60, 220);
        let m = measure(&sharp, &f);
        assert_eq!(judge(&m, &t), None, "{m:?}");

        let dark = checker(200, 200, 4, 5, 30);
        assert_eq!(judge(&measure(&dark, &f), &t), Some(Issue::TooDark));

        let flat = RgbImage::from_pixel(200, 200, Rgb([128, 128, 128]));
        assert_eq!(judge(&measure(&flat, &f), &t), Some(Issue::Blurred));

        let tiny = face(20.0, 20.0, 30.0);
        assert_eq!(judge(&measure(&sharp, &tiny), &t), Some(Issue::TooSmall));

        let mut turned = f.clone();
        turned.landmarks[2][0] = turned.landmarks[1][0] + 5.0;
        assert_eq!(
            judge(&measure(&sharp, &turned), &t),
            Some(Issue::TurnedAway)
        );
    }

    #[test]
    fn assess_is_the_same_rule_as_choose_and_judge() {
        let t = QualityThresholds::default();
        let sharp = checker(200, 200, 4, 60, 220);
        let f = face(20.0, 20.0, 160.0);
        let a = assess(&sharp, std::slice::from_ref(&f), &t);
        assert_eq!(a.chosen, Some(0));
        assert_eq!(a.issue, judge(&measure(&sharp, &f), &t));
        assert_eq!(a.issue, None);
        let tiny = face(20.0, 20.0, 30.0);
        assert_eq!(assess(&sharp, &[tiny], &t).issue, Some(Issue::TooSmall));
        // No face: dark frames say so, others say "no face".
        assert_eq!(assess(&sharp, &[], &t).issue, Some(Issue::NoFace));
        let dark = checker(200, 200, 4, 5, 30);
        assert_eq!(assess(&dark, &[], &t).issue, Some(Issue::TooDark));
        assert!((mean_luma(&RgbImage::from_pixel(9, 7, Rgb([100, 100, 100]))) - 100.0).abs() < 0.5);
    }

    #[test]
    fn blurring_lowers_sharpness() {
        let g = GrayImage::from_fn(64, 64, |x, y| {
            Luma([if (x / 3 + y / 3) % 2 == 0 { 200 } else { 40 }])
        });
        let blurred = image::imageops::blur(&g, 3.0);
        assert!(laplacian_variance(&blurred) * 10.0 < laplacian_variance(&g));
        assert_eq!(laplacian_variance(&GrayImage::new(2, 2)), 0.0);
    }

    #[test]
    fn faces_outside_the_frame_measure_as_unusable() {
        let frame = RgbImage::new(50, 50);
        let m = measure(&frame, &face(500.0, 500.0, 100.0));
        assert_eq!(m.brightness, 0.0);
        assert_eq!(
            judge(&m, &QualityThresholds::default()),
            Some(Issue::TooDark)
        );
    }
}
