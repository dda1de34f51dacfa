#!/usr/bin/env python3
"""Static int8 quantization of an f32 embedder with onnxruntime, checked against the f32 model.

  quantize_embedder.py F32.onnx INT8.onnx CHIP_DIR (--manifest MANIFEST.toml --id ID |
                       --size W H --mean M M M --std S S S [--colour-order rgb|bgr] [--layout nchw|nhwc])
                       [--output NAME] [--min-cosine 0.99] [--format qdq|qoperator] [--ops Conv MatMul ...]
                       [--method minmax|entropy|percentile] [--limit N] [--per-tensor]

Preprocessing: the model's own, as its manifest entry states it (`input_shape`, `layout`,
`colour_order`, `mean`, `std`: input = (pixel - mean) / std per channel in colour order, pixels
0..255), read from MANIFEST.toml by `--id`, or given by flags (flags override the entry). dlib's
ResNet: `--manifest models/MANIFEST.toml --id dlib-resnet-v1-f32`; GestaltMatcher-Arc's iResNets:
`--size 112 112 --mean 127.5 127.5 127.5 --std 127.5 127.5 127.5 --colour-order rgb`.
Calibration: aligned chips (PNG) from CHIP_DIR, of the model's input size (aligned onto the
entry's template), refused otherwise.

Quantized ops: by default Conv, Gemm and MatMul (the convolutions and the fully connected head;
`--ops` names others, `--ops all` every op onnxruntime's quantizer knows). Formats:
- qdq: QuantizeLinear/DequantizeLinear pairs around f32 ops. tract 0.23 runs them by dequantizing
  the weights to f32 (the int8 file computes in f32).
- qoperator: QLinearConv / QLinearMatMul, which tract runs with its int8 kernels (i32 accumulation,
  SDOT where the CPU has dot-product). Only the ops named by --ops are quantized: tract rejects
  onnxruntime's contrib QOperator ops (QLinearAdd, QLinearAveragePool...), so Add, Pad and the pools
  stay f32 between DequantizeLinear and QuantizeLinear. With Relu in --ops, a Relu after a quantized
  tensor is dropped: its output range starts at 0, so requantization clips it.

The check: the int8 model's embedding output (the entry's `output`, or `--output`; required when
the graph has several outputs) against the f32 model's on every calibration chip, cosine. Both
run in onnxruntime with its graph optimisations off, so the int8 model computes what its
Quantize/Dequantize nodes state (no fused u8s8 kernels, which saturate on AVX2 CPUs without VNNI:
models/README.md). The file is written only when the smallest cosine is at least --min-cosine
(default 0.99); the measured cosines are printed either way, and a refused model exits 1.
"""
import argparse
import glob
import os
import sys
import tempfile

import numpy as np
import onnx
import onnxruntime as ort
from onnxruntime.quantization import (CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType,
                                      quantize_static)
from PIL import Image

DEFAULT_OPS = ["Conv", "Gemm", "MatMul"]
DEFAULT_MIN_COSINE = 0.99


class Preprocess:
    """The model's input for an RGB chip, as the manifest entry defines it (src/manifest.rs InputSpec)."""

    def __init__(self, size, mean, std, colour_order="rgb", layout="nchw", input_name="input"):
        self.size = (int(size[0]), int(size[1]))  # width, height
        self.mean = np.array(mean, np.float32)
        self.std = np.array(std, np.float32)
        if self.mean.shape != (3,) or self.std.shape != (3,) or np.any(self.std == 0):
            raise SystemExit("mean and std need 3 values each, std non-zero")
        self.order = [0, 1, 2] if colour_order == "rgb" else [2, 1, 0]
        self.layout = layout
        self.input_name = input_name

    def __call__(self, path):
        img = Image.open(path).convert("RGB")
        if img.size != self.size:
            raise SystemExit(f"{path}: chip is {img.size[0]}x{img.size[1]}, the model takes "
                             f"{self.size[0]}x{self.size[1]} (align the chips onto its template)")
        rgb = np.asarray(img, np.float32)[:, :, self.order]
        x = (rgb - self.mean) / self.std
        if self.layout == "nchw":
            x = x.transpose(2, 0, 1)
        return {self.input_name: x[None].astype(np.float32).copy()}


