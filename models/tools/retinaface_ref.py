"""Reference RetinaFace (MobileNet-0.25) pre/post-processing in numpy, mirroring
src/vision/detect/ step for step, so onnxruntime results can be compared with the Rust/tract
detector. Used by compare_detectors.py, make_detect_fixtures.py and ort_bench_detector.py.

Preprocessing: letterbox the RGB image into the model's fixed HxW input, scaled by
s = min(W/w, H/h) with new size (round(w*s), round(h*s)) placed at the top-left, bilinear
(half-pixel centres, no antialiasing) in float, zero padding after normalisation; channels
reordered to BGR and normalised as (pixel - mean) / std.
Postprocessing: anchors per stride (cells row-major, min_sizes inner), box and landmark decode
with variances, score threshold, greedy NMS, mapped back to original pixels.
"""
import math

import numpy as np

PARAMS = dict(
    min_sizes=[[16, 32], [64, 128], [256, 512]],
    steps=[8, 16, 32],
    variances=[0.1, 0.2],
    score_threshold=0.6,
    nms_iou=0.4,
    pre_nms_top_k=5000,
    max_faces=100,
)
MEAN_BGR = np.array([104.0, 117.0, 127.0], dtype=np.float32)
STD_BGR = np.array([1.0, 1.0, 1.0], dtype=np.float32)


def resize_bilinear(img, new_w, new_h):
    """img: HxWx3 uint8/float -> new_h x new_w x 3 float32 (half-pixel bilinear, no antialias)."""
    h, w = img.shape[:2]
    src = img.astype(np.float32)
    sx = np.float32(w) / np.float32(new_w)
    sy = np.float32(h) / np.float32(new_h)
    xs = (np.arange(new_w, dtype=np.float32) + np.float32(0.5)) * sx - np.float32(0.5)
    ys = (np.arange(new_h, dtype=np.float32) + np.float32(0.5)) * sy - np.float32(0.5)
    xs = np.clip(xs, 0, w - 1)
    ys = np.clip(ys, 0, h - 1)
    x0 = np.floor(xs).astype(np.int64)
    y0 = np.floor(ys).astype(np.int64)
    x1 = np.minimum(x0 + 1, w - 1)
    y1 = np.minimum(y0 + 1, h - 1)
    fx = (xs - x0).astype(np.float32)[None, :, None]
    fy = (ys - y0).astype(np.float32)[:, None, None]
    top = src[y0][:, x0] * (1 - fx) + src[y0][:, x1] * fx
    bot = src[y1][:, x0] * (1 - fx) + src[y1][:, x1] * fx
    return (top * (1 - fy) + bot * fy).astype(np.float32)


def letterbox(rgb, in_h, in_w, mean_bgr=MEAN_BGR, std_bgr=STD_BGR):
    """Returns (NCHW float32 tensor, (scale_x, scale_y)) with original = input / scale."""
    h, w = rgb.shape[:2]
    s = min(in_w / w, in_h / h)
    new_w = min(in_w, max(1, int(math.floor(w * s + 0.5))))
    new_h = min(in_h, max(1, int(math.floor(h * s + 0.5))))
    res = resize_bilinear(rgb, new_w, new_h)[..., ::-1]  # BGR
    res = (res - mean_bgr) / std_bgr
    t = np.zeros((1, 3, in_h, in_w), dtype=np.float32)
    t[0, :, :new_h, :new_w] = res.transpose(2, 0, 1)
    return t, (new_w / w, new_h / h)


def anchors(in_h, in_w, params=PARAMS):
    out = []
    for step, sizes in zip(params["steps"], params["min_sizes"]):
        ny, nx = math.ceil(in_h / step), math.ceil(in_w / step)
        for i in range(ny):
            for j in range(nx):
                for s in sizes:
                    out.append(((j + 0.5) * step, (i + 0.5) * step, s))
    return np.array(out, dtype=np.float32)


def nms(boxes, scores, iou_thr):
    order = np.argsort(-scores, kind="stable")
    keep = []
    suppressed = np.zeros(len(order), dtype=bool)
    area = np.maximum(0, boxes[:, 2] - boxes[:, 0]) * np.maximum(0, boxes[:, 3] - boxes[:, 1])
    for oi, i in enumerate(order):
        if suppressed[oi]:
            continue
        keep.append(i)
        for oj in range(oi + 1, len(order)):
            j = order[oj]
            if suppressed[oj]:
                continue
            xx0 = max(boxes[i, 0], boxes[j, 0]); yy0 = max(boxes[i, 1], boxes[j, 1])
            xx1 = min(boxes[i, 2], boxes[j, 2]); yy1 = min(boxes[i, 3], boxes[j, 3])
            inter = max(0.0, xx1 - xx0) * max(0.0, yy1 - yy0)
            union = area[i] + area[j] - inter
            if union > 0 and inter / union > iou_thr:
                suppressed[oj] = True
    return keep


def decode(loc, conf, landm, in_h, in_w, scale, params=PARAMS):
    """loc (N,4), conf (N,2), landm (N,10) for one image -> list of dicts in original pixels."""
    a = anchors(in_h, in_w, params)
    assert a.shape[0] == loc.shape[0], (a.shape, loc.shape)
    v0, v1 = params["variances"]
    scores = conf[:, 1]
    idx = np.where(scores > params["score_threshold"])[0]
    idx = idx[np.argsort(-scores[idx], kind="stable")][: params["pre_nms_top_k"]]
    a, l, p, sc = a[idx], loc[idx], landm[idx], scores[idx]
    cx = a[:, 0] + l[:, 0] * v0 * a[:, 2]
    cy = a[:, 1] + l[:, 1] * v0 * a[:, 2]
    w = a[:, 2] * np.exp(l[:, 2] * v1)
    h = a[:, 2] * np.exp(l[:, 3] * v1)
    boxes = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1)
    pts = np.empty((len(idx), 5, 2), dtype=np.float32)
    for k in range(5):
        pts[:, k, 0] = a[:, 0] + p[:, 2 * k] * v0 * a[:, 2]
        pts[:, k, 1] = a[:, 1] + p[:, 2 * k + 1] * v0 * a[:, 2]
    keep = nms(boxes, sc, params["nms_iou"])[: params["max_faces"]]
    sx, sy = scale
    faces = []
    for i in keep:
        b = boxes[i] / np.array([sx, sy, sx, sy], dtype=np.float32)
        q = pts[i] / np.array([sx, sy], dtype=np.float32)
        faces.append(dict(bbox=[float(x) for x in b], score=float(sc[i]),
                          landmarks=[[float(x), float(y)] for x, y in q]))
    return faces


class OrtRetinaFace:
    def __init__(self, onnx_path, in_h, in_w, threads=1, params=PARAMS):
        import onnxruntime as ort
        so = ort.SessionOptions()
        so.intra_op_num_threads = threads
        so.inter_op_num_threads = 1
        self.sess = ort.InferenceSession(onnx_path, so, providers=["CPUExecutionProvider"])
        self.in_h, self.in_w, self.params = in_h, in_w, params

    def raw(self, rgb):
        t, scale = letterbox(rgb, self.in_h, self.in_w)
        loc, conf, landm = self.sess.run(["loc", "conf", "landmarks"], {"input": t})
        return loc[0], conf[0], landm[0], scale

    def detect(self, rgb):
        loc, conf, landm, scale = self.raw(rgb)
        return decode(loc, conf, landm, self.in_h, self.in_w, scale, self.params)
