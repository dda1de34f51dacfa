#!/usr/bin/env python3
"""Checks the ONNX embedders against dlib with onnxruntime (single thread).

  verify_embedder.py F32.onnx [--int8 INT8.onnx] --fixtures tests/fixtures/embed [--lfw WORK_DIR]
f32 vs dlib's descriptors: cosine >= 0.9999 on every chip; int8 vs f32: cosine >= 0.999 on every chip.
Exits non-zero when a requirement fails; --json writes the numbers.
"""
import argparse
import glob
import json
import os
import sys

import numpy as np
import onnxruntime as ort
from PIL import Image

MEAN = np.array([122.782, 117.001, 104.298], np.float32)
STD = 256.0


def prep(path):
    rgb = np.asarray(Image.open(path).convert("RGB"), np.float32)
    return ((rgb - MEAN) / STD).transpose(2, 0, 1)[None].copy()


def session(path):
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    return ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])


def cos(a, b):
    return float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b)))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("f32")
    ap.add_argument("--int8")
    ap.add_argument("--fixtures", required=True)
    ap.add_argument("--lfw")
    ap.add_argument("--json")
    a = ap.parse_args()
    chips = []  # (name, path, dlib descriptor or None)
    ref = json.load(open(os.path.join(a.fixtures, "reference.json")))
    for k, v in ref["chips"].items():
        chips.append((k, os.path.join(a.fixtures, k + ".png"), np.array(v["descriptor"])))
    if a.lfw:
        z = np.load(os.path.join(a.lfw, "lfw_reference.npz"))
        for k, d in zip(z["names"], z["desc"]):
            chips.append((str(k), os.path.join(a.lfw, "chips", "test", str(k) + ".png"), d))
    f32 = session(a.f32)
    q = session(a.int8) if a.int8 else None
    c_dlib, c_q, c_qdlib = [], [], []
    for name, path, d in chips:
        x = prep(path)
        e = f32.run(None, {"input": x})[0][0]
        c_dlib.append(cos(e, d))
        if q is not None:
            eq = q.run(None, {"input": x})[0][0]
            c_q.append(cos(eq, e))
            c_qdlib.append(cos(eq, d))
    res = {"chips": len(chips), "f32_vs_dlib_min": min(c_dlib), "f32_vs_dlib_mean": float(np.mean(c_dlib))}
    if q is not None:
        res.update({"int8_vs_f32_min": min(c_q), "int8_vs_f32_mean": float(np.mean(c_q)),
                    "int8_vs_dlib_min": min(c_qdlib), "int8_vs_dlib_mean": float(np.mean(c_qdlib))})
    for k in ("f32", "int8"):
        p = getattr(a, k)
        if p:
            res[f"{k}_bytes"] = os.path.getsize(p)
    print(json.dumps(res, indent=1))
    if a.json:
        json.dump(res, open(a.json, "w"), indent=1)
    ok = res["f32_vs_dlib_min"] >= 0.9999 and (q is None or (res["int8_vs_f32_min"] >= 0.999 and res["int8_bytes"] <= 6_000_000))
    if not ok:
        print("FAILED: requirement not met", file=sys.stderr)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
