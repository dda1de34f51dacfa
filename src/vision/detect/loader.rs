//! Loading: the detector file read and checked once ([`DetectorSource`]), and plans built
//! from it at the manifest's input or at a smaller square one.

use super::{DetectError, Detector, DetectorParams};
use crate::manifest::{Layout, Manifest, ModelEntry, Role};
use tract_onnx::prelude::*;

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
            .map_err(model_err(&entry.id))?;
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

    /// The plan for an `in_h`×`in_w` input from the decoded file.
    fn from_proto(
        entry: &ModelEntry,
        params: DetectorParams,
        proto: &tract_onnx::pb::ModelProto,
        (in_h, in_w): (usize, usize),
    ) -> Result<Self, DetectError> {
        check_input_shape(entry)?;
        let typed = optimised(entry, proto, (in_h, in_w), &params.outputs)?;
        let anchors = params.anchors(in_h, in_w);
        check_output_shapes(&entry.id, &typed, &params.outputs, anchors.len())?;
        let model = typed.into_runnable().map_err(model_err(&entry.id))?;
        let mut input = entry.input_spec();
        (input.height, input.width) = (in_h, in_w);
        Ok(Self {
            id: entry.id.clone(),
            model,
            in_h,
            in_w,
            input,
            params,
            anchors,
        })
    }
}

/// The error for a model tract cannot load or optimise.
fn model_err(id: &str) -> impl Fn(TractError) -> DetectError + '_ {
    move |e| DetectError::Model {
        id: id.to_string(),
        message: format!("{e:#}"),
    }
}

/// Refuses an input that is not one image of 3 channels.
fn check_input_shape(entry: &ModelEntry) -> Result<(), DetectError> {
    let channels = match entry.layout {
        Layout::Nchw => entry.input_shape[1],
        Layout::Nhwc => entry.input_shape[3],
    };
    if entry.input_shape[0] != 1 || channels != 3 {
        return Err(DetectError::Param {
            id: entry.id.clone(),
            name: "input_shape".into(),
            message: format!(
                "must be batch 1 with 3 channels, found {:?}",
                entry.input_shape
            ),
        });
    }
    Ok(())
}

/// The model with an `in_h`×`in_w` input and the three named outputs, optimised.
fn optimised(
    entry: &ModelEntry,
    proto: &tract_onnx::pb::ModelProto,
    (in_h, in_w): (usize, usize),
    outputs: &[String; 3],
) -> Result<TypedModel, DetectError> {
    let model_err = model_err(&entry.id);
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
        .map_err(&model_err)?
        .with_input_fact(0, f32::fact(input_shape).into())
        .map_err(&model_err)?;
    let mut outlets = Vec::with_capacity(3);
    for name in outputs {
        let outlet = model
            .find_outlet_label(name)
            .ok_or_else(|| DetectError::Param {
                id: entry.id.clone(),
                name: "outputs".into(),
                message: format!("the model has no output named `{name}`"),
            })?;
        outlets.push(outlet);
    }
    model.select_output_outlets(&outlets).map_err(&model_err)?;
    model.into_optimized().map_err(model_err)
}

/// Refuses outputs that are not one row of 4, 2 and 10 values per anchor.
fn check_output_shapes(
    id: &str,
    typed: &TypedModel,
    outputs: &[String; 3],
    anchors: usize,
) -> Result<(), DetectError> {
    for (i, (name, width)) in outputs.iter().zip([4usize, 2, 10]).enumerate() {
        let expected = vec![1, anchors, width];
        let fact = typed.output_fact(i).map_err(model_err(id))?;
        let got: Vec<usize> = fact
            .shape
            .as_concrete()
            .map(|s| s.to_vec())
            .unwrap_or_default();
        if got != expected {
            return Err(DetectError::OutputShape {
                id: id.to_string(),
                name: name.clone(),
                expected,
                got,
            });
        }
    }
    Ok(())
}
