//! The face embedding model, run by tract: aligned chip in, L2-normalised embedding out.
//!
//! [`Embedder`] owns the optimised tract plan and the preprocessing its manifest entry describes
//! (input shape, layout, colour order, mean and std). The model file is read through
//! [`Manifest::verify_file`], so a file whose sha256 differs from the manifest is never run.
//! A graph with several outputs (GestaltMatcher-Arc's fine-tuned export: logits, then the
//! representation) runs only the output its entry names (`output`); without a name it is
//! refused, naming its outputs, so a gallery is never built from the wrong one.
//!
//! The shipped embedder is dlib's face recognition ResNet (`dlib_face_recognition_resnet_model_v1`)
//! converted to ONNX by `models/tools/build_embedder.sh`, as float32 and as int8 (QDQ); see
//! `models/README.md`. A QDQ file's constant weights are dequantized once before tract reads
//! the graph ([`fold`]): the same plan and outputs, loaded in half the instructions.
//!
//! Test-time variants (mirror, grey) are input transforms on the one loaded plan
//! ([`variant`]); an ordered set of embedders run with them, and the one stored vector they
//! give, is [`set`].

use crate::manifest::{Layout, Manifest, ManifestError, Metric, ModelEntry, Role};
use image::RgbImage;
use std::sync::Arc;
use tract_onnx::prelude::*;

mod fold;
pub mod set;
pub mod variant;

pub use set::{combine_per_pair, EmbedderSet, PairNorm, SetEmbedding};
pub use variant::{Combine, EmbeddingRecipe, MemberId, Variant, Variants};

/// Why the embedder could not be loaded or could not embed a chip.
#[derive(Debug, thiserror::Error)]
pub enum EmbedError {
    /// The model file is missing, unreadable, or its sha256 does not match the manifest.
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    #[error("model `{id}` has role {role:?}, not embedder")]
    NotAnEmbedder { id: String, role: Role },
    #[error("model `{id}` is not usable as an embedder: {message}")]
    Entry { id: String, message: String },
    #[error("model `{id}` could not be loaded by tract: {message}")]
    Load { id: String, message: String },
    #[error(
        "the chip is {actual_w}×{actual_h} px but model `{id}` expects {expected_w}×{expected_h}"
    )]
    ChipSize {
        id: String,
        expected_w: u32,
        expected_h: u32,
        actual_w: u32,
        actual_h: u32,
    },
    #[error("model `{id}` failed to run: {message}")]
    Run { id: String, message: String },
    #[error("model `{id}` returned {actual} values, its manifest says {expected}")]
    OutputSize {
        id: String,
        expected: usize,
        actual: usize,
    },
    #[error("model `{id}` returned a non-finite or zero embedding")]
    Degenerate { id: String },
    #[error(
        "model `{id}` has several outputs ({outputs}): name the embedding with \
         `output = \"NAME\"` in its manifest entry"
    )]
    AmbiguousOutput {
        id: String,
        /// The graph's output names, comma-separated, in graph order.
        outputs: String,
    },
    #[error(
        "model `{id}` has no output `{wanted}` (its manifest entry's `output`); its outputs \
         are: {outputs}"
    )]
    UnknownOutput {
        id: String,
        wanted: String,
        outputs: String,
    },
}

/// Options for [`Embedder::load`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EmbedOptions {
    /// Test-time augmentation: embed the chip and its horizontal mirror, average, normalise
    /// (variants {plain, flip} combined by mean-then-normalise; [`Variants::dlib`]). Costs a
    /// second inference.
    pub flip_tta: bool,
}

type Plan = Arc<TypedRunnableModel>;

/// A loaded embedding model and its preprocessing.
#[derive(Debug)]
pub struct Embedder {
    entry: ModelEntry,
    plan: Plan,
    opts: EmbedOptions,
    /// Chip width and height the model takes.
    chip_w: u32,
    chip_h: u32,
    embedding_size: usize,
    metric: Metric,
}

