//! Similarity-transform alignment of a face onto an embedder's 5-point template.
//!
//! The transform (rotation, uniform scale, translation; no reflection, no shear) is the least
//! squares fit of the detected landmarks onto the template points (Umeyama's closed form for the
//! 2-D similarity case). The crop is then sampled bilinearly; when the face is much larger than the
//! crop, the region is first downscaled with a smoothing filter so the chip is not aliased.
//!
//! That is the default mode (`five-point`); an embedder's manifest entry may choose the same fit
//! with an OpenCV-style warp ([`align_opencv`]) or GestaltMatcher-Arc's path instead
//! ([`crate::vision::alignment`]).

use super::warp::{warp_affine, Affine};
use crate::manifest::{FivePoints, Template};
use image::imageops::FilterType;
use image::{Rgb, RgbImage};
use imageproc::geometric_transformations::{warp_into, Interpolation, Projection};

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum AlignError {
    #[error("landmarks are degenerate (all at one point or not finite)")]
    DegenerateLandmarks,
    #[error("template crop size {0}x{1} is not usable")]
    BadTemplate(u32, u32),
}

/// `dst = [a −b; b a]·src + [tx ty]`: rotation by atan2(b, a), scale √(a²+b²).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Similarity {
    pub a: f32,
    pub b: f32,
    pub tx: f32,
    pub ty: f32,
}

impl Similarity {
    /// Least-squares similarity mapping `src` points onto `dst` points.
    pub fn fit(src: &FivePoints, dst: &FivePoints) -> Result<Self, AlignError> {
        let widen = |pts: &FivePoints| pts.map(|p| [f64::from(p[0]), f64::from(p[1])]);
        let [a, b, tx, ty] = fit_f64(&widen(src), &widen(dst))?;
        Ok(Self {
            a: a as f32,
            b: b as f32,
            tx: tx as f32,
            ty: ty as f32,
        })
    }

    /// The transform as a 2×3 affine matrix (for [`crate::vision::warp`]).
    pub fn to_affine(self) -> Affine {
        let [a, b, tx, ty] = [self.a, self.b, self.tx, self.ty].map(f64::from);
        [[a, -b, tx], [b, a, ty]]
    }

    pub fn apply(&self, p: [f32; 2]) -> [f32; 2] {
        [
            self.a * p[0] - self.b * p[1] + self.tx,
            self.b * p[0] + self.a * p[1] + self.ty,
        ]
    }

    pub fn scale(&self) -> f32 {
        self.a.hypot(self.b)
    }

    /// Rotation in degrees.
    pub fn rotation_deg(&self) -> f32 {
        self.b.atan2(self.a).to_degrees()
    }

    /// The inverse transform.
    pub fn inverse(&self) -> Self {
        let s2 = self.a * self.a + self.b * self.b;
        let (ia, ib) = (self.a / s2, -self.b / s2);
        Self {
            a: ia,
            b: ib,
            tx: -(ia * self.tx - ib * self.ty),
            ty: -(ib * self.tx + ia * self.ty),
        }
    }

    fn to_matrix(self) -> [f32; 9] {
        [
            self.a, -self.b, self.tx, self.b, self.a, self.ty, 0.0, 0.0, 1.0,
        ]
    }
}

/// The least-squares similarity `[a, b, tx, ty]` (see [`Similarity`]) mapping `src` onto `dst`,
/// in double precision: the closed form of Umeyama's estimate for 2-D points, the same
/// minimiser as skimage's `SimilarityTransform.estimate`.
pub fn fit_f64(src: &[[f64; 2]; 5], dst: &[[f64; 2]; 5]) -> Result<[f64; 4], AlignError> {
    if src
        .iter()
        .chain(dst.iter())
        .any(|p| !p[0].is_finite() || !p[1].is_finite())
    {
        return Err(AlignError::DegenerateLandmarks);
    }
    let n = src.len() as f64;
    let mean = |pts: &[[f64; 2]; 5]| {
        let (sx, sy) = pts
            .iter()
            .fold((0.0f64, 0.0f64), |(x, y), p| (x + p[0], y + p[1]));
        (sx / n, sy / n)
    };
    let (msx, msy) = mean(src);
    let (mdx, mdy) = mean(dst);
    let (mut num_a, mut num_b, mut den) = (0.0f64, 0.0f64, 0.0f64);
    for (s, d) in src.iter().zip(dst.iter()) {
        let (xs, ys) = (s[0] - msx, s[1] - msy);
        let (xd, yd) = (d[0] - mdx, d[1] - mdy);
        num_a += xs * xd + ys * yd;
        num_b += xs * yd - ys * xd;
        den += xs * xs + ys * ys;
    }
    if den < 1e-9 {
        return Err(AlignError::DegenerateLandmarks);
    }
    let a = num_a / den;
    let b = num_b / den;
    if a.hypot(b) < 1e-9 {
        return Err(AlignError::DegenerateLandmarks);
    }
    let tx = mdx - (a * msx - b * msy);
    let ty = mdy - (b * msx + a * msy);
    Ok([a, b, tx, ty])
}

