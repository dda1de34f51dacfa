#!/usr/bin/python3
"""An f32 iResNet ONNX file rewritten in the int8 form tract computes with its integer kernels.

  qlinear_iresnet.py quantize F32.onnx OUT.onnx [--form qlinear|integer]
                     [--weights per-tensor|per-channel|rescale] [--activations u8|s8]
                     [--percentile 99.9] [--calib-count 64] [--faces ../shared/faces]
  qlinear_iresnet.py chips DIR [--count 100] [--offset 5] [--faces ../shared/faces]

`quantize --form qlinear` replaces every Conv by QuantizeLinear -> QLinearConv -> DequantizeLinear
and the head's Gemm by QuantizeLinear -> QLinearMatMul -> DequantizeLinear -> Add (bias), with int8
(s8) weights stored as int8 initializers and int32 biases: the conv's output is requantized to
8 bits. `--form integer` (what `heavy-models.sh` writes) replaces every Conv by QuantizeLinear ->
ConvInteger -> Cast -> Mul -> Add and the Gemm by QuantizeLinear -> MatMulInteger -> Cast -> Mul ->
Add: the int32 sums go to f32 unrounded, scaled per output channel (per-channel int8 weights;
`--weights` is not used), so only the conv's input and weights are rounded to 8 bits. Everything between two convolutions (the BN before a
block's first conv, PReLU, the residual Add, the head's BN) stays f32: tract 0.23.9 has integer
kernels for QLinearConv / QLinearMatMul only. The BN after each conv is already folded into it by
torch's export (`make_iresnet.py`: constant folding). Weight forms (`--weights`):
- per-tensor: one scale per weight tensor (tract requantizes inside its product kernel);
- per-channel: one scale per output channel (ONNX's per-axis QLinearConv);
- rescale: per-tensor int8 weights of the conv with each output channel scaled to the same
  largest magnitude, and the per-channel factor applied in f32 after the DequantizeLinear (the
  accuracy of per-channel weights with the kernel of per-tensor ones).
Activations (`--activations`): u8 with a zero point (asymmetric) or s8 symmetric (zero point 0).
Activation ranges: each quantized tensor's `--percentile` (default 99.9) low and high per calibration chip,
the widest over the chips, computed by running the f32 graph node by node with torch
(`make_iresnet.run_node`) on `--calib-count` aligned face chips of `--faces` (every k-th row of
its landmarks.csv, as `make_iresnet.py` picks its BN calibration chips).

`chips` writes `--count` aligned 112x112 PNG chips of `--faces` to DIR, rows
`offset, offset + k, ...` of landmarks.csv less the rows `quantize --calib-count` calibrates on:
faces the quantization did not see (`examples/heavy_check.rs` compares int8 with f32 on them in tract).

Deterministic: the same inputs write the same bytes. Needs Debian's python3-torch, python3-onnx.
"""
import argparse
import csv
import os
import sys

import numpy as np
import onnx
import torch
from onnx import TensorProto, helper, numpy_helper
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_iresnet  # noqa: E402  (the same chips, template and node evaluator)

PERCENTILE = 99.9


def face_rows(faces):
    with open(os.path.join(faces, "landmarks.csv"), newline="") as f:
        return list(csv.DictReader(f))


