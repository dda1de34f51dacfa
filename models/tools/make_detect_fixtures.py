"""Writes tests/fixtures/detect/reference.json: onnxruntime detections (retinaface_ref.py pre/post
processing, the committed model and MANIFEST params) for the photos in tests/fixtures/photos.

usage: python make_detect_fixtures.py   (from the repository root)
"""
import json
import os
import sys
import tomllib

import numpy as np
from PIL import Image

sys.path.insert(0, os.path.dirname(__file__))
import retinaface_ref as rr  # noqa: E402

PHOTOS = ["astronaut.png", "obama.jpg", "biden.jpg", "obama_partial_face.jpg", "32bit.png"]


def main():
    with open("models/MANIFEST.toml", "rb") as f:
        man = tomllib.load(f)
    e = next(m for m in man["model"] if m["role"] == "detector")
    params = dict(rr.PARAMS, **{k: e["params"][k] for k in rr.PARAMS if k in e["params"]})
    _, _, h, w = e["input_shape"]
    det = rr.OrtRetinaFace(os.path.join("models", e["file"]), h, w, params=params)
    out = dict(model=e["id"], sha256=e["sha256"], tool="models/tools/make_detect_fixtures.py",
               decoder="PIL convert('RGB')", photos={})
    for name in PHOTOS:
        rgb = np.array(Image.open(os.path.join("tests/fixtures/photos", name)).convert("RGB"))
        faces = det.detect(rgb)
        out["photos"][name] = dict(width=rgb.shape[1], height=rgb.shape[0], faces=faces)
        print(name, rgb.shape, len(faces), [round(f["score"], 4) for f in faces])
    with open("tests/fixtures/detect/reference.json", "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
