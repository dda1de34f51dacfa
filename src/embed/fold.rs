//! Dequantizes a QDQ model's constant weights once, before tract reads the graph.
//!
//! A QDQ ONNX file stores each weight as an int8 initializer followed by a `DequantizeLinear`
//! node. tract 0.23.9 executes these graphs in f32, so it folds that node into an f32 constant
//! anyway, but with per-channel scales it does so through its generic broadcasting binary ops
//! while inferring types: about 60% of loading the QDQ embedder
//! (`valgrind --tool=callgrind target/debug/examples/stage_count load 1 models`, x86). This
//! module does the same arithmetic in one loop over each weight and hands tract a graph whose
//! weights are already f32 constants. Activations keep their `QuantizeLinear` /
//! `DequantizeLinear` pairs, so the optimised plan, and what it computes, are unchanged:
//! `embed::tests::folding_the_qdq_weights_changes_no_output` checks the model's outputs are
//! bit-identical with and without the fold, on real face chips.
//!
//! Only a `DequantizeLinear` whose inputs are all initializers (and not graph inputs) is
//! folded; anything this module does not recognise is left for tract, which then loads it as
//! before, only slower.

use tract_onnx::data_resolver::MmapDataResolver;
use tract_onnx::pb::{tensor_proto::DataType, GraphProto, ModelProto, NodeProto, TensorProto};
use tract_onnx::prelude::*;
use tract_onnx::tensor::load_tensor;

/// Folds every foldable weight `DequantizeLinear` of `model` into an f32 initializer; returns
/// how many nodes it folded.
pub(crate) fn fold_weight_dequantize(model: &mut ModelProto) -> TractResult<usize> {
    let Some(graph) = model.graph.as_mut() else {
        return Ok(0);
    };
    let mut folded = 0;
    let mut kept = Vec::with_capacity(graph.node.len());
    for node in std::mem::take(&mut graph.node) {
        match fold_node(graph, &node)? {
            Some(constant) => {
                graph.initializer.push(constant);
                folded += 1;
            }
            None => kept.push(node),
        }
    }
    graph.node = kept;
    if folded > 0 {
        drop_unused_initializers(graph);
    }
    Ok(folded)
}

/// The f32 initializer that replaces `node`, or `None` where `node` is not a weight
/// `DequantizeLinear` this module folds.
fn fold_node(graph: &GraphProto, node: &NodeProto) -> TractResult<Option<TensorProto>> {
    let onnx_domain = node.domain.is_empty() || node.domain == "ai.onnx";
    if node.op_type != "DequantizeLinear"
        || !onnx_domain
        || !(2..=3).contains(&node.input.len())
        || node.output.len() != 1
    {
        return Ok(None);
    }
    let mut axis = 1i64;
    for attr in &node.attribute {
        match attr.name.as_str() {
            "axis" => axis = attr.i,
            // Blocked quantization, or an attribute of a later opset: leave it to tract.
            _ => return Ok(None),
        }
    }
    let constant = |name: &str| -> TractResult<Option<Tensor>> {
        if name.is_empty() || graph.input.iter().any(|i| i.name == name) {
            return Ok(None);
        }
        match graph.initializer.iter().find(|t| t.name == name) {
            Some(t) => load_tensor(&MmapDataResolver, t, None).map(Some),
            None => Ok(None),
        }
    };
    let Some(x) = constant(&node.input[0])? else {
        return Ok(None);
    };
    let Some(scale) = constant(&node.input[1])? else {
        return Ok(None);
    };
    let zero_point = match node.input.get(2) {
        Some(name) if !name.is_empty() => match constant(name)? {
            Some(z) => Some(z),
            None => return Ok(None),
        },
        _ => None,
    };
    if !matches!(
        x.datum_type(),
        DatumType::I8 | DatumType::U8 | DatumType::I32
    ) || scale.datum_type() != DatumType::F32
        || zero_point
            .as_ref()
            .is_some_and(|z| z.datum_type() != x.datum_type() || z.len() != scale.len())
    {
        return Ok(None);
    }
    let values = dequantize(&x, &scale, zero_point.as_ref(), axis)?;
    let Some(values) = values else {
        return Ok(None);
    };
    Ok(Some(TensorProto {
        name: node.output[0].clone(),
        dims: x.shape().iter().map(|&d| d as i64).collect(),
        data_type: DataType::Float as i32,
        raw_data: values.iter().flat_map(|v| v.to_le_bytes()).collect(),
        ..TensorProto::default()
    }))
}

