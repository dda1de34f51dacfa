#!/usr/bin/env python3
"""dlib's own face chips and descriptors: golden fixtures, calibration/test chips, the 5-point template.

  fixtures PHOTO_DIR OUT_DIR     150x150 chips (dlib.get_face_chip, padding 0.25) of the largest face
                                 in each photo + reference.json with dlib's descriptor of each chip.
  lfw FACES_DIR WORK_DIR         chips of /work/shared/faces photos (kept outside the repository):
                                 WORK_DIR/chips/{calib,test}/*.png, WORK_DIR/lfw_reference.npz, and
                                 WORK_DIR/template.json: landmarks.csv's 5 points mapped through dlib's
                                 chip transform, averaged (the least-squares template), with residuals.
Faces are found with dlib's HOG detector and its 5-point shape predictor (face_recognition_models).
"""
import argparse
import csv
import json
import math
import os
import sys

import dlib
import face_recognition_models as frm
import numpy as np
from PIL import Image

SIZE, PADDING = 150, 0.25


class Dlib:
    def __init__(self):
        self.detector = dlib.get_frontal_face_detector()
        self.sp = dlib.shape_predictor(frm.pose_predictor_five_point_model_location())
        self.rec = dlib.face_recognition_model_v1(frm.face_recognition_model_location())

    def largest_face(self, rgb, upsample=1):
        dets = self.detector(rgb, upsample)
        if len(dets) == 0:
            return None
        return max(dets, key=lambda r: r.width() * r.height())

    def chip(self, rgb, rect):
        shape = self.sp(rgb, rect)
        return shape, dlib.get_face_chip(rgb, shape, size=SIZE, padding=PADDING)

    def descriptor(self, chip):
        return np.array(self.rec.compute_face_descriptor(chip), dtype=np.float64)


def mapping_to_chip(details):
    """dlib's get_mapping_to_chip (image_transforms/interpolation.h) as a 2x3 affine matrix."""
    r = details.rect
    c = np.array([(r.left() + r.right()) / 2.0, (r.top() + r.bottom()) / 2.0])
    a = details.angle
    rot = np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
    src = [np.array([r.left(), r.top()]), np.array([r.right(), r.top()]), np.array([r.right(), r.bottom()])]
    src = [rot @ (p - c) + c for p in src]
    dst = [(0.0, 0.0), (details.cols - 1.0, 0.0), (details.cols - 1.0, details.rows - 1.0)]
    A = np.array([[p[0], p[1], 1.0] for p in src])
    m = np.linalg.solve(A, np.array(dst))  # 3x2
    return m.T  # 2x3


def apply(m, pts):
    pts = np.asarray(pts, dtype=np.float64)
    return pts @ m[:, :2].T + m[:, 2]


