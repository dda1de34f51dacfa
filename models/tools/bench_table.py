#!/usr/bin/env python3
"""The x86 speed table of docs/performance.md: tract (criterion results of `cargo bench`) next to onnxruntime (one
thread, the same model files and inputs), with the ratio per stage. Run `benches/table.sh`, which
runs the criterion benches first and then this script in the models/tools venv.

usage: bench_table.py [--target-dir target]
"""
import argparse
import json
import os
import statistics
import sys
import time
import tomllib

import numpy as np
import onnxruntime as ort
from PIL import Image

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.dirname(__file__))
import retinaface_ref as rr  # noqa: E402


def criterion_ms(target, group, bench):
    path = os.path.join(target, "criterion", group, bench, "new", "estimates.json")
    try:
        with open(path) as f:
            return json.load(f)["mean"]["point_estimate"] / 1e6
    except (OSError, KeyError, ValueError):
        return None


def session(path):
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    return ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])


def median_ms(fn, n=60, warm=5):
    for _ in range(warm):
        fn()
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--target-dir", default=os.path.join(ROOT, "target"))
    a = ap.parse_args()
    with open(os.path.join(ROOT, "models", "MANIFEST.toml"), "rb") as f:
        manifest = {m["id"]: m for m in tomllib.load(f)["model"]}
    det = next(m for m in manifest.values() if m["role"] == "detector")
    models = os.path.join(ROOT, "models")

    # Detector: the model run on a 320x320 letterboxed frame (what tract's detect runs).
    sess = session(os.path.join(models, det["file"]))
    n, c, h, w = det["input_shape"]
    x = np.random.default_rng(1).normal(0, 40, (n, c, h, w)).astype(np.float32)
    name = sess.get_inputs()[0].name
    ort_det = median_ms(lambda: sess.run(None, {name: x}))

    # Embedder: one 150x150 chip, f32 and int8.
    chip = np.asarray(Image.open(os.path.join(ROOT, "tests/fixtures/embed/obama.png")).convert("RGB"), np.float32)
    mean = np.array([122.782, 117.001, 104.298], np.float32)
    xc = ((chip - mean) / 256.0).transpose(2, 0, 1)[None].copy()
    ort_emb = {}
    for mid in ["dlib-resnet-v1-f32", "dlib-resnet-v1-int8"]:
        s = session(os.path.join(models, manifest[mid]["file"]))
        nm = s.get_inputs()[0].name
        ort_emb[mid] = median_ms(lambda: s.run(None, {nm: xc}))

    t = a.target_dir
    tract_det = criterion_ms(t, "detect", "frame_320x240")
    tract_letterbox = criterion_ms(t, "detect", "frame_320x240_letterbox_only")
    rows = [
        ("detect, model + decode (320x320 input)",
         None if tract_det is None or tract_letterbox is None else tract_det - tract_letterbox, ort_det),
        ("embed one chip, f32", criterion_ms(t, "embed_chip", "dlib-resnet-v1-f32"), ort_emb["dlib-resnet-v1-f32"]),
        ("embed one chip, int8 QDQ", criterion_ms(t, "embed_chip", "dlib-resnet-v1-int8"), ort_emb["dlib-resnet-v1-int8"]),
    ]
    print(f"onnxruntime {ort.__version__}, 1 thread; tract 0.23.9 (criterion means); ms")
    print()
    print("| stage | tract | onnxruntime | tract / onnxruntime |")
    print("|---|---|---|---|")
    for label, tr, o in rows:
        ratio = f"{tr / o:.2f}x" if tr else "n/a"
        trs = f"{tr:.2f}" if tr else "not run"
        print(f"| {label} | {trs} | {o:.2f} | {ratio} |")
    if tract_det and rows[2][1]:
        end_tract = tract_det + rows[2][1]
        end_ort = ort_det + ort_emb["dlib-resnet-v1-int8"]
        print(f"| end to end: detect + embed int8 | {end_tract:.2f} | {end_ort:.2f} (model runs only) | {end_tract / end_ort:.2f}x |")
    extra = [
        ("letterbox 320x240 frame (Rust)", criterion_ms(t, "detect", "frame_320x240_letterbox_only")),
        ("live preview, one 320x240 frame", criterion_ms(t, "device", "preview 320x240 frame")),
        ("capture to results, 3 photos, 1,000 syndromes", criterion_ms(t, "device", "capture to results, 3 photos")),
    ]
    print()
    print("| tract-only stage | ms |")
    print("|---|---|")
    for label, v in extra:
        print(f"| {label} | {'not run' if v is None else f'{v:.2f}'} |")
    prev = extra[1][1]
    if prev:
        print(f"\nlive preview: {1000.0 / prev:.1f} frames/s on one core")
    one = extra[2][1]
    two = criterion_ms(t, "device", "capture to results, 3 photos, 2 threads")
    if one and two:
        print(f"capture to results: 1 thread {one:.1f} ms, 2 threads {two:.1f} ms: {one / two:.2f}x")
    one = criterion_ms(t, "start-up", "models loaded, 1 thread")
    two = criterion_ms(t, "start-up", "models loaded, 2 threads")
    if one and two:
        print(f"start-up model load: 1 thread {one:.1f} ms, 2 threads {two:.1f} ms: {one / two:.2f}x")


if __name__ == "__main__":
    main()
