//! An affine warp that reproduces OpenCV's `warpAffine` (bilinear, constant border 0) on 8-bit
//! RGB images, so chips match those of a Python pipeline built on OpenCV within one grey level.
//!
//! The arithmetic is OpenCV's fixed-point path (4.x, `INTER_LINEAR`, 8-bit): the inverse map's
//! coefficients are scaled by 2¹⁰ and rounded half to even, each output pixel's source position is
//! kept with 5 fractional bits (1/32 pixel), the four neighbour weights are
//! `(32 − fx)(32 − fy)·32`-style integers summing to 2¹⁵, and the weighted sum is rounded to
//! nearest (`(sum + 2¹⁴) >> 15`), never truncated. Neighbours outside the image count as 0.

use image::RgbImage;

/// A 2×3 affine map `[[a, b, c], [d, e, f]]`: `x' = a·x + b·y + c`, `y' = d·x + e·y + f`.
pub type Affine = [[f64; 3]; 2];

/// Bits of the inverse map's fixed-point coefficients (OpenCV's `AB_BITS`).
const AB_BITS: u32 = 10;
/// Fractional bits of a source position (OpenCV's `INTER_BITS`).
const INTER_BITS: u32 = 5;
/// Sub-pixel positions per pixel along one axis.
const INTER_TAB_SIZE: i32 = 1 << INTER_BITS;
/// Bits of the bilinear weights (OpenCV's `INTER_REMAP_COEF_BITS`).
const COEF_BITS: u32 = 15;

/// Warps `src` into a `width`×`height` image through `forward`, the map from source to
/// destination pixel coordinates (what `cv2.warpAffine(src, forward, (width, height))` takes).
/// A non-invertible map inverts to all zeros and reads source pixel (0, 0) everywhere, as
/// OpenCV's does.
pub fn warp_affine(src: &RgbImage, forward: &Affine, width: u32, height: u32) -> RgbImage {
    let inverse = invert(forward);
    let mut dst = RgbImage::new(width, height);
    if src.width() == 0 || src.height() == 0 {
        return dst;
    }
    let scale = f64::from(1u32 << AB_BITS);
    let round_delta = (1i64 << AB_BITS) / i64::from(INTER_TAB_SIZE) / 2;
    let adelta: Vec<i64> = (0..width)
        .map(|x| fixed(inverse[0][0] * f64::from(x) * scale))
        .collect();
    let bdelta: Vec<i64> = (0..width)
        .map(|x| fixed(inverse[1][0] * f64::from(x) * scale))
        .collect();
    for y in 0..height {
        let fy = f64::from(y);
        let x0 = fixed((inverse[0][1] * fy + inverse[0][2]) * scale) + round_delta;
        let y0 = fixed((inverse[1][1] * fy + inverse[1][2]) * scale) + round_delta;
        for x in 0..width as usize {
            let sx = (x0 + adelta[x]) >> (AB_BITS - INTER_BITS);
            let sy = (y0 + bdelta[x]) >> (AB_BITS - INTER_BITS);
            let px = sample(src, sx, sy);
            dst.put_pixel(x as u32, y, image::Rgb(px));
        }
    }
    dst
}

/// The inverse of an affine map, as OpenCV's `invertAffineTransform` computes it (a singular map
/// inverts to all zeros).
pub fn invert(m: &Affine) -> Affine {
    let det = m[0][0] * m[1][1] - m[0][1] * m[1][0];
    let d = if det != 0.0 { 1.0 / det } else { 0.0 };
    let (a11, a22) = (m[1][1] * d, m[0][0] * d);
    let (a12, a21) = (-m[0][1] * d, -m[1][0] * d);
    let b1 = -a11 * m[0][2] - a12 * m[1][2];
    let b2 = -a21 * m[0][2] - a22 * m[1][2];
    [[a11, a12, b1], [a21, a22, b2]]
}

/// OpenCV's `saturate_cast<int>(double)`: round half to even, clamped to the `int` range.
fn fixed(v: f64) -> i64 {
    v.round_ties_even()
        .clamp(f64::from(i32::MIN), f64::from(i32::MAX)) as i64
}