/// An aligned face crop and the transform that made it.
#[derive(Debug, Clone)]
pub struct Aligned {
    pub chip: RgbImage,
    /// Maps original image coordinates to chip coordinates.
    pub transform: Similarity,
    /// Root-mean-square distance, in chip pixels, between the mapped landmarks and the template.
    pub residual: f32,
}

/// [`align`] with the OpenCV-style warp ([`warp_affine`]): no prefilter, rounded samples.
pub fn align_opencv(
    image: &RgbImage,
    landmarks: &FivePoints,
    template: &Template,
) -> Result<Aligned, AlignError> {
    fit_and_warp(landmarks, template, |t, w, h| {
        warp_affine(image, &t.to_affine(), w, h)
    })
}

/// The similarity of `landmarks` onto `template`, the chip `warp` samples through it, and the
/// fit's residual: the steps every alignment shares, whatever its sampler.
fn fit_and_warp(
    landmarks: &FivePoints,
    template: &Template,
    warp: impl FnOnce(&Similarity, u32, u32) -> RgbImage,
) -> Result<Aligned, AlignError> {
    let [w, h] = checked_size(template)?;
    let t = Similarity::fit(landmarks, &template.points)?;
    let chip = warp(&t, w, h);
    Ok(Aligned {
        chip,
        transform: t,
        residual: residual(&t, landmarks, &template.points),
    })
}

/// The template's crop size, refused when empty or absurd.
pub(super) fn checked_size(template: &Template) -> Result<[u32; 2], AlignError> {
    let [w, h] = template.size;
    if w == 0 || h == 0 || w > 4096 || h > 4096 {
        return Err(AlignError::BadTemplate(w, h));
    }
    Ok([w, h])
}

/// Root-mean-square distance, in chip pixels, between `landmarks` mapped by `t` and `points`.
pub(super) fn residual(t: &Similarity, landmarks: &FivePoints, points: &FivePoints) -> f32 {
    (landmarks
        .iter()
        .zip(points.iter())
        .map(|(s, d)| {
            let m = t.apply(*s);
            (m[0] - d[0]).powi(2) + (m[1] - d[1]).powi(2)
        })
        .sum::<f32>()
        / landmarks.len() as f32)
        .sqrt()
}

/// Aligns the face with `landmarks` in `image` onto `template`.
pub fn align(
    image: &RgbImage,
    landmarks: &FivePoints,
    template: &Template,
) -> Result<Aligned, AlignError> {
    fit_and_warp(landmarks, template, |t, w, h| warp_chip(image, t, w, h))
}