/// `(x - zero_point) * scale` as tract computes it: per tensor (one scale) in i32 before the
/// cast, as `DequantizeLinearF32` does; per axis in f32, as tract's Cast, Sub and Mul do.
/// `None` when the per-axis scale does not fit `axis`.
fn dequantize(
    x: &Tensor,
    scale: &Tensor,
    zero_point: Option<&Tensor>,
    axis: i64,
) -> TractResult<Option<Vec<f32>>> {
    let xs = values::<i32>(&*x.cast_to::<i32>()?)?;
    let scales = values::<f32>(scale)?;
    let zps = match zero_point {
        Some(z) => values::<i32>(&*z.cast_to::<i32>()?)?,
        None => vec![0; scales.len()],
    };
    if scales.len() == 1 {
        let (s, z) = (scales[0], zps[0]);
        return Ok(Some(xs.iter().map(|&v| (v - z) as f32 * s).collect()));
    }
    let rank = x.rank() as i64;
    let axis = if axis < 0 { axis + rank } else { axis };
    if !(0..rank).contains(&axis) || x.shape()[axis as usize] != scales.len() {
        return Ok(None);
    }
    let inner: usize = x.shape()[axis as usize + 1..].iter().product();
    let channels = scales.len();
    let mut out = Vec::with_capacity(xs.len());
    // Runs of `inner` values share one channel; the channels repeat for each outer index.
    for (k, run) in xs.chunks(inner.max(1)).enumerate() {
        let (s, z) = (scales[k % channels], zps[k % channels] as f32);
        out.extend(run.iter().map(|&v| (v as f32 - z) * s));
    }
    Ok(Some(out))
}

/// The elements of a tensor held in memory.
fn values<T: Datum + Copy>(t: &Tensor) -> TractResult<Vec<T>> {
    Ok(t.try_as_plain_ram()?.as_slice::<T>()?.to_vec())
}

/// Removes the initializers no node and no graph output reads any more (the int8 weights and
/// their scales once folded).
fn drop_unused_initializers(graph: &mut GraphProto) {
    let used: std::collections::HashSet<&str> = graph
        .node
        .iter()
        .flat_map(|n| n.input.iter().map(String::as_str))
        .chain(graph.output.iter().map(|o| o.name.as_str()))
        .collect();
    let used: std::collections::HashSet<String> = used.into_iter().map(str::to_owned).collect();
    graph.initializer.retain(|t| used.contains(&t.name));
}

#[cfg(test)]
mod tests {
    use super::*;
    use tract_onnx::pb::{AttributeProto, ValueInfoProto};

    fn tensor(name: &str, dims: &[i64], dt: DataType, raw: Vec<u8>) -> TensorProto {
        TensorProto {
            name: name.into(),
            dims: dims.to_vec(),
            data_type: dt as i32,
            raw_data: raw,
            ..TensorProto::default()
        }
    }

    fn f32s(v: &[f32]) -> Vec<u8> {
        v.iter().flat_map(|x| x.to_le_bytes()).collect()
    }

    fn dq(inputs: &[&str], axis: Option<i64>) -> NodeProto {
        NodeProto {
            op_type: "DequantizeLinear".into(),
            input: inputs.iter().map(|s| s.to_string()).collect(),
            output: vec!["w".into()],
            attribute: axis
                .map(|a| AttributeProto {
                    name: "axis".into(),
                    i: a,
                    ..AttributeProto::default()
                })
                .into_iter()
                .collect(),
            ..NodeProto::default()
        }
    }

