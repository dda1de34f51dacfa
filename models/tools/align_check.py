#!/usr/bin/env python3
"""How close is a chip aligned from landmarks.csv's 5 points onto the manifest template to dlib's
own chip, measured where it matters: cosine of the f32 embeddings (onnxruntime).

  align_check.py FACES_DIR WORK_DIR F32.onnx TEMPLATE_JSON
For each test chip written by dlib_reference.py lfw: warp the photo with the least-squares
similarity landmarks -> template (all 5 points, and eyes+mouth only), bilinear, 150x150; embed; compare
with dlib's descriptor of dlib's chip of the same photo.
"""
import csv
import json
import os
import sys

import numpy as np
import onnxruntime as ort
from PIL import Image

from dlib_reference import similarity_lsq

MEAN = np.array([122.782, 117.001, 104.298], np.float32)


def main():
    faces, work, model, tjson = sys.argv[1:5]
    tmpl = np.array(json.load(open(tjson))["points"])
    marks = {}
    for row in csv.DictReader(open(os.path.join(faces, "landmarks.csv"))):
        marks[row["image"]] = np.array([float(row[k]) for k in ("re_x", "re_y", "le_x", "le_y", "n_x", "n_y", "rm_x", "rm_y", "lm_x", "lm_y")]).reshape(5, 2)
    ref = json.load(open(os.path.join(work, "lfw_reference.json")))["chips"]
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    s = ort.InferenceSession(model, so, providers=["CPUExecutionProvider"])

    def emb(img):
        x = ((np.asarray(img, np.float32) - MEAN) / 256.0).transpose(2, 0, 1)[None].copy()
        return s.run(None, {"input": x})[0][0]

    def cos(a, b):
        return float(a @ b / np.linalg.norm(a) / np.linalg.norm(b))

    res = {"all5": [], "no_nose": [], "dlib_chip_roundtrip": []}
    for key, v in ref.items():
        img = key.replace("__", "/") + ".jpg"
        if img not in marks:
            continue
        d = np.array(v["descriptor"])
        photo = Image.open(os.path.join(faces, img)).convert("RGB")
        for name, idx in (("all5", [0, 1, 2, 3, 4]), ("no_nose", [0, 1, 3, 4])):
            m = np.vstack([similarity_lsq(marks[img][idx], tmpl[idx]), [0, 0, 1]])
            inv = np.linalg.inv(m)[:2]  # chip -> photo; PIL samples at pixel centres (+0.5)
            a, b, c = inv[0]
            dd, e, f = inv[1]
            c2 = c + 0.5 * (a + b) - 0.5
            f2 = f + 0.5 * (dd + e) - 0.5
            chip = photo.transform((150, 150), Image.AFFINE, (a, b, c2, dd, e, f2), resample=Image.BILINEAR)
            res[name].append(cos(emb(chip), d))
        res["dlib_chip_roundtrip"].append(cos(emb(Image.open(os.path.join(work, "chips", "test", key + ".png"))), d))
    out = {k: {"n": len(v), "min": round(min(v), 4), "median": round(float(np.median(v)), 4), "mean": round(float(np.mean(v)), 4)} for k, v in res.items()}
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