impl Embedder {
    /// Loads `entry` from `manifest`'s directory: checks the file's sha256, parses the ONNX
    /// model, fixes its input to the manifest's shape, optimises it.
    pub fn load(
        manifest: &Manifest,
        entry: &ModelEntry,
        opts: EmbedOptions,
    ) -> Result<Self, EmbedError> {
        let id = entry.id.clone();
        if entry.role != Role::Embedder {
            return Err(EmbedError::NotAnEmbedder {
                id,
                role: entry.role,
            });
        }
        entry.validate()?;
        let bad = |message: String| EmbedError::Entry {
            id: id.clone(),
            message,
        };
        let embedding_size = entry
            .embedding_size
            .ok_or_else(|| bad("no embedding_size".into()))?;
        let metric = entry.metric.ok_or_else(|| bad("no metric".into()))?;
        let template = entry
            .template
            .as_ref()
            .ok_or_else(|| bad("no template".into()))?;
        let (h, w) = entry.input_hw();
        let channels = match entry.layout {
            Layout::Nchw => entry.input_shape[1],
            Layout::Nhwc => entry.input_shape[3],
        };
        if entry.input_shape[0] != 1 || channels != 3 {
            return Err(bad(format!(
                "input_shape {:?} must be one 3-channel image",
                entry.input_shape
            )));
        }
        if template.size != [w as u32, h as u32] {
            return Err(bad(format!(
                "template size {:?} differs from the input {}×{}",
                template.size, w, h
            )));
        }
        let bytes = manifest.verify_file(entry)?;
        let load_err = |e: TractError| EmbedError::Load {
            id: id.clone(),
            message: format!("{e:#}"),
        };
        let onnx = tract_onnx::onnx();
        let mut proto = onnx
            .proto_model_for_read(&mut &bytes[..])
            .map_err(load_err)?;
        select_output(&mut proto, entry)?;
        let plan = load_onnx(&onnx, proto, &entry.input_shape).map_err(load_err)?;
        Ok(Self {
            entry: entry.clone(),
            plan,
            opts,
            chip_w: w as u32,
            chip_h: h as u32,
            embedding_size,
            metric,
        })
    }

    /// The manifest entry this embedder was loaded from.
    pub fn entry(&self) -> &ModelEntry {
        &self.entry
    }

    /// The identity galleries record for this model ([`ModelEntry::embedder_id`]).
    pub fn embedder_id(&self) -> String {
        self.entry.embedder_id()
    }

    /// Length of the embeddings.
    pub fn embedding_size(&self) -> usize {
        self.embedding_size
    }

    /// The distance the manifest names for ranking.
    pub fn metric(&self) -> Metric {
        self.metric
    }

    /// The options it was loaded with.
    pub fn options(&self) -> EmbedOptions {
        self.opts
    }

    /// Chip width and height the model expects (the template's size).
    pub fn chip_size(&self) -> (u32, u32) {
        (self.chip_w, self.chip_h)
    }

    /// Embeds an aligned chip (see the manifest's template); returns an L2-normalised vector.
    /// dlib's variants {plain, flip} (with `flip_tta`; {plain} without) combined by
    /// mean-then-normalise: the raw outputs summed, the sum L2-normalised ([`EmbedderSet`]
    /// gives the same bits).
    pub fn embed_chip(&self, chip: &RgbImage) -> Result<Vec<f32>, EmbedError> {
        self.check_chip(chip)?;
        let mut v = if self.opts.flip_tta {
            // The chip and its mirror are independent: side by side on a multithreaded device.
            let (v, m) = crate::threads::join(|| self.run(chip, false), || self.run(chip, true));
            let (mut v, m) = (v?, m?);
            v.iter_mut().zip(&m).for_each(|(a, b)| *a += *b);
            v
        } else {
            self.run(chip, false)?
        };
        l2_normalise(&mut v).ok_or_else(|| EmbedError::Degenerate {
            id: self.entry.id.clone(),
        })?;
        Ok(v)
    }

    /// The model's raw output (before normalisation) for the chip transformed by `variant`
    /// ([`Variant`]: mirrored and/or grey), on the one loaded plan.
    pub fn run_variant(&self, chip: &RgbImage, variant: Variant) -> Result<Vec<f32>, EmbedError> {
        self.check_chip(chip)?;
        if variant.grey {
            self.run(&variant::grey(chip), variant.flip)
        } else {
            self.run(chip, variant.flip)
        }
    }

    /// Refuses a chip of another size than the model's.
    fn check_chip(&self, chip: &RgbImage) -> Result<(), EmbedError> {
        if chip.dimensions() != (self.chip_w, self.chip_h) {
            return Err(EmbedError::ChipSize {
                id: self.entry.id.clone(),
                expected_w: self.chip_w,
                expected_h: self.chip_h,
                actual_w: chip.width(),
                actual_h: chip.height(),
            });
        }
        Ok(())
    }

