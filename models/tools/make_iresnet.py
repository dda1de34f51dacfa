#!/usr/bin/python3
"""Random-weight insightface iResNet ArcFace networks, exported to ONNX, for tests and cost counts.

GestaltMatcher-Arc (GM-Arc) runs three iResNet networks (1x3x112x112 RGB in, 512 values out) whose
real weights are released to clinicians only. This tool builds networks of the same architecture
with seeded random weights, so the device's model path, tests and benchmarks can run without them:

  make_iresnet.py OUT.onnx [--depth tiny|18|50|100] [--outputs 1|2] [--classes 204] [--seed 0]
                  [--faces ../shared/faces] [--calib-count 256] [--fp32-check]
                  [--reference JSON --reference-photo PNG --reference-box X Y]

Architecture (insightface `arcface_torch` iResNet, written here from its description):
- stem: 3x3 conv (stride 1, no bias) -> BN -> PReLU;
- four stages of IBasicBlock; the first block of each stage has stride 2 (112 -> 56 -> 28 -> 14 -> 7);
  a block is BN -> 3x3 conv -> BN -> PReLU -> 3x3 conv (stride s) -> BN, plus a shortcut that is the
  identity, or a 1x1 conv (stride s) + BN where the stride or the width changes;
- head: BN -> dropout (p = 0: no node in the export) -> flatten (C x 7 x 7) -> FC 512 -> BN1d
  (the BN1d scale is fixed at 1, as insightface's `features` layer).
Depths: 18 = [2, 2, 2, 2], 50 = [3, 4, 14, 3], 100 = [3, 13, 30, 3] blocks, widths 64/128/256/512,
stem 64. `tiny` = the same blocks and head with [2, 2, 2, 2] blocks, widths 8/16/24/32 and stem 8:
flatten 32 x 7 x 7 = 1568 -> FC 512 (about 3.3 MB in f32, nearly all of it the FC).

Weights: insightface's initialisation under `torch.manual_seed(seed)`: conv weights N(0, 0.1), BN
scale 1 and shift 0, PReLU slopes 0.25, the FC layers PyTorch's default. The BN running statistics
are then **calibrated on real faces**: every BN layer's statistics are reset and accumulated as a
plain average (momentum None) over `--calib-count` 112x112 chips run through the network in train
mode, and the network is put in eval mode. Chips: photos of `--faces` (the LFW folder beside the
checkout, never copied into the project), every k-th row of its `landmarks.csv` in file order,
aligned by a least-squares similarity transform of the 5 reference points onto insightface's
112x112 template, bilinear (Pillow).

Outputs: `--outputs 1` is insightface's export: `embedding` [1, 512]. `--outputs 2` is GM-Arc's
fine-tuned model (`MyArcFace`): `(logits [1, N], representation [1, 512])` in that order, the
logits from a dropout + Linear(512, N) classifier applied to the un-normalised representation
(the BN1d output); named `logits` and `embedding` here.

Preprocessing the networks expect (GM-Arc's): RGB, NCHW, `(pixel / 255 - 0.5) / 0.5`.
The export is ONNX opset 13, input `input` [1, 3, 112, 112]. One torch thread is used, so a run
with the same arguments and the same faces writes the same bytes.

`--fp32-check` runs the written ONNX graph node by node (no onnxruntime in Debian: each ONNX node is
computed with the matching torch.nn.functional operation from the file's own initializers) and
compares it with the torch module on calibration chips and on noise.
`--reference` writes the torch module's outputs for one 112x112 crop of a photo (a JSON fixture
for the Rust tests).
"""
import argparse
import csv
import hashlib
import json
import os

import numpy as np
import onnx
import torch
import torch.nn.functional as F
from onnx import numpy_helper
from PIL import Image
from torch import nn

CHIP = 112
EMBEDDING = 512
OPSET = 13
# insightface's 112x112 ArcFace template: right eye, left eye, nose tip, right and left mouth corner.
TEMPLATE = np.array([[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366],
                     [41.5493, 92.3655], [70.7299, 92.2041]], np.float64)