/// Samples a `w`×`h` chip from `image` through the image→chip transform `t`.
pub fn warp_chip(image: &RgbImage, t: &Similarity, w: u32, h: u32) -> RgbImage {
    let mut chip = RgbImage::new(w, h);
    if image.width() == 0 || image.height() == 0 {
        return chip;
    }
    let inv = t.inverse();
    // The region of the source the chip covers (with a margin for the filter).
    let corners = [
        [0.0, 0.0],
        [w as f32, 0.0],
        [0.0, h as f32],
        [w as f32, h as f32],
    ]
    .map(|c| inv.apply(c));
    let (mut x0, mut y0, mut x1, mut y1) = (f32::MAX, f32::MAX, f32::MIN, f32::MIN);
    for c in corners {
        x0 = x0.min(c[0]);
        y0 = y0.min(c[1]);
        x1 = x1.max(c[0]);
        y1 = y1.max(c[1]);
    }
    let clamp_x = |v: f32| v.clamp(0.0, image.width() as f32) as u32;
    let clamp_y = |v: f32| v.clamp(0.0, image.height() as f32) as u32;
    let (cx0, cy0) = (clamp_x(x0.floor() - 2.0), clamp_y(y0.floor() - 2.0));
    let (cx1, cy1) = (clamp_x(x1.ceil() + 2.0), clamp_y(y1.ceil() + 2.0));
    if cx1 <= cx0 || cy1 <= cy0 {
        return chip; // the face lies outside the image: an all-black chip
    }
    let region = image::imageops::crop_imm(image, cx0, cy0, cx1 - cx0, cy1 - cy0).to_image();
    // Transform relative to the cropped region.
    let mut t_region = Similarity {
        tx: t.tx + t.a * cx0 as f32 - t.b * cy0 as f32,
        ty: t.ty + t.b * cx0 as f32 + t.a * cy0 as f32,
        ..*t
    };
    let mut source = region;
    let scale = t.scale();
    if scale < 0.5 {
        // Downscale first so bilinear sampling does not alias: bring the scale close to 1.
        let nw = ((source.width() as f32 * scale).round() as u32).max(1);
        let nh = ((source.height() as f32 * scale).round() as u32).max(1);
        let k = nw as f32 / source.width() as f32;
        source = image::imageops::resize(&source, nw, nh, FilterType::Triangle);
        // p_small = k * p_region (approximately; pixel centres shift by (k−1)/2).
        let pre = Similarity {
            a: 1.0 / k,
            b: 0.0,
            tx: 0.5 / k - 0.5,
            ty: 0.5 / k - 0.5,
        };
        t_region = compose(&t_region, &pre);
    }
    if let Some(p) = Projection::from_matrix(t_region.to_matrix()) {
        warp_into(
            &source,
            &p,
            Interpolation::Bilinear,
            Rgb([0, 0, 0]),
            &mut chip,
        );
    }
    chip
}