class Chips(CalibrationDataReader):
    def __init__(self, paths, prep):
        self.paths = iter(paths)
        self.prep = prep

    def get_next(self):
        p = next(self.paths, None)
        return None if p is None else self.prep(p)


def manifest_entry(path, model_id):
    """The [[model]] table with this id in a MANIFEST.toml."""
    import tomllib
    with open(path, "rb") as f:
        models = tomllib.load(f).get("model", [])
    for m in models:
        if m.get("id") == model_id:
            return m
    raise SystemExit(f"{path} has no model `{model_id}` (it lists: {', '.join(m.get('id', '?') for m in models)})")


def input_spec(a):
    """Size, mean, std, colour order, layout and embedding output from the entry and/or flags."""
    entry = manifest_entry(a.manifest, a.id) if a.manifest else {}
    layout = a.layout or entry.get("layout", "nchw")
    size = a.size
    if size is None and "input_shape" in entry:
        s = entry["input_shape"]
        size = (s[3], s[2]) if layout == "nchw" else (s[2], s[1])
    mean = a.mean or entry.get("mean")
    std = a.std or entry.get("std")
    colour = a.colour_order or entry.get("colour_order")
    missing = [n for n, v in [("size", size), ("mean", mean), ("std", std), ("colour order", colour)] if v is None]
    if missing:
        raise SystemExit("the model's preprocessing is not known: give --manifest and --id, or "
                         f"--size/--mean/--std/--colour-order (missing: {', '.join(missing)})")
    return size, mean, std, colour, layout, a.output or entry.get("output")


def output_index(model_path, wanted):
    """Index of the embedding output; refuses an unnamed choice among several outputs."""
    names = [o.name for o in onnx.load(model_path, load_external_data=False).graph.output]
    if wanted is None:
        if len(names) > 1:
            raise SystemExit(f"{model_path} has several outputs ({', '.join(names)}): name the embedding "
                             "with --output (or `output` in its manifest entry)")
        return 0, names[0]
    if wanted not in names:
        raise SystemExit(f"{model_path} has no output `{wanted}`; its outputs are: {', '.join(names)}")
    return names.index(wanted), wanted


def session(path):
    """An onnxruntime session that runs the graph as written (no fusion), one thread."""
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    so.intra_op_num_threads = 1
    return ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])


def cosines(f32_path, int8_path, paths, prep, out_ix):
    """Cosine of the int8 model's output to the f32 model's, per chip."""
    f32, int8 = session(f32_path), session(int8_path)
    out = []
    for p in paths:
        feed = prep(p)
        a = f32.run(None, feed)[out_ix].ravel().astype(np.float64)
        b = int8.run(None, feed)[out_ix].ravel().astype(np.float64)
        out.append(float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b) + 1e-30)))
    return np.array(out)


def quantize(a, paths, prep, tmp_out):
    method = {"minmax": CalibrationMethod.MinMax, "entropy": CalibrationMethod.Entropy,
              "percentile": CalibrationMethod.Percentile}[a.method]
    extra = {"ActivationSymmetric": a.activations == "s8", "WeightSymmetric": True}
    if a.method == "percentile":
        extra["CalibPercentile"] = a.percentile
    fmt = QuantFormat.QDQ if a.format == "qdq" else QuantFormat.QOperator
    quantize_static(a.f32, tmp_out, Chips(paths, prep), quant_format=fmt, per_channel=not a.per_tensor,
                    op_types_to_quantize=a.ops,
                    activation_type=QuantType.QUInt8 if a.activations == "u8" else QuantType.QInt8,
                    weight_type=QuantType.QInt8,
                    calibrate_method=method, nodes_to_exclude=a.exclude, extra_options=extra)


