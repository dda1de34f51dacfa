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

use crate::manifest::{InputSpec, Layout, Manifest, ManifestError, ModelEntry, Role};
use crate::vision::Face;
use image::RgbImage;
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

/// The detector's postprocessing parameters (from `[model.params]`).
#[derive(Debug, Clone, PartialEq)]
pub struct DetectorParams {
    pub min_sizes: Vec<Vec<f32>>,
    pub steps: Vec<usize>,
    pub variances: [f32; 2],
    pub score_threshold: f32,
    pub nms_iou: f32,
    pub pre_nms_top_k: usize,
    pub max_faces: usize,
    pub min_image_side: u32,
    pub outputs: [String; 3],
}

impl DetectorParams {
    /// Reads and checks the parameters of a detector entry.
    pub fn from_entry(entry: &ModelEntry) -> Result<Self, DetectError> {
        let p = &entry.params;
        let err = |name: &str, message: String| DetectError::Param {
            id: entry.id.clone(),
            name: name.to_string(),
            message,
        };
        let num = |v: &toml::Value, name: &str| -> Result<f32, DetectError> {
            match v {
                toml::Value::Float(f) if f.is_finite() => Ok(*f as f32),
                toml::Value::Integer(i) => Ok(*i as f32),
                other => Err(err(
                    name,
                    format!("must be a finite number, found `{other}`"),
                )),
            }
        };
        let get = |name: &str| -> Result<&toml::Value, DetectError> {
            p.get(name)
                .ok_or_else(|| err(name, "is missing from [model.params]".into()))
        };
        let arr = |v: &'_ toml::Value, name: &str| -> Result<Vec<toml::Value>, DetectError> {
            v.as_array()
                .cloned()
                .ok_or_else(|| err(name, format!("must be an array, found `{v}`")))
        };
        let uint = |v: &toml::Value, name: &str| -> Result<usize, DetectError> {
            match v.as_integer() {
                Some(i) if i > 0 => usize::try_from(i).map_err(|e| err(name, e.to_string())),
                _ => Err(err(
                    name,
                    format!("must be a positive integer, found `{v}`"),
                )),
            }
        };

