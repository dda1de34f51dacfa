"""onnxruntime (1 thread) timing of the committed detector on the inputs benches/detect.rs uses:
the astronaut fixture resized to 250x250, and 320x240 / 640x480 grey frames with it scaled to the
frame height and centred. Reports the median ms of the whole detect (letterbox + model + decode)
and of the model run alone.

usage: python models/tools/ort_bench_detector.py   (from the repository root)
"""
import os
import statistics
import sys
import time
import tomllib

import numpy as np
from PIL import Image

sys.path.insert(0, os.path.dirname(__file__))
import retinaface_ref as rr  # noqa: E402


def frame(src, w, h):
    face = np.array(src.resize((h, h), Image.BILINEAR))
    f = np.full((h, w, 3), 128, dtype=np.uint8)
    x = (w - h) // 2
    f[:, x:x + h] = face
    return f


def median_ms(fn, n=100, warm=5):
    for _ in range(warm):
        fn()
    ts = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        ts.append(1000 * (time.perf_counter() - t))
    return statistics.median(ts)


def main():
    with open("models/MANIFEST.toml", "rb") as f:
        e = next(m for m in tomllib.load(f)["model"] if m["role"] == "detector")
    params = dict(rr.PARAMS, **{k: e["params"][k] for k in rr.PARAMS if k in e["params"]})
    _, _, h, w = e["input_shape"]
    det = rr.OrtRetinaFace(os.path.join("models", e["file"]), h, w, threads=1, params=params)
    astro = Image.open("tests/fixtures/photos/astronaut.png").convert("RGB")
    cases = [("photo_250x250", np.array(astro.resize((250, 250), Image.BILINEAR))),
             ("frame_320x240", frame(astro, 320, 240)),
             ("frame_640x480", frame(astro, 640, 480))]
    print(f"onnxruntime {__import__('onnxruntime').__version__}, 1 thread, input {h}x{w}")
    print("| input | detect ms (median) | model run ms | faces |")
    print("|---|---|---|---|")
    for name, img in cases:
        t, _ = rr.letterbox(img, h, w)
        run = median_ms(lambda: det.sess.run(None, {"input": t}))
        full = median_ms(lambda: det.detect(img))
        print(f"| {name} | {full:.2f} | {run:.2f} | {len(det.detect(img))} |")


if __name__ == "__main__":
    main()