def similarity_lsq(src, dst):
    """Least-squares similarity (Umeyama, no reflection) mapping src -> dst, as 2x3."""
    src, dst = np.asarray(src, np.float64), np.asarray(dst, np.float64)
    ms, md = src.mean(0), dst.mean(0)
    s, d = src - ms, dst - md
    cov = d.T @ s / len(src)
    u, sig, vt = np.linalg.svd(cov)
    e = np.eye(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        e[1, 1] = -1
    rot = u @ e @ vt
    scale = np.trace(np.diag(sig) @ e) / (s ** 2).sum(1).mean()
    t = md - scale * rot @ ms
    return np.hstack([scale * rot, t[:, None]])


def load_rgb(path):
    return np.asarray(Image.open(path).convert("RGB"))


def fixtures(args):
    d = Dlib()
    os.makedirs(args.out, exist_ok=True)
    ref = {"generator": "models/tools/dlib_reference.py fixtures", "dlib_bin_version": dlib.__version__,
           "model": "dlib_face_recognition_resnet_model_v1.dat (face_recognition_models 0.3.0)",
           "chip": {"function": "dlib.get_face_chip", "size": SIZE, "padding": PADDING,
                    "shape_predictor": "shape_predictor_5_face_landmarks.dat"},
           "note": "descriptors are dlib's raw output (not L2-normalised) for the committed chip PNGs",
           "chips": {}}
    for name in args.photos:
        stem = os.path.splitext(name)[0]
        rgb = load_rgb(os.path.join(args.photo_dir, name))
        rect = d.largest_face(rgb, 1)
        if rect is None:
            sys.exit(f"no face found in {name}")
        _, chip = d.chip(rgb, rect)
        Image.fromarray(chip).save(os.path.join(args.out, f"{stem}.png"))
        back = load_rgb(os.path.join(args.out, f"{stem}.png"))
        assert (back == chip).all()
        desc = d.descriptor(back)
        ref["chips"][stem] = {"photo": name, "descriptor": [float(x) for x in desc]}
        print(f"{name}: chip {stem}.png, |descriptor| {np.linalg.norm(desc):.4f}")
    with open(os.path.join(args.out, "reference.json"), "w") as f:
        json.dump(ref, f, indent=1)
        f.write("\n")


def lfw(args):
    d = Dlib()
    marks = {}
    with open(os.path.join(args.faces, "landmarks.csv")) as f:
        for row in csv.DictReader(f):
            v = [float(row[k]) for k in ("re_x", "re_y", "le_x", "le_y", "n_x", "n_y", "rm_x", "rm_y", "lm_x", "lm_y")]
            marks[row["image"]] = np.array(v).reshape(5, 2)
    rows = list(csv.DictReader(open(os.path.join(args.faces, "dev.csv"))))
    gallery = [r["image"] for r in rows if r["role"] == "gallery"]
    probes = [r["image"] for r in rows if r["role"] == "probe"]
    # Calibration: every other gallery photo; test: probes of other identities (disjoint photos).
    calib = gallery[0::3][: args.n_calib]
    calib_ids = {p.split("/")[0] for p in calib}
    test = [p for p in probes if p.split("/")[0] not in calib_ids][:: 7][: args.n_test]
    tmpl_set = gallery[: args.n_template]
    out = {"calib": calib, "test": test}
    mapped, names, corner_err = [], [], []
    descs = {}
    need = set(calib) | set(test) | set(tmpl_set)
    for i, img in enumerate(sorted(need)):
        rgb = load_rgb(os.path.join(args.faces, img))
        rect = d.largest_face(rgb, 1)
        if rect is None:
            continue
        shape, chip = d.chip(rgb, rect)
        key = img.replace("/", "__").replace(".jpg", "")
        for split in ("calib", "test"):
            if img in out[split]:
                p = os.path.join(args.work, "chips", split)
                os.makedirs(p, exist_ok=True)
                Image.fromarray(chip).save(os.path.join(p, key + ".png"))
                if split == "test":
                    descs[key] = d.descriptor(chip)
        if img in tmpl_set and img in marks:
            det = dlib.get_face_chip_details(shape, size=SIZE, padding=PADDING)
            m = mapping_to_chip(det)
            pts = marks[img]
            # Sanity: the YuNet face must be the one dlib chipped (eyes land inside the chip).
            q = apply(m, pts)
            if not ((q > 0).all() and (q < SIZE).all()):
                continue
            mapped.append(q)
            names.append(img)
    mapped = np.array(mapped)
    tmpl = mapped.mean(0)
    resid = np.linalg.norm(mapped - tmpl, axis=2)  # per photo, per point (chip px)
    # How far our similarity alignment (landmarks -> template, least squares) puts the chip's
    # corners from where dlib's transform puts them, per photo.
    corners = np.array([[0, 0], [SIZE - 1, 0], [SIZE - 1, SIZE - 1], [0, SIZE - 1]], np.float64)
    for img, q in zip(names, mapped):
        pts = marks[img]
        ours = similarity_lsq(pts, tmpl)
        # dlib maps pts -> q; ours maps pts -> ours(pts). Compare images of the landmarks' frame:
        # map chip corners back to the photo with both and measure in chip pixels.
        dl = similarity_lsq(pts, q)  # exact (q is a similarity image of pts)
        inv = lambda m: np.linalg.inv(np.vstack([m, [0, 0, 1]]))[:2]
        a, b = apply(inv(ours), corners), apply(inv(dl), corners)
        corner_err.append(np.linalg.norm(apply(ours, a) - apply(ours, b), axis=1).max())
    # The same with the nose tip left out of the fit (it moves most with pose: YuNet's nose tip
    # vs dlib's nose base).
    corner_err4 = []
    w4 = [0, 1, 3, 4]
    for img, q in zip(names, mapped):
        pts = marks[img]
        ours = similarity_lsq(pts[w4], tmpl[w4])
        dl = similarity_lsq(pts, q)
        inv = lambda m: np.linalg.inv(np.vstack([m, [0, 0, 1]]))[:2]
        a, b = apply(inv(ours), corners), apply(inv(dl), corners)
        corner_err4.append(np.linalg.norm(apply(ours, a) - apply(ours, b), axis=1).max())
    np.savez(os.path.join(args.work, "template_points.npz"), names=np.array(names), mapped=mapped,
             marks=np.array([marks[n] for n in names]))
    stats = {
        "chip_corner_disp_px_median_no_nose": round(float(np.median(corner_err4)), 3),
        "chip_corner_disp_px_p95_no_nose": round(float(np.percentile(corner_err4, 95)), 3),
        "photos": len(mapped),
        "size": [SIZE, SIZE],
        "padding": PADDING,
        "order": ["right eye", "left eye", "nose tip", "right mouth corner", "left mouth corner"],
        "points": [[round(float(x), 3) for x in p] for p in tmpl],
        "point_sd": [[round(float(x), 3) for x in p] for p in mapped.std(0)],
        "residual_px_mean": [round(float(x), 3) for x in resid.mean(0)],
        "residual_px_p95": [round(float(x), 3) for x in np.percentile(resid, 95, axis=0)],
        "residual_px_max": [round(float(x), 3) for x in resid.max(0)],
        "residual_px_overall_mean": round(float(resid.mean()), 3),
        "residual_px_overall_rms": round(float(np.sqrt((resid ** 2).mean())), 3),
        "chip_corner_disp_px_median": round(float(np.median(corner_err)), 3),
        "chip_corner_disp_px_p95": round(float(np.percentile(corner_err, 95)), 3),
        "chip_corner_disp_px_max": round(float(np.max(corner_err)), 3),
    }
    with open(os.path.join(args.work, "template.json"), "w") as f:
        json.dump(stats, f, indent=1)
    np.savez(os.path.join(args.work, "lfw_reference.npz"), names=np.array(list(descs)), desc=np.array(list(descs.values())))
    with open(os.path.join(args.work, "lfw_reference.json"), "w") as f:
        json.dump({"dlib_bin_version": dlib.__version__, "chip_dir": "chips/test",
                   "chips": {k: {"descriptor": [float(x) for x in v]} for k, v in descs.items()}}, f)
    print(json.dumps(stats, indent=1))
    print(f"chips: calib {len(os.listdir(os.path.join(args.work, 'chips', 'calib')))}, test {len(descs)}")


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    f = sub.add_parser("fixtures")
    f.add_argument("photo_dir")
    f.add_argument("out")
    f.add_argument("photos", nargs="+")
    l = sub.add_parser("lfw")
    l.add_argument("faces")
    l.add_argument("work")
    l.add_argument("--n-calib", type=int, default=300)
    l.add_argument("--n-test", type=int, default=100)
    l.add_argument("--n-template", type=int, default=1008)
    a = ap.parse_args()
    fixtures(a) if a.cmd == "fixtures" else lfw(a)


if __name__ == "__main__":
    main()
