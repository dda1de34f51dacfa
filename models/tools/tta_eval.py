#!/usr/bin/env python3
"""Does flip TTA help? Identification on the evaluation faces, the device's way: landmarks.csv's 5
points -> manifest template (least-squares similarity, bilinear) -> embedder (onnxruntime) -> each
probe's nearest gallery photo (euclidean on L2-normalised vectors) -> top-1 / top-5 identity.

  tta_eval.py FACES_DIR MODEL.onnx TEMPLATE_JSON
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
    faces, model, tjson = sys.argv[1:4]
    tmpl = np.array(json.load(open(tjson))["points"])
    marks = {}
    for row in csv.DictReader(open(os.path.join(faces, "landmarks.csv"))):
        marks[row["image"]] = np.array([float(row[k]) for k in ("re_x", "re_y", "le_x", "le_y", "n_x", "n_y", "rm_x", "rm_y", "lm_x", "lm_y")]).reshape(5, 2)
    rows = [r for r in csv.DictReader(open(os.path.join(faces, "dev.csv"))) if r["image"] in marks]
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    s = ort.InferenceSession(model, so, providers=["CPUExecutionProvider"])
    plain, tta, ids, roles = [], [], [], []
    for r in rows:
        m = np.vstack([similarity_lsq(marks[r["image"]], tmpl), [0, 0, 1]])
        inv = np.linalg.inv(m)[:2]
        a, b, c = inv[0]
        d, e, f = inv[1]
        photo = Image.open(os.path.join(faces, r["image"])).convert("RGB")
        chip = photo.transform((150, 150), Image.AFFINE, (a, b, c + 0.5 * (a + b) - 0.5, d, e, f + 0.5 * (d + e) - 0.5), resample=Image.BILINEAR)
        x = ((np.asarray(chip, np.float32) - MEAN) / 256.0).transpose(2, 0, 1)[None]
        v = s.run(None, {"input": x.copy()})[0][0]
        w = s.run(None, {"input": x[..., ::-1].copy()})[0][0]
        plain.append(v / np.linalg.norm(v))
        t = v + w
        tta.append(t / np.linalg.norm(t))
        ids.append(r["identity"])
        roles.append(r["role"])
    ids, roles = np.array(ids), np.array(roles)
    g, p = roles == "gallery", roles == "probe"
    out = {"gallery": int(g.sum()), "probes": int(p.sum())}
    for name, emb in (("plain", np.array(plain)), ("flip_tta", np.array(tta))):
        G, P = emb[g], emb[p]
        dist = ((P[:, None, :] - G[None, :, :]) ** 2).sum(-1)
        order = np.argsort(dist, axis=1)
        gi = ids[g][order]
        truth = ids[p][:, None]
        out[name] = {"top1": round(float((gi[:, :1] == truth).any(1).mean()), 4),
                     "top5": round(float((gi[:, :5] == truth).any(1).mean()), 4)}
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