/// `outer ∘ inner`: apply `inner` first.
pub(super) fn compose(outer: &Similarity, inner: &Similarity) -> Similarity {
    Similarity {
        a: outer.a * inner.a - outer.b * inner.b,
        b: outer.b * inner.a + outer.a * inner.b,
        tx: outer.a * inner.tx - outer.b * inner.ty + outer.tx,
        ty: outer.b * inner.tx + outer.a * inner.ty + outer.ty,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEMPLATE: FivePoints = [
        [38.3, 51.7],
        [73.5, 51.5],
        [56.0, 71.7],
        [41.5, 92.4],
        [70.7, 92.2],
    ];

    fn transform_points(t: &Similarity, pts: &FivePoints) -> FivePoints {
        pts.map(|p| t.apply(p))
    }

    #[test]
    fn fit_recovers_a_known_similarity_exactly() {
        let truth = Similarity {
            a: 1.7 * 0.3f32.cos(),
            b: 1.7 * 0.3f32.sin(),
            tx: 12.0,
            ty: -7.5,
        };
        let src = TEMPLATE;
        let dst = transform_points(&truth, &src);
        let fit = Similarity::fit(&src, &dst).expect("fit");
        assert!((fit.a - truth.a).abs() < 1e-4 && (fit.b - truth.b).abs() < 1e-4);
        assert!((fit.tx - truth.tx).abs() < 1e-3 && (fit.ty - truth.ty).abs() < 1e-3);
        assert!((fit.rotation_deg() - 0.3f32.to_degrees()).abs() < 1e-3);
        let back = fit.inverse();
        for p in dst {
            let q = fit.apply(back.apply(p));
            assert!((q[0] - p[0]).abs() < 1e-3 && (q[1] - p[1]).abs() < 1e-3);
        }
    }

    #[test]
    fn fit_is_least_squares_under_noise_and_never_reflects() {
        // A mirrored point set cannot be matched by a similarity: the fit must not flip.
        let mirrored = TEMPLATE.map(|p| [112.0 - p[0], p[1]]);
        let fit = Similarity::fit(&mirrored, &TEMPLATE).expect("fit");
        assert!(
            fit.scale() < 1.0,
            "a reflection is only approximated, never represented"
        );
        // Noise: the residual is small but non-zero, and the fit beats a perturbed transform.
        let noisy: FivePoints = [
            [38.8, 51.2],
            [73.1, 52.0],
            [56.4, 71.1],
            [41.0, 92.9],
            [71.2, 91.8],
        ];
        let fit = Similarity::fit(&noisy, &TEMPLATE).expect("fit");
        let sse = |t: &Similarity| -> f32 {
            noisy
                .iter()
                .zip(TEMPLATE.iter())
                .map(|(s, d)| {
                    let m = t.apply(*s);
                    (m[0] - d[0]).powi(2) + (m[1] - d[1]).powi(2)
                })
                .sum()
        };
        let best = sse(&fit);
        assert!(best > 0.0);
        for (da, db, dx) in [(0.01, 0.0, 0.0), (0.0, 0.01, 0.0), (0.0, 0.0, 0.3)] {
            let other = Similarity {
                a: fit.a + da,
                b: fit.b + db,
                tx: fit.tx + dx,
                ..fit
            };
            assert!(sse(&other) > best);
        }
    }

    #[test]
    fn degenerate_landmarks_are_an_error() {
        let same = [[5.0, 5.0]; 5];
        assert_eq!(
            Similarity::fit(&same, &TEMPLATE),
            Err(AlignError::DegenerateLandmarks)
        );
        let mut nan = TEMPLATE;
        nan[2][0] = f32::NAN;
        assert_eq!(
            Similarity::fit(&nan, &TEMPLATE),
            Err(AlignError::DegenerateLandmarks)
        );
    }

    /// An image with a distinct colour blob at each landmark position.
    fn blob_image(w: u32, h: u32, pts: &FivePoints, radius: f32) -> RgbImage {
        let colours = [
            [255, 0, 0],
            [0, 255, 0],
            [0, 0, 255],
            [255, 255, 0],
            [0, 255, 255],
        ];
        RgbImage::from_fn(w, h, |x, y| {
            for (p, c) in pts.iter().zip(colours) {
                if (x as f32 - p[0]).hypot(y as f32 - p[1]) <= radius {
                    return Rgb(c);
                }
            }
            Rgb([40, 40, 40])
        })
    }

    fn assert_blobs_at_template(chip: &RgbImage) {
        let colours = [
            [255u8, 0, 0],
            [0, 255, 0],
            [0, 0, 255],
            [255, 255, 0],
            [0, 255, 255],
        ];
        for (p, c) in TEMPLATE.iter().zip(colours) {
            let px = chip.get_pixel(p[0].round() as u32, p[1].round() as u32).0;
            let dist: i32 = px
                .iter()
                .zip(c)
                .map(|(a, b)| (i32::from(*a) - i32::from(b)).abs())
                .sum();
            assert!(dist < 120, "expected {c:?} at {p:?}, got {px:?}");
        }
    }

    #[test]
    fn warp_puts_landmarks_on_the_template() {
        let tpl = Template {
            size: [112, 112],
            points: TEMPLATE,
        };
        // A rotated, shifted, 2x larger face.
        let truth = Similarity {
            a: 2.0 * 0.4f32.cos(),
            b: 2.0 * 0.4f32.sin(),
            tx: 160.0,
            ty: 20.0,
        };
        let pts = transform_points(&truth, &TEMPLATE);
        let img = blob_image(400, 400, &pts, 8.0);
        let aligned = align(&img, &pts, &tpl).expect("align");
        assert!(aligned.residual < 1e-2);
        assert_blobs_at_template(&aligned.chip);
    }

    #[test]
    fn large_faces_are_downscaled_before_sampling() {
        let tpl = Template {
            size: [112, 112],
            points: TEMPLATE,
        };
        let truth = Similarity {
            a: 9.0,
            b: 0.0,
            tx: 30.0,
            ty: 10.0,
        };
        let pts = transform_points(&truth, &TEMPLATE);
        let img = blob_image(1100, 1000, &pts, 30.0);
        let aligned = align(&img, &pts, &tpl).expect("align");
        assert_blobs_at_template(&aligned.chip);
    }

    #[test]
    fn faces_partly_outside_the_image_do_not_panic() {
        let tpl = Template {
            size: [150, 150],
            points: TEMPLATE,
        };
        let pts = TEMPLATE.map(|p| [p[0] - 60.0, p[1] - 80.0]);
        let img = RgbImage::from_pixel(64, 48, Rgb([200, 100, 50]));
        let aligned = align(&img, &pts, &tpl).expect("align");
        assert_eq!(aligned.chip.dimensions(), (150, 150));
        let far = TEMPLATE.map(|p| [p[0] + 5000.0, p[1] + 5000.0]);
        let aligned = align(&img, &far, &tpl).expect("align");
        assert!(aligned.chip.pixels().all(|p| p.0 == [0, 0, 0]));
        assert!(align(&RgbImage::new(0, 0), &pts, &tpl).is_ok());
    }
}
