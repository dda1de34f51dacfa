//! The letterbox: a region of a photo scaled into the model input with separable bilinear
//! sampling, reordered to the model's channels and normalised.

use super::{DetectError, Detector};
use crate::manifest::InputSpec;
use image::RgbImage;
use tract_onnx::prelude::*;

/// Where the image went inside the model input: photo pixel = input pixel / scale + offset.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Letterbox {
    pub scale_x: f32,
    pub scale_y: f32,
    /// Size of the resized image inside the input (top-left placed).
    pub width: usize,
    pub height: usize,
    /// Top-left corner, in the photo, of the region that was letterboxed (0 for a whole photo).
    pub offset_x: f32,
    pub offset_y: f32,
}

/// A rectangle of a photo, in pixels: the part of it the detector looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Region {
    pub x: u32,
    pub y: u32,
    pub width: u32,
    pub height: u32,
}

impl Region {
    /// All of an image `width`×`height`.
    pub fn whole(width: u32, height: u32) -> Self {
        Self {
            x: 0,
            y: 0,
            width,
            height,
        }
    }
}

/// `region` cut to the `width`×`height` image (empty when it lies outside).
pub(super) fn clip(region: Region, width: u32, height: u32) -> Region {
    let x = region.x.min(width);
    let y = region.y.min(height);
    Region {
        x,
        y,
        width: region.width.min(width - x),
        height: region.height.min(height - y),
    }
}

/// Source pixel pairs and the second one's weight, one per output pixel along one axis.
type Taps = Vec<(usize, usize, f32)>;

impl Detector {
    /// The model input tensor for `img` (non-empty) and where the image went inside it.
    pub fn preprocess(&self, img: &RgbImage) -> Result<(Tensor, Letterbox), DetectError> {
        self.preprocess_in(img, Region::whole(img.width(), img.height()))
    }

    /// The model input tensor for `region` of `img` (non-empty, inside the image) and where
    /// the region went inside it.
    pub fn preprocess_in(
        &self,
        img: &RgbImage,
        region: Region,
    ) -> Result<(Tensor, Letterbox), DetectError> {
        let (w, h) = (region.width.max(1) as usize, region.height.max(1) as usize);
        let (ox, oy) = (region.x as usize, region.y as usize);
        if ox + w > img.width() as usize || oy + h > img.height() as usize {
            return Err(DetectError::Inference(format!(
                "region {region:?} is outside the {}×{} image",
                img.width(),
                img.height()
            )));
        }
        let lb = self.letterbox(w, h, (ox, oy));
        let xs = taps(w, lb.width, ox);
        let ys = taps(h, lb.height, oy);
        let data = resample(img, self.input, &xs, &ys)?;
        let tensor = tract_ndarray::Array4::from_shape_vec(self.input.shape(), data)
            .map_err(|e| DetectError::Inference(e.to_string()))?
            .into_tensor();
        Ok((tensor, lb))
    }

    /// Where a `w`×`h` region at `(ox, oy)` goes in the input: scaled by
    /// `min(W/w, H/h)`, rounded, placed top-left.
    fn letterbox(&self, w: usize, h: usize, (ox, oy): (usize, usize)) -> Letterbox {
        let s = (self.in_w as f64 / w as f64).min(self.in_h as f64 / h as f64);
        let new_w = ((w as f64 * s + 0.5).floor() as usize).clamp(1, self.in_w);
        let new_h = ((h as f64 * s + 0.5).floor() as usize).clamp(1, self.in_h);
        Letterbox {
            scale_x: new_w as f32 / w as f32,
            scale_y: new_h as f32 / h as f32,
            width: new_w,
            height: new_h,
            offset_x: ox as f32,
            offset_y: oy as f32,
        }
    }
}

/// Source pixel pairs and weights along one axis (`src` pixels from `start` onto `dst`), in
/// the image's coordinates: half-pixel centres, clamped at the edges.
fn taps(src: usize, dst: usize, start: usize) -> Taps {
    let scale = src as f32 / dst as f32;
    (0..dst)
        .map(|d| {
            let x = ((d as f32 + 0.5) * scale - 0.5).clamp(0.0, (src - 1) as f32);
            let x0 = x.floor() as usize;
            (start + x0, start + (x0 + 1).min(src - 1), x - x0 as f32)
        })
        .collect()
}