/// The bilinear sample at the fixed-point source position (`sx`, `sy`), 5 fractional bits each.
fn sample(src: &RgbImage, sx: i64, sy: i64) -> [u8; 3] {
    let (ix, iy) = (sx >> INTER_BITS, sy >> INTER_BITS);
    let fx = (sx & i64::from(INTER_TAB_SIZE - 1)) as i32;
    let fy = (sy & i64::from(INTER_TAB_SIZE - 1)) as i32;
    let n = INTER_TAB_SIZE;
    // Weights scaled by 2^15: (n − fx)(n − fy)·2^15 / n², exact since n² = 2^10.
    let unit = (1 << COEF_BITS) / (n * n);
    let weights = [
        (n - fx) * (n - fy) * unit,
        fx * (n - fy) * unit,
        (n - fx) * fy * unit,
        fx * fy * unit,
    ];
    let taps = [(ix, iy), (ix + 1, iy), (ix, iy + 1), (ix + 1, iy + 1)];
    let mut out = [0u8; 3];
    for (c, value) in out.iter_mut().enumerate() {
        let sum: i32 = taps
            .iter()
            .zip(weights)
            .map(|(&(x, y), w)| i32::from(pixel(src, x, y, c)) * w)
            .sum();
        *value = ((sum + (1 << (COEF_BITS - 1))) >> COEF_BITS).clamp(0, 255) as u8;
    }
    out
}

/// Channel `c` of pixel (`x`, `y`), 0 outside the image (OpenCV's constant border 0).
fn pixel(src: &RgbImage, x: i64, y: i64, c: usize) -> u8 {
    if x < 0 || y < 0 || x >= i64::from(src.width()) || y >= i64::from(src.height()) {
        return 0;
    }
    src.get_pixel(x as u32, y as u32).0[c]
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::Rgb;

    fn gradient(w: u32, h: u32) -> RgbImage {
        RgbImage::from_fn(w, h, |x, y| {
            Rgb([
                (x * 7 % 256) as u8,
                (y * 5 % 256) as u8,
                ((x + y) * 3 % 256) as u8,
            ])
        })
    }

    #[test]
    fn identity_copies_the_image_and_borders_are_black() {
        let src = gradient(20, 10);
        let identity = [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]];
        assert_eq!(warp_affine(&src, &identity, 20, 10), src);
        let shifted = [[1.0, 0.0, 5.0], [0.0, 1.0, 0.0]];
        let out = warp_affine(&src, &shifted, 20, 10);
        assert_eq!(out.get_pixel(2, 3).0, [0, 0, 0]);
        assert_eq!(out.get_pixel(7, 3), src.get_pixel(2, 3));
    }

    #[test]
    fn half_pixel_shift_rounds_to_nearest() {
        // Two columns 0 and 1: the midpoint is 0.5, which rounds up to 1 (truncation gives 0).
        let src = RgbImage::from_fn(2, 1, |x, _| Rgb([x as u8, 3 * x as u8, 255 * x as u8]));
        let half = [[1.0, 0.0, -0.5], [0.0, 1.0, 0.0]];
        let out = warp_affine(&src, &half, 1, 1);
        assert_eq!(out.get_pixel(0, 0).0, [1, 2, 128]);
    }

    #[test]
    fn invert_undoes_the_map_and_a_singular_map_gives_black() {
        let m = [[1.5, -0.4, 12.0], [0.4, 1.5, -3.0]];
        let inv = invert(&m);
        let (x, y) = (7.0, -2.0);
        let (u, v) = (
            m[0][0] * x + m[0][1] * y + m[0][2],
            m[1][0] * x + m[1][1] * y + m[1][2],
        );
        let back = [
            inv[0][0] * u + inv[0][1] * v + inv[0][2],
            inv[1][0] * u + inv[1][1] * v + inv[1][2],
        ];
        assert!((back[0] - x).abs() < 1e-9 && (back[1] - y).abs() < 1e-9);
        let singular = [[0.0; 3]; 2];
        let mut src = gradient(4, 4);
        src.put_pixel(0, 0, Rgb([9, 8, 7]));
        let out = warp_affine(&src, &singular, 3, 3);
        assert!(out.pixels().all(|p| p.0 == [9, 8, 7]));
    }
}