    /// The model's raw output for the chip (mirrored left-right when `mirror`).
    fn run(&self, chip: &RgbImage, mirror: bool) -> Result<Vec<f32>, EmbedError> {
        let run_err = |message: String| EmbedError::Run {
            id: self.entry.id.clone(),
            message,
        };
        let input = self
            .input_tensor(chip, mirror)
            .map_err(|e| run_err(format!("{e:#}")))?;
        let outputs = self
            .plan
            .run(tvec!(input.into()))
            .map_err(|e| run_err(format!("{e:#}")))?;
        let out = outputs.first().ok_or_else(|| run_err("no output".into()))?;
        let view = out
            .to_plain_array_view::<f32>()
            .map_err(|e| run_err(format!("{e:#}")))?;
        let v: Vec<f32> = view.iter().copied().collect();
        if v.len() != self.embedding_size {
            return Err(EmbedError::OutputSize {
                id: self.entry.id.clone(),
                expected: self.embedding_size,
                actual: v.len(),
            });
        }
        Ok(v)
    }

    /// The chip as the model's input ([`InputSpec`]: colour order, normalisation, layout).
    fn input_tensor(&self, chip: &RgbImage, mirror: bool) -> TractResult<Tensor> {
        let spec = self.entry.input_spec();
        let (w, h) = (spec.width, spec.height);
        if chip.dimensions() != (w as u32, h as u32) {
            return Err(TractError::msg(format!(
                "the chip is {:?}, the model takes {w}×{h}",
                chip.dimensions()
            )));
        }
        let mut data = vec![0f32; spec.len()];
        let rows = chip.as_raw().chunks_exact(3 * w);
        for (y, row) in rows.enumerate() {
            for k in 0..3 {
                let (c, norm) = (spec.source_channel(k), spec.normaliser(k));
                // Channel k of row y: contiguous (NCHW) or every third value (NHWC); the mirror
                // reads the row right to left.
                let dst = data[spec.index(k, y, 0)..]
                    .iter_mut()
                    .step_by(spec.x_step());
                let value = |px: &[u8]| norm(f32::from(px[c]));
                if mirror {
                    dst.zip(row.chunks_exact(3).rev())
                        .for_each(|(d, px)| *d = value(px));
                } else {
                    dst.zip(row.chunks_exact(3))
                        .for_each(|(d, px)| *d = value(px));
                }
            }
        }
        Tensor::from_shape(&spec.shape(), &data)
    }
}

/// Keeps only the graph output that is the embedding, so tract computes nothing else (GM-Arc's
/// fine-tuned export also gives the classifier's logits). The entry's `output` names it; a graph
/// with one output needs no name; several outputs and no name, or a name the graph lacks, are
/// refused naming the graph's outputs.
fn select_output(
    proto: &mut tract_onnx::pb::ModelProto,
    entry: &ModelEntry,
) -> Result<(), EmbedError> {
    let Some(graph) = proto.graph.as_mut() else {
        return Ok(()); // tract refuses a model without a graph when it loads it
    };
    match entry.output.as_deref() {
        None if graph.output.len() > 1 => Err(EmbedError::AmbiguousOutput {
            id: entry.id.clone(),
            outputs: graph_output_names(&graph.output),
        }),
        None => Ok(()),
        Some(wanted) => match graph.output.iter().position(|o| o.name == wanted) {
            Some(ix) => {
                let chosen = graph.output.swap_remove(ix);
                graph.output = vec![chosen];
                Ok(())
            }
            None => Err(EmbedError::UnknownOutput {
                id: entry.id.clone(),
                wanted: wanted.to_string(),
                outputs: graph_output_names(&graph.output),
            }),
        },
    }
}

/// The outputs' names, comma-separated, in graph order.
fn graph_output_names(outputs: &[tract_onnx::pb::ValueInfoProto]) -> String {
    let names: Vec<&str> = outputs.iter().map(|o| o.name.as_str()).collect();
    names.join(", ")
}

/// Dequantizes a parsed model's constant weights once ([`fold`]), fixes input 0 to `shape`
/// (f32), optimises, makes it runnable.
fn load_onnx(
    onnx: &tract_onnx::Onnx,
    mut proto: tract_onnx::pb::ModelProto,
    shape: &[usize],
) -> TractResult<Plan> {
    fold::fold_weight_dequantize(&mut proto)?;
    load_proto(onnx, &proto, shape)
}

/// The plan of an already parsed (and possibly folded) model.
fn load_proto(
    onnx: &tract_onnx::Onnx,
    proto: &tract_onnx::pb::ModelProto,
    shape: &[usize],
) -> TractResult<Plan> {
    let model = onnx
        .model_for_proto_model(proto)?
        .with_input_fact(0, f32::fact(shape).into())?
        .into_optimized()?
        .into_runnable()?;
    Ok(model)
}