def chips_at(faces, count, offset, calib_count):
    """`count` aligned chips, rows offset, offset + k, ... of landmarks.csv (k spreads them),
    leaving out the rows a `--calib-count` quantization calibrates on."""
    rows = face_rows(faces)
    step = max(1, len(rows) // count)
    calib_step = max(1, len(rows) // calib_count)
    picked = [r for i, r in enumerate(rows) if i >= offset and (i - offset) % step == 0
              and i % calib_step != 0]
    out = []
    for row in picked[:count]:
        points = np.array([[float(row[f"{p}_x"]), float(row[f"{p}_y"])]
                           for p in ("re", "le", "n", "rm", "lm")])
        with Image.open(os.path.join(faces, row["image"])) as photo:
            out.append(make_iresnet.aligned_chip(photo.convert("RGB"), points))
    return out


def resolve_identities(model):
    """Replaces Identity nodes on initializers (torch's shared constants) by the constants."""
    inits = {t.name: t for t in model.graph.initializer}
    alias = {}
    keep = []
    for n in model.graph.node:
        if n.op_type == "Identity" and n.input[0] in inits:
            alias[n.output[0]] = n.input[0]
        else:
            keep.append(n)
    for n in keep:
        for i, name in enumerate(n.input):
            while name in alias:
                name = alias[name]
            n.input[i] = name
    del model.graph.node[:]
    model.graph.node.extend(keep)


def calibrate(graph, chips, wanted, divisors):
    """Per tensor in `wanted`: (low, high), the widest per-chip percentile range over the chips;
    for a tensor in `divisors` also that of the tensor divided by its per-channel factors
    (under the name `NAME_raw`)."""
    consts = {t.name: torch.from_numpy(numpy_helper.to_array(t).copy()) for t in graph.initializer}
    ranges = {}
    with torch.no_grad():
        for chip in chips:
            values = dict(consts)
            values[graph.input[0].name] = make_iresnet.to_input(chip)
            for name in wanted & {graph.input[0].name}:
                note(ranges, name, values[name])
            for node in graph.node:
                args = [values[name] for name in node.input if name]
                attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
                out = make_iresnet.run_node(node.op_type, args, attrs)
                values[node.output[0]] = out
                if node.output[0] in wanted:
                    note(ranges, node.output[0], out)
                if node.output[0] in divisors:
                    note(ranges, node.output[0] + "_raw", out / divisors[node.output[0]])
    return ranges


def note(ranges, name, t, percentile=None):
    v = t.detach().flatten().double().numpy()
    p = percentile or PERCENTILE
    lo, hi = np.percentile(v, [100 - p, p])
    old = ranges.get(name, (0.0, 0.0))
    ranges[name] = (min(old[0], lo, 0.0), max(old[1], hi, 0.0))


def act_params(lo, hi, kind):
    """Scale and zero point of an activation range: u8 asymmetric or s8 symmetric."""
    if kind == "u8":
        scale = max(hi - lo, 1e-8) / 255.0
        zero = int(np.clip(round(-lo / scale), 0, 255))
        return np.float32(scale), np.array(zero, np.uint8)
    scale = max(abs(lo), abs(hi), 1e-8) / 127.0
    return np.float32(scale), np.array(0, np.int8)


def quant_weights(w, mode):
    """int8 weights, their scale(s) and the f32 per-output-channel factor left to apply (or None)."""
    flat = np.abs(w.reshape(w.shape[0], -1)).max(1).astype(np.float64)
    flat[flat == 0] = 1e-12
    if mode == "per-channel":
        scale = flat / 127.0
        q = np.round(w / scale.reshape(-1, *[1] * (w.ndim - 1)))
        return np.clip(q, -127, 127).astype(np.int8), scale.astype(np.float32), None
    factor = None
    if mode == "rescale":
        factor = flat / flat.max()
        w = w / factor.reshape(-1, *[1] * (w.ndim - 1))
    scale = np.float64(np.abs(w).max() / 127.0)
    q = np.clip(np.round(w / scale), -127, 127).astype(np.int8)
    return q, np.array(scale, np.float32), None if factor is None else factor.astype(np.float32)


class Rewriter:
    def __init__(self, model, ranges, args):
        self.inits = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
        self.ranges = ranges
        self.args = args
        self.nodes = []
        self.new_inits = []
        self.quantized = {}
        self.params = {}

    def const(self, name, value):
        self.new_inits.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    def act(self, name):
        """The scale and zero point names of tensor `name` (made once)."""
        if name not in self.params:
            s, z = act_params(*self.ranges[name], self.args.activations)
            key = name.replace("/", "_").strip("_")
            self.params[name] = (self.const(f"{key}_scale", s), self.const(f"{key}_zp", z))
        return self.params[name]

    def quantize_input(self, name):
        if name not in self.quantized:
            s, z = self.act(name)
            q = f"{name}_q"
            self.nodes.append(helper.make_node("QuantizeLinear", [name, s, z], [q]))
            self.quantized[name] = (q, s, z)
        return self.quantized[name]

    def conv(self, n):
        if self.args.form == "integer":
            return self.conv_integer(n)
        x, w_name = n.input[0], n.input[1]
        w = self.inits[w_name].astype(np.float64)
        bias = self.inits[n.input[2]].astype(np.float64) if len(n.input) > 2 else np.zeros(w.shape[0])
        xq, xs, xz = self.quantize_input(x)
        wq, ws, factor = quant_weights(w, self.args.weights)
        y = n.output[0]
        if factor is not None:
            bias = bias / factor
        x_scale = float(self.inits_or_new(xs))
        bq = np.round(bias / (x_scale * ws.astype(np.float64))).astype(np.int32)
        ys, yz = self.act(y + "_raw" if factor is not None else y)
        base = w_name.replace("/", "_")
        inputs = [xq, xs, xz, self.const(f"{base}_q", wq), self.const(f"{base}_scale", ws),
                  self.const(f"{base}_zp", np.zeros(ws.shape, np.int8)), ys, yz,
                  self.const(f"{base}_bias_q", bq)]
        attrs = {a.name: helper.get_attribute_value(a) for a in n.attribute}
        self.nodes.append(helper.make_node("QLinearConv", inputs, [y + "_q"], name=n.name, **attrs))
        if factor is None:
            self.nodes.append(helper.make_node("DequantizeLinear", [y + "_q", ys, yz], [y]))
        else:
            self.nodes.append(helper.make_node("DequantizeLinear", [y + "_q", ys, yz], [y + "_raw"]))
            f = self.const(f"{base}_factor", factor.reshape(1, -1, 1, 1))
            self.nodes.append(helper.make_node("Mul", [y + "_raw", f], [y]))

    def conv_integer(self, n):
        """ConvInteger (int8 in, int32 out: no requantization) -> Cast -> Mul -> Add in f32."""
        x, w_name = n.input[0], n.input[1]
        w = self.inits[w_name].astype(np.float64)
        bias = self.inits[n.input[2]].astype(np.float64) if len(n.input) > 2 else np.zeros(w.shape[0])
        xq, xs, xz = self.quantize_input(x)
        wq, ws, _ = quant_weights(w, "per-channel")
        scale = float(self.inits_or_new(xs)) * ws.astype(np.float64)
        y = n.output[0]
        base = w_name.replace("/", "_")
        attrs = {a.name: helper.get_attribute_value(a) for a in n.attribute}
        inputs = [xq, self.const(f"{base}_q", wq), xz, self.const(f"{base}_zp", np.array(0, np.int8))]
        self.nodes.append(helper.make_node("ConvInteger", inputs, [y + "_i32"], name=n.name, **attrs))
        self.nodes.append(helper.make_node("Cast", [y + "_i32"], [y + "_acc"], to=TensorProto.FLOAT))
        s = self.const(f"{base}_scale", scale.astype(np.float32).reshape(1, -1, 1, 1))
        self.nodes.append(helper.make_node("Mul", [y + "_acc", s], [y + "_scaled"]))
        b = self.const(f"{base}_bias", bias.astype(np.float32).reshape(1, -1, 1, 1))
        self.nodes.append(helper.make_node("Add", [y + "_scaled", b], [y]))

    def gemm_integer(self, n, w, bias):
        """MatMulInteger -> Cast -> Mul -> Add in f32 (per-column weight scales)."""
        xq, xs, xz = self.quantize_input(n.input[0])
        scale = np.abs(w).max(0)
        scale[scale == 0] = 1e-12
        scale = scale / 127.0
        wq = np.clip(np.round(w / scale), -127, 127).astype(np.int8)
        y = n.output[0]
        base = n.input[1].replace("/", "_")
        inputs = [xq, self.const(f"{base}_q", np.ascontiguousarray(wq)), xz,
                  self.const(f"{base}_zp", np.array(0, np.int8))]
        self.nodes.append(helper.make_node("MatMulInteger", inputs, [y + "_i32"], name=n.name))
        self.nodes.append(helper.make_node("Cast", [y + "_i32"], [y + "_acc"], to=TensorProto.FLOAT))
        s = self.const(f"{base}_scale", (float(self.inits_or_new(xs)) * scale).astype(np.float32))
        self.nodes.append(helper.make_node("Mul", [y + "_acc", s], [y + "_scaled"]))
        self.nodes.append(helper.make_node("Add", [y + "_scaled", self.const(f"{base}_bias", bias.astype(np.float32))], [y]))

    def inits_or_new(self, name):
        for t in self.new_inits:
            if t.name == name:
                return numpy_helper.to_array(t)
        raise KeyError(name)

    def gemm(self, n):
        attrs = {a.name: helper.get_attribute_value(a) for a in n.attribute}
        if attrs.get("alpha", 1.0) != 1.0 or attrs.get("beta", 1.0) != 1.0 or attrs.get("transA", 0):
            raise SystemExit(f"Gemm {n.name}: only alpha = beta = 1, transA = 0")
        w = self.inits[n.input[1]].astype(np.float64)
        w = w.T if attrs.get("transB", 0) else w  # K x N
        if self.args.form == "integer":
            bias = self.inits[n.input[2]].astype(np.float64) if len(n.input) > 2 else np.zeros(w.shape[1])
            return self.gemm_integer(n, w, bias)
        xq, xs, xz = self.quantize_input(n.input[0])
        scale = np.abs(w).max() / 127.0
        wq = np.clip(np.round(w / scale), -127, 127).astype(np.int8)
        y = n.output[0]
        mm = y + "_mm"
        ylo, yhi = self.ranges[y]
        bias = self.inits[n.input[2]].astype(np.float64) if len(n.input) > 2 else np.zeros(w.shape[1])
        self.ranges[mm] = (min(ylo - bias.max(), 0.0), max(yhi - bias.min(), 0.0))
        ys, yz = self.act(mm)
        base = n.input[1].replace("/", "_")
        inputs = [xq, xs, xz, self.const(f"{base}_q", np.ascontiguousarray(wq)),
                  self.const(f"{base}_scale", np.float32(scale)), self.const(f"{base}_zp", np.array(0, np.int8)),
                  ys, yz]
        self.nodes.append(helper.make_node("QLinearMatMul", inputs, [mm + "_q"], name=n.name))
        self.nodes.append(helper.make_node("DequantizeLinear", [mm + "_q", ys, yz], [mm]))
        b = self.const(f"{base}_bias", bias.astype(np.float32))
        self.nodes.append(helper.make_node("Add", [mm, b], [y]))


def quantize(args):
    model = onnx.load(args.f32)
    resolve_identities(model)
    g = model.graph
    wanted = set()
    for n in g.node:
        if n.op_type in ("Conv", "Gemm"):
            wanted.update([n.input[0], n.output[0]])
    inits = {t.name: numpy_helper.to_array(t) for t in g.initializer}
    divisors = {}
    if args.weights == "rescale":
        for n in g.node:
            if n.op_type == "Conv":
                _, _, factor = quant_weights(inits[n.input[1]].astype(np.float64), "rescale")
                divisors[n.output[0]] = torch.from_numpy(factor.reshape(1, -1, 1, 1))
    chips = make_iresnet.calibration_chips(args.faces, args.calib_count)
    torch.set_num_threads(1)
    global PERCENTILE
    PERCENTILE = args.percentile
    ranges = calibrate(g, chips, wanted, divisors)
    rw = Rewriter(model, ranges, args)
    for n in g.node:
        if n.op_type == "Conv":
            rw.conv(n)
        elif n.op_type == "Gemm":
            rw.gemm(n)
        else:
            rw.nodes.append(n)
    used = {i for n in rw.nodes for i in n.input}
    kept = [t for t in g.initializer if t.name in used]
    del g.node[:]
    g.node.extend(rw.nodes)
    del g.initializer[:]
    g.initializer.extend(kept + rw.new_inits)
    onnx.checker.check_model(model)
    onnx.save(model, args.out)
    ops = {}
    for n in g.node:
        ops[n.op_type] = ops.get(n.op_type, 0) + 1
    weights = "per-channel" if args.form == "integer" else args.weights
    print(f"{args.out}: {os.path.getsize(args.out)} bytes, {args.form}, weights {weights}, activations "
          f"{args.activations}, {len(chips)} calibration chips; ops {dict(sorted(ops.items()))}")


def write_chips(args):
    os.makedirs(args.dir, exist_ok=True)
    chips = chips_at(args.faces, args.count, args.offset, args.calib_count)
    for i, c in enumerate(chips):
        Image.fromarray(c).save(os.path.join(args.dir, f"chip{i:03}.png"))
    print(f"{args.dir}: {len(chips)} aligned 112x112 chips (landmarks.csv rows from {args.offset})")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    default_faces = os.path.join(os.path.dirname(__file__), "../../../shared/faces")
    q = sub.add_parser("quantize")
    q.add_argument("f32")
    q.add_argument("out")
    q.add_argument("--weights", choices=["per-tensor", "per-channel", "rescale"], default="per-tensor")
    q.add_argument("--activations", choices=["u8", "s8"], default="u8")
    q.add_argument("--form", choices=["qlinear", "integer"], default="qlinear")
    q.add_argument("--calib-count", type=int, default=64)
    q.add_argument("--percentile", type=float, default=PERCENTILE,
                   help=f"activation range: this percentile's low and high per chip (default {PERCENTILE})")
    q.add_argument("--faces", default=default_faces)
    c = sub.add_parser("chips")
    c.add_argument("dir")
    c.add_argument("--count", type=int, default=100)
    c.add_argument("--offset", type=int, default=1)
    c.add_argument("--calib-count", type=int, default=64, help="the quantization's, whose rows are left out")
    c.add_argument("--faces", default=default_faces)
    args = ap.parse_args()
    if args.cmd == "quantize":
        quantize(args)
    else:
        write_chips(args)


if __name__ == "__main__":
    main()