/// The normalised model input (zero outside the letterboxed image) for the taps `xs`, `ys`.
///
/// Separable bilinear: each needed source row is resampled horizontally once, into one
/// plane per model channel (`out[k * new_w + dx]`), then pairs of rows are blended
/// vertically, normalised and stored; same arithmetic, in the same order, as
/// retinaface_ref.py.
fn resample(
    img: &RgbImage,
    spec: InputSpec,
    xs: &[(usize, usize, f32)],
    ys: &[(usize, usize, f32)],
) -> Result<Vec<f32>, DetectError> {
    let rows = RowSampler {
        raw: img.as_raw(),
        stride: img.width() as usize * 3,
        xs,
        chan: [0, 1, 2].map(|k| spec.source_channel(k)),
    };
    let norm = [0, 1, 2].map(|k| spec.normaliser(k));
    let mut data = vec![0f32; spec.len()];
    let mut pair = RowPair::new(xs.len());
    for (dy, &(y0, y1, fy)) in ys.iter().enumerate() {
        pair.load(y0, y1, &rows)?;
        pair.blend_into(&mut data, spec, &norm, dy, fy);
    }
    Ok(data)
}

/// Resamples rows of an RGB image horizontally at fixed taps.
struct RowSampler<'a> {
    raw: &'a [u8],
    /// Bytes per image row.
    stride: usize,
    xs: &'a [(usize, usize, f32)],
    /// RGB channel read by each model channel.
    chan: [usize; 3],
}

impl RowSampler<'_> {
    /// Image row `y` resampled into `out`, one plane per model channel.
    fn row(&self, y: usize, out: &mut Vec<f32>) -> Result<(), DetectError> {
        let row = self
            .raw
            .get(y * self.stride..(y + 1) * self.stride)
            .ok_or_else(|| DetectError::Inference(format!("image buffer has no row {y}")))?;
        out.resize(3 * self.xs.len(), 0.0);
        // Constant channel orders let the compiler drop every channel index check.
        match self.chan {
            [0, 1, 2] => resample_row(row, self.xs, [0, 1, 2], out),
            [2, 1, 0] => resample_row(row, self.xs, [2, 1, 0], out),
            order => resample_row(row, self.xs, order, out),
        }
        Ok(())
    }
}

/// The two resampled source rows an output row blends, kept while the next rows reuse them.
struct RowPair {
    top: Vec<f32>,
    bot: Vec<f32>,
    top_y: usize,
    bot_y: usize,
    /// Output row width.
    new_w: usize,
}

impl RowPair {
    fn new(new_w: usize) -> Self {
        RowPair {
            top: Vec::with_capacity(new_w * 3),
            bot: Vec::with_capacity(new_w * 3),
            top_y: usize::MAX,
            bot_y: usize::MAX,
            new_w,
        }
    }

    /// Holds source rows `y0` (top) and `y1` (bottom), resampling only those not held yet.
    fn load(&mut self, y0: usize, y1: usize, rows: &RowSampler<'_>) -> Result<(), DetectError> {
        if self.top_y != y0 {
            if self.bot_y == y0 {
                std::mem::swap(&mut self.top, &mut self.bot);
                self.bot_y = usize::MAX;
            } else {
                rows.row(y0, &mut self.top)?;
            }
            self.top_y = y0;
        }
        if self.bot_y != y1 {
            if y1 == self.top_y {
                self.bot.clone_from(&self.top);
            } else {
                rows.row(y1, &mut self.bot)?;
            }
            self.bot_y = y1;
        }
        Ok(())
    }

    /// Output row `dy`: the two rows blended with weight `fy` on the bottom one, normalised
    /// and stored in `data`.
    fn blend_into<N: Fn(f32) -> f32>(
        &self,
        data: &mut [f32],
        spec: InputSpec,
        norm: &[N; 3],
        dy: usize,
        fy: f32,
    ) {
        let new_w = self.new_w;
        let gy = 1.0 - fy;
        for (k, norm) in norm.iter().enumerate() {
            // Channel k of output row dy: contiguous (NCHW) or every third value (NHWC).
            let first = spec.index(k, dy, 0);
            let step = spec.x_step();
            let plane = k * new_w..(k + 1) * new_w;
            let rows = self.top[plane.clone()].iter().zip(&self.bot[plane]);
            let blend = |(&t, &b): (&f32, &f32)| norm(t * gy + b * fy);
            if step == 1 {
                let dst = &mut data[first..first + new_w];
                dst.iter_mut().zip(rows).for_each(|(d, tb)| *d = blend(tb));
            } else {
                let dst = data[first..].iter_mut().step_by(step);
                dst.zip(rows).for_each(|(d, tb)| *d = blend(tb));
            }
        }
    }
}

