#!/usr/bin/env python3
"""Static int8 quantization of the f32 embedder with onnxruntime.

  quantize_embedder.py F32.onnx INT8.onnx CHIP_DIR [--format qdq|qoperator] [--ops Conv MatMul ...]
                       [--method minmax|entropy|percentile] [--limit N] [--per-tensor]
Calibration: aligned 150x150 dlib chips (PNG) from CHIP_DIR, normalised like the model input.
- qdq: QuantizeLinear/DequantizeLinear pairs around f32 ops. tract 0.23 runs them by dequantizing
  the weights to f32 (the int8 file computes in f32).
- qoperator: QLinearConv / QLinearMatMul, which tract runs with its int8 kernels (i32 accumulation,
  SDOT where the CPU has dot-product). Only the ops named by --ops are quantized: tract rejects
  onnxruntime's contrib QOperator ops (QLinearAdd, QLinearAveragePool...), so Add, Pad and the pools
  stay f32 between DequantizeLinear and QuantizeLinear. With Relu in --ops, a Relu after a quantized
  tensor is dropped: its output range starts at 0, so requantization clips it.
"""
import argparse
import glob
import os

import numpy as np
from onnxruntime.quantization import (CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType,
                                      quantize_static)
from PIL import Image

MEAN = np.array([122.782, 117.001, 104.298], np.float32)


class Chips(CalibrationDataReader):
    def __init__(self, paths):
        self.paths = iter(paths)

    def get_next(self):
        p = next(self.paths, None)
        if p is None:
            return None
        rgb = np.asarray(Image.open(p).convert("RGB"), np.float32)
        return {"input": ((rgb - MEAN) / 256.0).transpose(2, 0, 1)[None].copy()}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("f32")
    ap.add_argument("out")
    ap.add_argument("chips")
    ap.add_argument("--method", default="percentile", choices=["minmax", "entropy", "percentile"])
    ap.add_argument("--percentile", type=float, default=99.999)
    ap.add_argument("--limit", type=int, default=300)
    ap.add_argument("--activations", default="u8", choices=["u8", "s8"], help="activation type")
    ap.add_argument("--exclude", nargs="*", default=[], help="node names kept in float")
    ap.add_argument("--format", default="qdq", choices=["qdq", "qoperator"])
    ap.add_argument("--ops", nargs="*", default=None, help="op types to quantize (default: onnxruntime's)")
    ap.add_argument("--per-tensor", action="store_true", help="one weight scale per tensor, not per channel")
    a = ap.parse_args()
    paths = sorted(glob.glob(os.path.join(a.chips, "*.png")))[: a.limit]
    if not paths:
        raise SystemExit(f"no calibration chips in {a.chips}")
    method = {"minmax": CalibrationMethod.MinMax, "entropy": CalibrationMethod.Entropy,
              "percentile": CalibrationMethod.Percentile}[a.method]
    extra = {"ActivationSymmetric": a.activations == "s8", "WeightSymmetric": True}
    if a.method == "percentile":
        extra["CalibPercentile"] = a.percentile
    fmt = QuantFormat.QDQ if a.format == "qdq" else QuantFormat.QOperator
    quantize_static(a.f32, a.out, Chips(paths), quant_format=fmt, per_channel=not a.per_tensor,
                    op_types_to_quantize=a.ops,
                    activation_type=QuantType.QUInt8 if a.activations == "u8" else QuantType.QInt8, weight_type=QuantType.QInt8,
                    calibrate_method=method, nodes_to_exclude=a.exclude, extra_options=extra)
    print(f"wrote {a.out} ({os.path.getsize(a.out)} bytes) from {len(paths)} chips, {a.format}, {a.method}")


if __name__ == "__main__":
    main()