/// Scales `v` to unit length; `None` when it is zero or not finite.
pub fn l2_normalise(v: &mut [f32]) -> Option<()> {
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if !n.is_finite() || n <= f32::EPSILON {
        return None;
    }
    v.iter_mut().for_each(|x| *x /= n);
    Some(())
}

/// Cosine similarity of two vectors (0 when either is zero).
pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let na = a.iter().map(|x| x * x).sum::<f32>().sqrt();
    let nb = b.iter().map(|x| x * x).sum::<f32>().sqrt();
    if na == 0.0 || nb == 0.0 {
        0.0
    } else {
        dot / (na * nb)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    /// The committed manifest and its model `id`, loaded with the default options.
    fn loaded(id: &str) -> (Manifest, Embedder) {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let manifest = Manifest::load_dir(&root.join("models")).expect("manifest");
        let entry = manifest.model(id).expect("entry");
        let embedder = Embedder::load(&manifest, entry, EmbedOptions::default()).expect("loads");
        (manifest, embedder)
    }

    /// The chip as the model's input, row by row, is the per-value definition bit for bit:
    /// value (channel k, y, x) is the normalised source channel of pixel x (of pixel w − 1 − x
    /// for the mirror).
    #[test]
    fn the_chip_input_is_the_per_value_definition() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let (manifest, embedder) = loaded("dlib-resnet-v1-f32");
        let entry = manifest.model("dlib-resnet-v1-f32").expect("entry");
        let chip =
            crate::photo::load_path(&root.join("tests/fixtures/embed/obama.png")).expect("chip");
        let spec = entry.input_spec();
        for mirror in [false, true] {
            let got = embedder.input_tensor(&chip, mirror).expect("input");
            assert_eq!(got.shape(), spec.shape().as_slice());
            let view = got.to_plain_array_view::<f32>().expect("f32");
            let got: Vec<u32> = view.iter().map(|v| v.to_bits()).collect();
            let mut want = vec![0u32; spec.len()];
            for (x, y, px) in chip.enumerate_pixels() {
                let (x, y) = (x as usize, y as usize);
                let at = if mirror { spec.width - 1 - x } else { x };
                for k in 0..3 {
                    let v = spec.normalise(k, f32::from(px.0[spec.source_channel(k)]));
                    want[spec.index(k, y, at)] = v.to_bits();
                }
            }
            assert!(got == want, "mirror {mirror}");
        }
        let small = RgbImage::new(10, 10);
        assert!(embedder.input_tensor(&small, false).is_err());
    }

    /// The QDQ embedder loaded with its weights folded ([`fold`]) computes exactly what tract
    /// computes from the file as it is, on real face chips, with and without the mirror.
    #[test]
    fn folding_the_qdq_weights_changes_no_output() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let (manifest, embedder) = loaded("dlib-resnet-v1-int8");
        let entry = manifest.model("dlib-resnet-v1-int8").expect("entry");
        let bytes = manifest.verify_file(entry).expect("file");
        let onnx = tract_onnx::onnx();
        let as_is = onnx.proto_model_for_read(&mut &bytes[..]).expect("parses");
        let mut folded = as_is.clone();
        let n = fold::fold_weight_dequantize(&mut folded).expect("folds");
        // 29 convolutions and the final matrix product, each with a weight and a bias.
        assert!(n >= 30, "only {n} weight DequantizeLinear nodes folded");
        let remaining = folded.graph.as_ref().unwrap().node.len();
        assert_eq!(
            remaining + n,
            as_is.graph.as_ref().unwrap().node.len(),
            "the fold removes exactly the folded nodes"
        );
        let unfolded = load_proto(&onnx, &as_is, &entry.input_shape).expect("unfolded plan");
        for name in ["obama.png", "biden.png"] {
            let chip = image::open(root.join("tests/fixtures/embed").join(name))
                .expect("chip")
                .to_rgb8();
            for mirror in [false, true] {
                let input = embedder.input_tensor(&chip, mirror).expect("input");
                let reference = unfolded.run(tvec!(input.into())).expect("runs");
                let reference: Vec<f32> = reference[0]
                    .to_plain_array_view::<f32>()
                    .expect("f32")
                    .iter()
                    .copied()
                    .collect();
                let ours = embedder.run(&chip, mirror).expect("runs");
                assert_eq!(ours, reference, "{name} mirror={mirror}: outputs differ");
            }
        }
    }
}