def quantized_op_count(path):
    ops = [n.op_type for n in onnx.load(path).graph.node]
    return {k: ops.count(k) for k in sorted(set(ops)) if k.startswith(("QLinear", "Quantize", "Dequantize"))}


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("f32")
    ap.add_argument("out")
    ap.add_argument("chips")
    ap.add_argument("--manifest", help="MANIFEST.toml to read the preprocessing from (with --id)")
    ap.add_argument("--id", help="the f32 model's manifest id")
    ap.add_argument("--size", type=int, nargs=2, metavar=("W", "H"), help="input width and height")
    ap.add_argument("--mean", type=float, nargs=3)
    ap.add_argument("--std", type=float, nargs=3)
    ap.add_argument("--colour-order", choices=["rgb", "bgr"])
    ap.add_argument("--layout", choices=["nchw", "nhwc"])
    ap.add_argument("--output", help="name of the embedding output (needed with several outputs)")
    ap.add_argument("--min-cosine", type=float, default=DEFAULT_MIN_COSINE,
                    help=f"smallest cosine to f32 on the chips for the file to be written (default {DEFAULT_MIN_COSINE})")
    ap.add_argument("--method", default="percentile", choices=["minmax", "entropy", "percentile"])
    ap.add_argument("--percentile", type=float, default=99.999)
    ap.add_argument("--limit", type=int, default=300)
    ap.add_argument("--activations", default="u8", choices=["u8", "s8"], help="activation type")
    ap.add_argument("--exclude", nargs="*", default=[], help="node names kept in float")
    ap.add_argument("--format", default="qdq", choices=["qdq", "qoperator"])
    ap.add_argument("--ops", nargs="*", default=DEFAULT_OPS,
                    help=f"op types to quantize (default: {' '.join(DEFAULT_OPS)}; `all`: every op "
                         "onnxruntime's quantizer knows, as the committed dlib QDQ file was made)")
    ap.add_argument("--per-tensor", action="store_true", help="one weight scale per tensor, not per channel")
    a = ap.parse_args()
    if bool(a.manifest) != bool(a.id):
        ap.error("--manifest and --id go together")
    if a.ops == ["all"]:
        a.ops = None  # onnxruntime's own list
    return a


def main():
    a = parse_args()
    size, mean, std, colour, layout, output = input_spec(a)
    out_ix, out_name = output_index(a.f32, output)
    input_name = session(a.f32).get_inputs()[0].name
    prep = Preprocess(size, mean, std, colour, layout, input_name)
    paths = sorted(glob.glob(os.path.join(a.chips, "*.png")))[: a.limit]
    if not paths:
        raise SystemExit(f"no calibration chips in {a.chips}")
    out_dir = os.path.dirname(os.path.abspath(a.out))
    with tempfile.TemporaryDirectory(dir=out_dir) as tmp:
        tmp_out = os.path.join(tmp, os.path.basename(a.out))
        quantize(a, paths, prep, tmp_out)
        c = cosines(a.f32, tmp_out, paths, prep, out_ix)
        print(f"int8 vs f32 on output `{out_name}`, {len(c)} calibration chips: cosine min {c.min():.5f}, "
              f"mean {c.mean():.5f} (required min {a.min_cosine}); ops {quantized_op_count(tmp_out)}")
        if c.min() < a.min_cosine:
            print(f"REFUSED: not writing {a.out}: min cosine {c.min():.5f} < {a.min_cosine}", file=sys.stderr)
            sys.exit(1)
        os.replace(tmp_out, a.out)
    print(f"wrote {a.out} ({os.path.getsize(a.out)} bytes) from {len(paths)} chips, {a.format}, {a.method}, "
          f"{size[0]}x{size[1]} {colour} mean {list(mean)} std {list(std)}")


if __name__ == "__main__":
    main()