# Per depth: (stem width, stage widths, blocks per stage).
SHAPES = {
    "tiny": (8, (8, 16, 24, 32), (2, 2, 2, 2)),
    "18": (64, (64, 128, 256, 512), (2, 2, 2, 2)),
    "50": (64, (64, 128, 256, 512), (3, 4, 14, 3)),
    "100": (64, (64, 128, 256, 512), (3, 13, 30, 3)),
}


def conv3x3(cin, cout, stride=1):
    """A 3x3 convolution with padding 1 and no bias, as every iResNet 3x3 conv."""
    return nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)


class IBasicBlock(nn.Module):
    """One residual block: BN, conv3x3, BN, PReLU, conv3x3 (stride s), BN, plus the shortcut."""

    def __init__(self, cin, cout, stride):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(cin, eps=1e-5)
        self.conv1 = conv3x3(cin, cout)
        self.bn2 = nn.BatchNorm2d(cout, eps=1e-5)
        self.prelu = nn.PReLU(cout)
        self.conv2 = conv3x3(cout, cout, stride)
        self.bn3 = nn.BatchNorm2d(cout, eps=1e-5)
        self.shortcut = None
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride=stride, bias=False),
                                          nn.BatchNorm2d(cout, eps=1e-5))

    def forward(self, x):
        out = self.bn3(self.conv2(self.prelu(self.bn2(self.conv1(self.bn1(x))))))
        return out + (x if self.shortcut is None else self.shortcut(x))


class IResNet(nn.Module):
    """The iResNet backbone and ArcFace head: a 112x112 chip in, the 512-d representation out."""

    def __init__(self, stem, widths, blocks):
        super().__init__()
        self.stem = nn.Sequential(conv3x3(3, stem), nn.BatchNorm2d(stem, eps=1e-5), nn.PReLU(stem))
        stages, cin = [], stem
        for width, count in zip(widths, blocks):
            stages.append(nn.Sequential(*[IBasicBlock(cin if i == 0 else width, width, 2 if i == 0 else 1)
                                          for i in range(count)]))
            cin = width
        self.stages = nn.Sequential(*stages)
        self.bn2 = nn.BatchNorm2d(cin, eps=1e-5)
        self.dropout = nn.Dropout(p=0.0)
        self.fc = nn.Linear(cin * 7 * 7, EMBEDDING)
        self.features = nn.BatchNorm1d(EMBEDDING, eps=1e-5)
        self._init_like_insightface()

    def _init_like_insightface(self):
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.normal_(m.weight, 0, 0.1)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.constant_(m.weight, 1)
                nn.init.constant_(m.bias, 0)
        nn.init.constant_(self.features.weight, 1.0)
        self.features.weight.requires_grad = False

    def forward(self, x):
        x = self.bn2(self.stages(self.stem(x)))
        return self.features(self.fc(self.dropout(torch.flatten(x, 1))))


class GmArcTwoOutputs(nn.Module):
    """GM-Arc's fine-tuned form: `(logits, representation)`, the logits from the representation."""

    def __init__(self, backbone, classes):
        super().__init__()
        self.backbone = backbone
        self.classifier = nn.Sequential(nn.Dropout(), nn.Linear(EMBEDDING, classes))

    def forward(self, x):
        representation = self.backbone(x)
        return self.classifier(representation), representation


def build(depth, outputs, classes, seed):
    """The seeded random-weight network of `depth` with 1 or 2 outputs (not yet calibrated)."""
    torch.manual_seed(seed)
    backbone = IResNet(*SHAPES[depth])
    return backbone if outputs == 1 else GmArcTwoOutputs(backbone, classes)


def to_input(rgb):
    """A 112x112x3 uint8 RGB array as the network's input: NCHW, (x / 255 - 0.5) / 0.5."""
    x = torch.from_numpy(np.ascontiguousarray(rgb.transpose(2, 0, 1))).unsqueeze(0).float()
    return x.div(255).sub(0.5).div(0.5)


def similarity(src, dst):
    """The least-squares similarity transform (rotation, uniform scale, shift) taking src to dst, 2x3."""
    src_mean, dst_mean = src.mean(0), dst.mean(0)
    s, d = src - src_mean, dst - dst_mean
    u, sigma, vt = np.linalg.svd(d.T @ s / len(src))
    sign = np.diag([1.0, np.sign(np.linalg.det(u @ vt))])
    rotation = u @ sign @ vt
    scale = np.trace(np.diag(sigma) @ sign) / s.var(0).sum()
    shift = dst_mean - scale * rotation @ src_mean
    return np.hstack([scale * rotation, shift[:, None]])