    fn model(node: NodeProto, initializer: Vec<TensorProto>) -> ModelProto {
        ModelProto {
            graph: Some(GraphProto {
                node: vec![
                    node,
                    NodeProto {
                        op_type: "Identity".into(),
                        input: vec!["w".into()],
                        output: vec!["y".into()],
                        ..NodeProto::default()
                    },
                ],
                initializer,
                output: vec![ValueInfoProto {
                    name: "y".into(),
                    ..ValueInfoProto::default()
                }],
                ..GraphProto::default()
            }),
            ..ModelProto::default()
        }
    }

    fn folded_values(m: &ModelProto) -> Vec<f32> {
        let g = m.graph.as_ref().unwrap();
        let w = g
            .initializer
            .iter()
            .find(|t| t.name == "w")
            .expect("w folded");
        assert_eq!(w.data_type, DataType::Float as i32);
        w.raw_data
            .chunks(4)
            .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
            .collect()
    }

    #[test]
    fn per_channel_int8_weights_fold_along_their_axis() {
        // 2 output channels × 3 values, scale and zero point per channel (axis 0).
        let x: Vec<u8> = [1i8, -2, 3, 4, 5, -6].iter().map(|&v| v as u8).collect();
        let mut m = model(
            dq(&["x", "s", "z"], Some(0)),
            vec![
                tensor("x", &[2, 3], DataType::Int8, x),
                tensor("s", &[2], DataType::Float, f32s(&[0.5, 0.25])),
                tensor("z", &[2], DataType::Int8, vec![0, 2]),
            ],
        );
        assert_eq!(fold_weight_dequantize(&mut m).unwrap(), 1);
        assert_eq!(
            folded_values(&m),
            [0.5, -1.0, 1.5, 0.5, 0.75, -2.0],
            "(x - z[c]) * s[c]"
        );
        let g = m.graph.as_ref().unwrap();
        assert_eq!(g.node.len(), 1, "only the Identity is left");
        let names: Vec<_> = g.initializer.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(
            names,
            ["w"],
            "the int8 weight, scale and zero point are dropped"
        );
    }

    #[test]
    fn per_tensor_and_int32_bias_fold_without_a_zero_point() {
        let x: Vec<u8> = [100i32, -7].iter().flat_map(|v| v.to_le_bytes()).collect();
        let mut m = model(
            dq(&["x", "s"], None),
            vec![
                tensor("x", &[2], DataType::Int32, x),
                tensor("s", &[], DataType::Float, f32s(&[0.125])),
            ],
        );
        assert_eq!(fold_weight_dequantize(&mut m).unwrap(), 1);
        assert_eq!(folded_values(&m), [12.5, -0.875]);
    }

    #[test]
    fn what_it_does_not_recognise_is_left_for_tract() {
        let x = tensor("x", &[2], DataType::Int8, vec![1, 2]);
        let s = tensor("s", &[], DataType::Float, f32s(&[0.5]));
        // The quantized value is a graph input (an activation), not a constant.
        let mut m = model(dq(&["x", "s"], None), vec![x.clone(), s.clone()]);
        m.graph.as_mut().unwrap().input.push(ValueInfoProto {
            name: "x".into(),
            ..ValueInfoProto::default()
        });
        assert_eq!(fold_weight_dequantize(&mut m).unwrap(), 0);
        // The scale is computed by a node, not stored.
        let mut m = model(dq(&["x", "computed"], None), vec![x.clone()]);
        assert_eq!(fold_weight_dequantize(&mut m).unwrap(), 0);
        // A per-axis scale whose length is not the axis' size.
        let mut m = model(
            dq(&["x", "s3"], Some(0)),
            vec![
                x.clone(),
                tensor("s3", &[3], DataType::Float, f32s(&[1.0, 2.0, 3.0])),
            ],
        );
        assert_eq!(fold_weight_dequantize(&mut m).unwrap(), 0);
        // An attribute this module does not know (blocked quantization).
        let mut node = dq(&["x", "s"], None);
        node.attribute.push(AttributeProto {
            name: "block_size".into(),
            i: 2,
            ..AttributeProto::default()
        });
        let mut m = model(node, vec![x, s]);
        assert_eq!(fold_weight_dequantize(&mut m).unwrap(), 0);
        assert_eq!(m.graph.as_ref().unwrap().node.len(), 2, "nothing removed");
    }
}