/// `row` (RGB bytes) resampled horizontally at `xs` (source pixel pairs and the second one's
/// weight) into one plane per model channel: `out[k * xs.len() + dx]` reads RGB channel
/// `order[k]`. Inlined where `order` is a constant, so that no channel index is checked.
#[inline(always)]
fn resample_row(row: &[u8], xs: &[(usize, usize, f32)], order: [usize; 3], out: &mut [f32]) {
    let (r0, rest) = out.split_at_mut(xs.len());
    let (r1, r2) = rest.split_at_mut(xs.len());
    for (((&(x0, x1, fx), o0), o1), o2) in xs.iter().zip(r0).zip(r1).zip(r2) {
        let (p0, p1) = (&row[3 * x0..][..3], &row[3 * x1..][..3]);
        let gx = 1.0 - fx;
        let px = |c: usize| f32::from(p0[c]) * gx + f32::from(p1[c]) * fx;
        (*o0, *o1, *o2) = (px(order[0]), px(order[1]), px(order[2]));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::{Manifest, Role};
    use crate::vision::detect::DetectorSource;
    use std::path::Path;

    /// The model input for `region` computed one value at a time: each output pixel blended
    /// from its four source pixels, horizontally then vertically, then normalised (the
    /// arithmetic `preprocess_in` and `models/tools/retinaface_ref.py` use).
    fn reference_input(det: &Detector, img: &RgbImage, region: Region) -> Vec<f32> {
        let spec = det.input;
        let (w, h) = (region.width as usize, region.height as usize);
        let s = (det.in_w as f64 / w as f64).min(det.in_h as f64 / h as f64);
        let new_w = ((w as f64 * s + 0.5).floor() as usize).clamp(1, det.in_w);
        let new_h = ((h as f64 * s + 0.5).floor() as usize).clamp(1, det.in_h);
        let at = |d: usize, src: usize, dst: usize, start: u32| {
            let x =
                ((d as f32 + 0.5) * (src as f32 / dst as f32) - 0.5).clamp(0.0, (src - 1) as f32);
            let x0 = x.floor() as usize;
            let x1 = (x0 + 1).min(src - 1);
            (start as usize + x0, start as usize + x1, x - x0 as f32)
        };
        let mut data = vec![0f32; spec.len()];
        for dy in 0..new_h {
            let (y0, y1, fy) = at(dy, h, new_h, region.y);
            for dx in 0..new_w {
                let (x0, x1, fx) = at(dx, w, new_w, region.x);
                for k in 0..3 {
                    let c = spec.source_channel(k);
                    let p = |x: usize, y: usize| f32::from(img.get_pixel(x as u32, y as u32)[c]);
                    let top = p(x0, y0) * (1.0 - fx) + p(x1, y0) * fx;
                    let bot = p(x0, y1) * (1.0 - fx) + p(x1, y1) * fx;
                    data[spec.index(k, dy, dx)] = spec.normalise(k, top * (1.0 - fy) + bot * fy);
                }
            }
        }
        data
    }

    /// The row-cached, planar letterbox gives exactly the values of the one-value-at-a-time
    /// reference, for the whole photo, crops of odd sizes and offsets, one-pixel regions, and
    /// the preview's smaller plan.
    #[test]
    fn the_letterbox_is_the_reference_bilinear_bit_for_bit() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let manifest = Manifest::load_dir(&root.join("models")).expect("manifest");
        let entry = manifest.first_with_role(Role::Detector).expect("detector");
        let source = DetectorSource::read(&manifest, entry).expect("reads");
        let img = crate::photo::load_path(&root.join("tests/fixtures/photos/astronaut.png"))
            .expect("photo");
        let (w, h) = img.dimensions();
        let regions = [
            Region::whole(w, h),
            Region {
                x: 37,
                y: 11,
                width: 301,
                height: 187,
            },
            Region {
                x: 100,
                y: 40,
                width: 97,
                height: 413,
            },
            Region {
                x: 5,
                y: 9,
                width: 1,
                height: 1,
            },
            Region {
                x: 0,
                y: h - 1,
                width: w,
                height: 1,
            },
        ];
        for det in [
            source.plan().expect("320"),
            source.plan_sized(192).expect("192"),
        ] {
            for region in regions {
                let (got, _) = det.preprocess_in(&img, region).expect("preprocess");
                let view = got.to_plain_array_view::<f32>().expect("f32");
                let got = view.iter().map(|v| v.to_bits());
                let want = reference_input(&det, &img, region);
                assert!(
                    got.eq(want.iter().map(|v| v.to_bits())),
                    "{:?} plan, region {region:?}",
                    det.input_hw()
                );
            }
        }
    }
}