def aligned_chip(photo, points):
    """The 112x112 RGB chip of `photo` with its 5 landmarks moved onto the ArcFace template."""
    forward = np.vstack([similarity(points, TEMPLATE), [0, 0, 1]])
    inverse = np.linalg.inv(forward)[:2].ravel()
    return np.asarray(photo.transform((CHIP, CHIP), Image.AFFINE, tuple(inverse), Image.BILINEAR))


def calibration_chips(faces, count):
    """`count` aligned chips of the photos in `faces`, every k-th row of its landmarks.csv."""
    with open(os.path.join(faces, "landmarks.csv"), newline="") as f:
        rows = list(csv.DictReader(f))
    step = max(1, len(rows) // count)
    chips = []
    for row in rows[::step][:count]:
        points = np.array([[float(row[f"{p}_x"]), float(row[f"{p}_y"])]
                           for p in ("re", "le", "n", "rm", "lm")])
        with Image.open(os.path.join(faces, row["image"])) as photo:
            chips.append(aligned_chip(photo.convert("RGB"), points))
    if len(chips) < 2:
        raise SystemExit(f"{faces}: fewer than 2 calibration photos")
    return chips


def calibrate(model, chips, batch):
    """Sets every BN layer's running statistics to their average over `chips`, then eval mode."""
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None
    model.train()
    with torch.no_grad():
        for start in range(0, len(chips), batch):
            group = chips[start:start + batch]
            if len(group) > 1:  # train-mode BN needs two values per channel
                model(torch.cat([to_input(c) for c in group]))
    for m in norms:
        m.momentum = 0.1
    model.eval()


def output_names(outputs):
    return ["embedding"] if outputs == 1 else ["logits", "embedding"]


def export(model, path, outputs):
    """Writes `model` as ONNX (opset 13, input `input` [1, 3, 112, 112], named outputs)."""
    dummy = torch.zeros(1, 3, CHIP, CHIP)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    torch.onnx.export(model, dummy, path, input_names=["input"], output_names=output_names(outputs),
                      opset_version=OPSET, do_constant_folding=True)
    onnx.checker.check_model(onnx.load(path))


def run_onnx_with_torch(graph, x):
    """Computes an ONNX graph node by node with torch.nn.functional (the ops iResNet exports to)."""
    values = {t.name: torch.from_numpy(numpy_helper.to_array(t).copy()) for t in graph.initializer}
    values[graph.input[0].name] = x
    for node in graph.node:
        args = [values[name] for name in node.input if name]
        attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
        values[node.output[0]] = run_node(node.op_type, args, attrs)
    return [values[o.name] for o in graph.output]


def run_node(op, args, attrs):
    """One ONNX node's result from its input tensors and attributes."""
    if op == "Conv":
        pads = attrs.get("pads", [0, 0, 0, 0])
        if pads[:2] != pads[2:]:
            raise SystemExit(f"asymmetric Conv pads {pads}")
        bias = args[2] if len(args) > 2 else None
        return F.conv2d(args[0], args[1], bias, stride=attrs.get("strides", [1, 1]), padding=pads[:2],
                        groups=attrs.get("group", 1))
    if op == "BatchNormalization":
        return F.batch_norm(args[0], args[3], args[4], args[1], args[2], False, 0.0,
                            attrs.get("epsilon", 1e-5))
    if op == "PRelu":
        slope = args[1]
        return torch.where(args[0] >= 0, args[0], args[0] * slope)
    if op == "Identity":  # torch's export shares equal initializers (BN ones and zeros) this way
        return args[0]
    if op == "Add":
        return args[0] + args[1]
    if op == "Flatten":
        return torch.flatten(args[0], attrs.get("axis", 1))
    if op == "Gemm":
        b = args[1].t() if attrs.get("transB", 0) else args[1]
        return attrs.get("alpha", 1.0) * args[0] @ b + attrs.get("beta", 1.0) * args[2]
    raise SystemExit(f"--fp32-check: no evaluator for ONNX op {op}")


def fp32_check(model, path, chips):
    """Compares the written ONNX with the torch module on chips and noise; exits if they differ."""
    graph = onnx.load(path).graph
    torch.manual_seed(1)
    inputs = [to_input(c) for c in chips[:4]] + [torch.randn(1, 3, CHIP, CHIP)]
    worst = 1.0
    with torch.no_grad():
        for x in inputs:
            want = model(x)
            want = [want] if isinstance(want, torch.Tensor) else list(want)
            for a, b in zip(want, run_onnx_with_torch(graph, x)):
                worst = min(worst, F.cosine_similarity(a.flatten(), b.flatten(), dim=0).item())
                scale = a.abs().max().item()
                if (a - b).abs().max().item() > 1e-4 * max(scale, 1.0):
                    raise SystemExit(f"--fp32-check: ONNX differs from torch by {(a - b).abs().max()}")
    print(f"fp32-check: {len(inputs)} inputs, outputs {output_names(len(graph.output))}, "
          f"min cosine ONNX vs torch {worst:.9f}")
    if worst < 0.99999:
        raise SystemExit("--fp32-check failed")


def write_reference(model, args, sha256):
    """Writes the torch outputs for one 112x112 crop of `--reference-photo` as a JSON fixture."""
    x0, y0 = args.reference_box
    with Image.open(args.reference_photo) as photo:
        chip = np.asarray(photo.convert("RGB").crop((x0, y0, x0 + CHIP, y0 + CHIP)))
    with torch.no_grad():
        out = model(to_input(chip))
    out = [out] if isinstance(out, torch.Tensor) else list(out)
    doc = {
        "generator": "models/tools/make_iresnet.py",
        "model": os.path.basename(args.out),
        "model_sha256": sha256,
        "photo": os.path.basename(args.reference_photo),
        "crop": {"x": x0, "y": y0, "width": CHIP, "height": CHIP},
        "input": "RGB, NCHW, (pixel / 255 - 0.5) / 0.5",
        "outputs": {name: [float(v) for v in t.flatten()]
                    for name, t in zip(output_names(args.outputs), out)},
    }
    with open(args.reference, "w") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out", help="ONNX file to write")
    ap.add_argument("--depth", choices=sorted(SHAPES), default="tiny")
    ap.add_argument("--outputs", type=int, choices=(1, 2), default=2)
    ap.add_argument("--classes", type=int, default=204, help="classifier width with --outputs 2")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--faces", default=os.path.join(os.path.dirname(__file__), "../../../shared/faces"))
    ap.add_argument("--calib-count", type=int, default=256)
    ap.add_argument("--calib-batch", type=int, default=32)
    ap.add_argument("--threads", type=int, default=1, help="torch threads (1: byte-identical output)")
    ap.add_argument("--fp32-check", action="store_true")
    ap.add_argument("--reference", help="JSON fixture to write: the torch outputs of one crop")
    ap.add_argument("--reference-photo")
    ap.add_argument("--reference-box", type=int, nargs=2, metavar=("X", "Y"),
                    help="top-left corner of the 112x112 crop")
    return ap.parse_args()


def main():
    args = parse_args()
    if args.reference and not (args.reference_photo and args.reference_box):
        raise SystemExit("--reference needs --reference-photo and --reference-box")
    torch.set_num_threads(args.threads)
    model = build(args.depth, args.outputs, args.classes, args.seed)
    chips = calibration_chips(args.faces, args.calib_count)
    calibrate(model, chips, args.calib_batch)
    export(model, args.out, args.outputs)
    with open(args.out, "rb") as f:
        sha256 = hashlib.sha256(f.read()).hexdigest()
    print(f"{args.out}: depth {args.depth}, {args.outputs} output(s), seed {args.seed}, "
          f"{len(chips)} calibration chips, {os.path.getsize(args.out)} bytes, sha256 {sha256}")
    print(f"torch {torch.__version__}, onnx {onnx.__version__}, numpy {np.__version__}")
    if args.fp32_check:
        fp32_check(model, args.out, chips)
    if args.reference:
        write_reference(model, args, sha256)


if __name__ == "__main__":
    main()
