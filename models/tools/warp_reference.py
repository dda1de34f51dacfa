#!/usr/bin/env python3
"""Reference chips for the OpenCV-style warp and GM-Arc's alignment (tests/it/align_reference.rs).

Writes tests/fixtures/warp/reference.json and one 8-bit RGB PNG per case, made with OpenCV's
cv2.warpAffine (INTER_LINEAR, border 0) and skimage's SimilarityTransform.estimate, from the
committed PNG fixture photos and their first face's landmarks in tests/fixtures/detect/reference.json
(PNG only: JPEG decoders differ by a grey level, which would blur the check).

Cases:
  warp    a fixed affine map (rotation, strong downscale, part of the chip outside the photo);
  plain   the 5-point similarity onto the insightface template, then the warp (five-point-opencv);
  gm-arc  GM-Arc's steps: rotate the photo about the nose so the eyes are level (same size,
          border 0), take the face's landmarks "found again" in the rotated photo (here: the first
          landmarks rotated, plus fixed sub-pixel offsets, recorded in the JSON so Rust gets the
          same), truncate them to integers, fit onto the template, warp the rotated photo.

Run with Debian's python3-opencv and python3-skimage: /usr/bin/python3 models/tools/warp_reference.py
"""
import json
import math
import pathlib

import cv2
import numpy as np
from PIL import Image
from skimage import transform as sktf

ROOT = pathlib.Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures"
OUT = FIXTURES / "warp"
TEMPLATE = np.array(
    [[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366],
     [41.5493, 92.3655], [70.7299, 92.2041]], dtype=np.float32)
PHOTOS = ["astronaut.png", "32bit.png"]
# Sub-pixel offsets standing in for a second detection's differences from the rotated points.
REDETECT_OFFSETS = np.array(
    [[0.37, -0.61], [-0.42, 0.28], [0.77, 0.49], [-0.13, -0.88], [0.55, 0.12]])


def load_rgb(name):
    return np.asarray(Image.open(FIXTURES / "photos" / name).convert("RGB"))


def save_chip(chip, name):
    Image.fromarray(chip).save(OUT / name)


def similarity(landmarks):
    """The least-squares similarity of `landmarks` onto the template, as a 2x3 matrix."""
    tform = sktf.SimilarityTransform()
    tform.estimate(np.asarray(landmarks, dtype=np.float64), TEMPLATE)
    return tform.params[0:2, :]


def eye_level_rotation(landmarks):
    """cv2.getRotationMatrix2D about the nose by the eye line's angle (degrees)."""
    eye1, eye2, nose = landmarks[0], landmarks[1], landmarks[2]
    v = eye2 - eye1
    unit = v / np.linalg.norm(v)
    angle = math.degrees(math.acos(float(np.clip(unit[0], -1.0, 1.0))))
    angle = -angle if v[1] < 0 else angle
    return cv2.getRotationMatrix2D((float(nose[0]), float(nose[1])), angle, 1.0)


def apply(m, points):
    pts = np.hstack([points, np.ones((len(points), 1))])
    return pts @ m.T


def warp_case(photo, img):
    theta = math.radians(25.0)
    s = 0.3
    m = np.array([[s * math.cos(theta), -s * math.sin(theta), -20.0],
                  [s * math.sin(theta), s * math.cos(theta), 10.5]])
    chip = cv2.warpAffine(img, m, (96, 80), flags=cv2.INTER_LINEAR, borderValue=0)
    return {"kind": "warp", "matrix": m.tolist(), "size": [96, 80]}, chip


def plain_case(photo, img, landmarks):
    m = similarity(landmarks)
    chip = cv2.warpAffine(img, m, (112, 112), flags=cv2.INTER_LINEAR, borderValue=0)
    return {"kind": "plain", "landmarks": landmarks.tolist(), "matrix": m.tolist(),
            "size": [112, 112]}, chip


def gm_arc_case(photo, img, landmarks):
    h, w = img.shape[:2]
    rot = eye_level_rotation(landmarks)
    rotated = cv2.warpAffine(img, rot, (w, h), flags=cv2.INTER_LINEAR, borderValue=0)
    found = np.round(apply(rot, landmarks.astype(np.float64)) + REDETECT_OFFSETS, 4)
    found = found.astype(np.float32)
    points = np.array([[int(x), int(y)] for x, y in found], dtype=np.float64)
    m = similarity(points)
    chip = cv2.warpAffine(rotated, m, (112, 112), borderValue=0.0)
    return {"kind": "gm-arc", "landmarks": landmarks.tolist(),
            "redetected": found.astype(np.float64).tolist(), "rotation": rot.tolist(),
            "matrix": m.tolist(), "size": [112, 112]}, chip


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    detections = json.loads((FIXTURES / "detect" / "reference.json").read_text())["photos"]
    cases = []
    for photo in PHOTOS:
        img = load_rgb(photo)
        landmarks = np.array(detections[photo]["faces"][0]["landmarks"], dtype=np.float32)
        stem = photo.rsplit(".", 1)[0]
        made = [warp_case(photo, img), plain_case(photo, img, landmarks),
                gm_arc_case(photo, img, landmarks)]
        for case, chip in made:
            name = f"{stem}_{case['kind']}.png"
            save_chip(chip, name)
            cases.append({"photo": photo, "chip": name, **case})
    meta = {
        "tool": "models/tools/warp_reference.py",
        "opencv": cv2.__version__,
        "template": TEMPLATE.astype(np.float64).tolist(),
        "cases": cases,
    }
    (OUT / "reference.json").write_text(json.dumps(meta, indent=1) + "\n")


if __name__ == "__main__":
    main()