        let min_sizes = arr(get("min_sizes")?, "min_sizes")?
            .iter()
            .map(|level| {
                let sizes = arr(level, "min_sizes")?
                    .iter()
                    .map(|s| num(s, "min_sizes"))
                    .collect::<Result<Vec<f32>, _>>()?;
                if sizes.is_empty() || sizes.iter().any(|s| *s <= 0.0) {
                    return Err(err(
                        "min_sizes",
                        "needs positive sizes at every level".into(),
                    ));
                }
                Ok(sizes)
            })
            .collect::<Result<Vec<_>, _>>()?;
        let steps = arr(get("steps")?, "steps")?
            .iter()
            .map(|s| uint(s, "steps"))
            .collect::<Result<Vec<_>, _>>()?;
        if steps.is_empty() || steps.len() != min_sizes.len() {
            return Err(err(
                "steps",
                format!(
                    "has {} levels but min_sizes has {} (need the same, at least one)",
                    steps.len(),
                    min_sizes.len()
                ),
            ));
        }
        let v = arr(get("variances")?, "variances")?;
        if v.len() != 2 {
            return Err(err(
                "variances",
                format!("must have 2 numbers, found {}", v.len()),
            ));
        }
        let variances = [num(&v[0], "variances")?, num(&v[1], "variances")?];
        if variances.iter().any(|x| *x <= 0.0) {
            return Err(err("variances", "must be positive".into()));
        }
        let unit = |name: &str| -> Result<f32, DetectError> {
            let x = num(get(name)?, name)?;
            if (0.0..=1.0).contains(&x) {
                Ok(x)
            } else {
                Err(err(name, format!("must lie in 0..=1, found {x}")))
            }
        };
        let score_threshold = unit("score_threshold")?;
        let nms_iou = unit("nms_iou")?;
        let opt_uint = |name: &str, default: usize| -> Result<usize, DetectError> {
            p.get(name).map_or(Ok(default), |v| uint(v, name))
        };
        let pre_nms_top_k = opt_uint("pre_nms_top_k", 5000)?;
        let max_faces = opt_uint("max_faces", 100)?;
        let min_image_side = u32::try_from(opt_uint("min_image_side", 8)?)
            .map_err(|e| err("min_image_side", e.to_string()))?;
        let outputs = match p.get("outputs") {
            None => ["loc".into(), "conf".into(), "landmarks".into()],
            Some(v) => {
                let names = arr(v, "outputs")?
                    .iter()
                    .map(|n| {
                        n.as_str()
                            .map(str::to_string)
                            .ok_or_else(|| err("outputs", format!("must be strings, found `{n}`")))
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                <[String; 3]>::try_from(names).map_err(|n| {
                    err(
                        "outputs",
                        format!(
                            "must name 3 outputs (boxes, scores, landmarks), found {}",
                            n.len()
                        ),
                    )
                })?
            }
        };
        Ok(Self {
            min_sizes,
            steps,
            variances,
            score_threshold,
            nms_iou,
            pre_nms_top_k,
            max_faces,
            min_image_side,
            outputs,
        })
    }

    /// Anchors `[centre x, centre y, size]` in input pixels for an `in_h`×`in_w` input.
    pub fn anchors(&self, in_h: usize, in_w: usize) -> Vec<[f32; 3]> {
        let mut out = Vec::new();
        for (step, sizes) in self.steps.iter().zip(&self.min_sizes) {
            let (ny, nx) = (in_h.div_ceil(*step), in_w.div_ceil(*step));
            for i in 0..ny {
                for j in 0..nx {
                    for s in sizes {
                        out.push([
                            (j as f32 + 0.5) * *step as f32,
                            (i as f32 + 0.5) * *step as f32,
                            *s,
                        ]);
                    }
                }
            }
        }
        out
    }
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

/// A detector file read once through [`Manifest::verify_file`] (a hash mismatch is refused),
/// its parameters checked and its ONNX decoded, from which plans are built at the manifest's
/// input ([`Self::plan`]) and at smaller square ones ([`Self::plan_sized`], the live preview's)
/// without reading or hashing the file again. Drop it once the plans are built: it holds the
/// decoded file.
#[derive(Debug)]
pub struct DetectorSource {
    entry: ModelEntry,
    params: DetectorParams,
    proto: tract_onnx::pb::ModelProto,
}

impl DetectorSource {
    /// Reads and checks the detector file named by `entry`.
    pub fn read(manifest: &Manifest, entry: &ModelEntry) -> Result<Self, DetectError> {
        if entry.role != Role::Detector {
            return Err(DetectError::WrongRole {
                id: entry.id.clone(),
                role: format!("{:?}", entry.role).to_lowercase(),
            });
        }
        let params = DetectorParams::from_entry(entry)?;
        let bytes = manifest.verify_file(entry)?;
        let proto = tract_onnx::onnx()
            .proto_model_for_read(&mut &bytes[..])
            .map_err(|e| DetectError::Model {
                id: entry.id.clone(),
                message: format!("{e:#}"),
            })?;
        Ok(Self {
            entry: entry.clone(),
            params,
            proto,
        })
    }

    /// The plan for the manifest's fixed input shape.
    pub fn plan(&self) -> Result<Detector, DetectError> {
        Detector::from_proto(
            &self.entry,
            self.params.clone(),
            &self.proto,
            self.entry.input_hw(),
        )
    }

    /// The plan for a square input of `side` pixels instead of the manifest's. The graph is
    /// fully convolutional, so only the input fact and the anchors change; `side` must be a
    /// multiple of the largest stride and no larger than the manifest's (square) input. The
    /// manifest's own side is [`Self::plan`].
    pub fn plan_sized(&self, side: usize) -> Result<Detector, DetectError> {
        let entry = &self.entry;
        let (in_h, in_w) = entry.input_hw();
        if (side, side) == (in_h, in_w) {
            return self.plan();
        }
        let stride = self.params.steps.iter().copied().max().unwrap_or(1);
        if in_h != in_w || side == 0 || side > in_w || side % stride != 0 {
            return Err(DetectError::Param {
                id: entry.id.clone(),
                name: "input_shape".into(),
                message: format!(
                    "cannot run at {side}×{side}: a smaller square input must be a multiple of \
                     {stride} and at most the model's {in_h}×{in_w}"
                ),
            });
        }
        Detector::from_proto(entry, self.params.clone(), &self.proto, (side, side))
    }
}

impl Detector {
    /// Loads the detector named by `entry`: the file is read through
    /// [`Manifest::verify_file`] (a hash mismatch is refused), params are checked, and the
    /// model is optimised for the manifest's fixed input shape. Plans at two sizes from one
    /// read: [`DetectorSource`].
    pub fn load(manifest: &Manifest, entry: &ModelEntry) -> Result<Self, DetectError> {
        DetectorSource::read(manifest, entry)?.plan()
    }

    /// [`Self::load`] with a square input of `side` pixels instead of the manifest's (the live
    /// preview's smaller plan): [`DetectorSource::plan_sized`].
    pub fn load_sized(
        manifest: &Manifest,
        entry: &ModelEntry,
        side: usize,
    ) -> Result<Self, DetectError> {
        DetectorSource::read(manifest, entry)?.plan_sized(side)
    }

    fn from_proto(
        entry: &ModelEntry,
        params: DetectorParams,
        proto: &tract_onnx::pb::ModelProto,
        (in_h, in_w): (usize, usize),
    ) -> Result<Self, DetectError> {
        let id = entry.id.clone();
        let model_err = |e: TractError| DetectError::Model {
            id: id.clone(),
            message: format!("{e:#}"),
        };
        let channels = match entry.layout {
            Layout::Nchw => entry.input_shape[1],
            Layout::Nhwc => entry.input_shape[3],
        };
        if entry.input_shape[0] != 1 || channels != 3 {
            return Err(DetectError::Param {
                id,
                name: "input_shape".into(),
                message: format!(
                    "must be batch 1 with 3 channels, found {:?}",
                    entry.input_shape
                ),
            });
        }
        let resized = (in_h, in_w) != entry.input_hw();
        let input_shape = match entry.layout {
            Layout::Nchw => vec![1, 3, in_h, in_w],
            Layout::Nhwc => vec![1, in_h, in_w, 3],
        };
        // The file declares its value shapes for the manifest's input; at another size they
        // are inferred again from the input instead.
        let mut model = tract_onnx::onnx()
            .with_ignore_value_info(resized)
            .with_ignore_output_shapes(resized)
            .model_for_proto_model(proto)
            .map_err(model_err)?
            .with_input_fact(0, f32::fact(input_shape).into())
            .map_err(model_err)?;
        let mut outlets = Vec::with_capacity(3);
        for name in &params.outputs {
            let outlet = model
                .find_outlet_label(name)
                .ok_or_else(|| DetectError::Param {
                    id: id.clone(),
                    name: "outputs".into(),
                    message: format!("the model has no output named `{name}`"),
                })?;
            outlets.push(outlet);
        }
        model.select_output_outlets(&outlets).map_err(model_err)?;
        let typed = model.into_optimized().map_err(model_err)?;
        let anchors = params.anchors(in_h, in_w);
        for (i, (name, width)) in params.outputs.iter().zip([4usize, 2, 10]).enumerate() {
            let expected = vec![1, anchors.len(), width];
            let fact = typed.output_fact(i).map_err(model_err)?;
            let got: Vec<usize> = fact
                .shape
                .as_concrete()
                .map(|s| s.to_vec())
                .unwrap_or_default();
            if got != expected {
                return Err(DetectError::OutputShape {
                    id: id.clone(),
                    name: name.clone(),
                    expected,
                    got,
                });
            }
        }
        let model = typed.into_runnable().map_err(model_err)?;
        let mut input = entry.input_spec();
        (input.height, input.width) = (in_h, in_w);
        Ok(Self {
            id,
            model,
            in_h,
            in_w,
            input,
            params,
            anchors,
        })
    }

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
        let mut views = Vec::with_capacity(3);
        for (i, width) in [4usize, 2, 10].into_iter().enumerate() {
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
            views.push(view.iter().copied().collect::<Vec<f32>>());
        }
        Ok(decode(
            &views[0],
            &views[1],
            &views[2],
            &self.anchors,
            &self.params,
            lb,
        ))
    }

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
        let s = (self.in_w as f64 / w as f64).min(self.in_h as f64 / h as f64);
        let new_w = ((w as f64 * s + 0.5).floor() as usize).clamp(1, self.in_w);
        let new_h = ((h as f64 * s + 0.5).floor() as usize).clamp(1, self.in_h);
        let lb = Letterbox {
            scale_x: new_w as f32 / w as f32,
            scale_y: new_h as f32 / h as f32,
            width: new_w,
            height: new_h,
            offset_x: ox as f32,
            offset_y: oy as f32,
        };
        // Source pixel pairs and weights along one axis, in the image's coordinates.
        let axis = |src: usize, dst: usize, start: usize| -> Vec<(usize, usize, f32)> {
            let scale = src as f32 / dst as f32;
            (0..dst)
                .map(|d| {
                    let x = ((d as f32 + 0.5) * scale - 0.5).clamp(0.0, (src - 1) as f32);
                    let x0 = x.floor() as usize;
                    (start + x0, start + (x0 + 1).min(src - 1), x - x0 as f32)
                })
                .collect()
        };
        let xs = axis(w, new_w, ox);
        let ys = axis(h, new_h, oy);
        let spec = self.input;
        let chan = [0, 1, 2].map(|k| spec.source_channel(k));
        let norm = [0, 1, 2].map(|k| spec.normaliser(k));
        let mut data = vec![0f32; spec.len()];
        let raw = img.as_raw();
        let stride = img.width() as usize * 3;
        // Separable bilinear: each needed source row is resampled horizontally once, into one
        // plane per model channel (`out[k * new_w + dx]`), then pairs of rows are blended
        // vertically, normalised and stored; same arithmetic, in the same order, as
        // retinaface_ref.py.
        let hrow = |y: usize, out: &mut Vec<f32>| -> Result<(), DetectError> {
            let row = raw
                .get(y * stride..(y + 1) * stride)
                .ok_or_else(|| DetectError::Inference(format!("image buffer has no row {y}")))?;
            out.resize(3 * new_w, 0.0);
            // Constant channel orders let the compiler drop every channel index check.
            match chan {
                [0, 1, 2] => resample_row(row, &xs, [0, 1, 2], out),
                [2, 1, 0] => resample_row(row, &xs, [2, 1, 0], out),
                order => resample_row(row, &xs, order, out),
            }
            Ok(())
        };
        let (mut top, mut bot) = (Vec::with_capacity(new_w * 3), Vec::with_capacity(new_w * 3));
        let (mut top_y, mut bot_y) = (usize::MAX, usize::MAX);
        for (dy, &(y0, y1, fy)) in ys.iter().enumerate() {
            if top_y != y0 {
                if bot_y == y0 {
                    std::mem::swap(&mut top, &mut bot);
                    bot_y = usize::MAX;
                } else {
                    hrow(y0, &mut top)?;
                }
                top_y = y0;
            }
            if bot_y != y1 {
                if y1 == top_y {
                    bot.clone_from(&top);
                } else {
                    hrow(y1, &mut bot)?;
                }
                bot_y = y1;
            }
            let gy = 1.0 - fy;
            for (k, norm) in norm.iter().enumerate() {
                // Channel k of output row dy: contiguous (NCHW) or every third value (NHWC).
                let first = spec.index(k, dy, 0);
                let step = spec.x_step();
                let plane = k * new_w..(k + 1) * new_w;
                let rows = top[plane.clone()].iter().zip(&bot[plane]);
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
        let tensor = tract_ndarray::Array4::from_shape_vec(spec.shape(), data)
            .map_err(|e| DetectError::Inference(e.to_string()))?
            .into_tensor();
        Ok((tensor, lb))
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

/// Decodes raw outputs (`loc` N×4, `conf` N×2, `landm` N×10, row-major) into faces in original
/// image pixels, highest score first.
pub fn decode(
    loc: &[f32],
    conf: &[f32],
    landm: &[f32],
    anchors: &[[f32; 3]],
    params: &DetectorParams,
    lb: Letterbox,
) -> Vec<Face> {
    let n = anchors
        .len()
        .min(loc.len() / 4)
        .min(conf.len() / 2)
        .min(landm.len() / 10);
    let mut idx: Vec<usize> = (0..n)
        .filter(|&i| conf[2 * i + 1] > params.score_threshold)
        .collect();
    idx.sort_by(|&a, &b| conf[2 * b + 1].total_cmp(&conf[2 * a + 1]));
    idx.truncate(params.pre_nms_top_k);
    let [v0, v1] = params.variances;
    let cands: Vec<Face> = idx
        .iter()
        .map(|&i| {
            let [ax, ay, s] = anchors[i];
            let l = &loc[4 * i..4 * i + 4];
            let cx = ax + l[0] * v0 * s;
            let cy = ay + l[1] * v0 * s;
            let bw = s * (l[2] * v1).exp();
            let bh = s * (l[3] * v1).exp();
            let p = &landm[10 * i..10 * i + 10];
            let mut landmarks = [[0f32; 2]; 5];
            for (k, pt) in landmarks.iter_mut().enumerate() {
                pt[0] = (ax + p[2 * k] * v0 * s) / lb.scale_x + lb.offset_x;
                pt[1] = (ay + p[2 * k + 1] * v0 * s) / lb.scale_y + lb.offset_y;
            }
            Face {
                bbox: [
                    (cx - bw / 2.0) / lb.scale_x + lb.offset_x,
                    (cy - bh / 2.0) / lb.scale_y + lb.offset_y,
                    (cx + bw / 2.0) / lb.scale_x + lb.offset_x,
                    (cy + bh / 2.0) / lb.scale_y + lb.offset_y,
                ],
                score: conf[2 * i + 1],
                landmarks,
            }
        })
        .collect();
    nms(cands, params.nms_iou, params.max_faces)
}

/// `region` cut to the `width`×`height` image (empty when it lies outside).
fn clip(region: Region, width: u32, height: u32) -> Region {
    let x = region.x.min(width);
    let y = region.y.min(height);
    Region {
        x,
        y,
        width: region.width.min(width - x),
        height: region.height.min(height - y),
    }
}

/// Intersection over union of two `[x0, y0, x1, y1]` boxes (0 when the union is empty).
pub fn iou(a: &[f32; 4], b: &[f32; 4]) -> f32 {
    let iw = (a[2].min(b[2]) - a[0].max(b[0])).max(0.0);
    let ih = (a[3].min(b[3]) - a[1].max(b[1])).max(0.0);
    let inter = iw * ih;
    let area = |r: &[f32; 4]| (r[2] - r[0]).max(0.0) * (r[3] - r[1]).max(0.0);
    let union = area(a) + area(b) - inter;
    if union > 0.0 {
        inter / union
    } else {
        0.0
    }
}

/// Greedy NMS over faces already sorted by descending score.
pub fn nms(faces: Vec<Face>, iou_threshold: f32, max_faces: usize) -> Vec<Face> {
    let mut keep: Vec<Face> = Vec::new();
    for f in faces {
        if keep.len() >= max_faces {
            break;
        }
        if keep.iter().all(|k| iou(&k.bbox, &f.bbox) <= iou_threshold) {
            keep.push(f);
        }
    }
    keep
}

#[cfg(test)]
mod tests {
    use super::*;
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
