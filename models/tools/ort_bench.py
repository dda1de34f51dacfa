#!/usr/bin/env python3
"""onnxruntime, one thread, one 150x150 chip: milliseconds per inference for each model given,
for tabling against tract (cargo bench --bench embed).

  ort_bench.py CHIP.png MODEL.onnx... [--runs 50]
"""
import argparse
import time

import numpy as np
import onnxruntime as ort
from PIL import Image

MEAN = np.array([122.782, 117.001, 104.298], np.float32)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("chip")
    ap.add_argument("models", nargs="+")
    ap.add_argument("--runs", type=int, default=50)
    a = ap.parse_args()
    rgb = np.asarray(Image.open(a.chip).convert("RGB"), np.float32)
    x = ((rgb - MEAN) / 256.0).transpose(2, 0, 1)[None].copy()
    print(f"onnxruntime {ort.__version__}, 1 thread, {a.runs} runs after 5 warm-up")
    for path in a.models:
        so = ort.SessionOptions()
        so.intra_op_num_threads = 1
        so.inter_op_num_threads = 1
        t0 = time.perf_counter()
        s = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
        load = time.perf_counter() - t0
        for _ in range(5):
            s.run(None, {"input": x})
        ts = []
        for _ in range(a.runs):
            t = time.perf_counter()
            s.run(None, {"input": x})
            ts.append(time.perf_counter() - t)
        ts = np.array(ts) * 1e3
        print(f"{path}: median {np.median(ts):.2f} ms, min {ts.min():.2f} ms, load {load * 1e3:.0f} ms")


if __name__ == "__main__":
    main()
