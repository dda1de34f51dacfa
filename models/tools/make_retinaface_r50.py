#!/usr/bin/python3
"""A random-weight RetinaFace with a ResNet-50 backbone (GM-Arc's detector's shape), for tests.

GestaltMatcher-Arc's cropper is RetinaFace-ResNet50 (biubug6/Pytorch_Retinaface `Resnet50` config:
min_sizes [[16, 32], [64, 128], [256, 512]], steps [8, 16, 32], variances [0.1, 0.2], FPN on
layer2/3/4, SSH context modules, one class/box/landmark 1x1 head per level with 2 anchors per
cell, outputs (loc [1, A, 4], conf [1, A, 2] softmaxed, landmarks [1, A, 10]), mean (104, 117,
123) on BGR pixels). A clinic supplies the real weights as an ONNX file; this tool builds the
same graph with seeded random weights so the device's detector path (load, letterbox, anchors,
decode) is tested on that shape in CI:

  make_retinaface_r50.py OUT.onnx [--side 640] [--width 0.25] [--seed 0]

Written here from the architecture's description. The backbone is ResNet-50's bottleneck stages
([3, 4, 6, 3] blocks, 1x1 -> 3x3 (stride) -> 1x1 with expansion 4, projection shortcut on the
first block of a stage, a 7x7 stride-2 stem and 3x3 stride-2 max pool). `--width` scales every
channel count (stem, stage widths 64/128/256/512, FPN/SSH 256) so the committed file stays a few
MB: at 0.25 the layer widths are a quarter of the real ones; strides, heads, anchors, outputs
and input size are the real ones. The input is fixed to 1x3xSIDExSIDE (the device letterboxes a
photo into it; GM-Arc resizes to 640 on the long side). Weights: PyTorch's default
initialisation under torch.manual_seed(seed); BN in eval mode with its initial statistics.
ONNX opset 13, one torch thread, so the same arguments write the same bytes.
"""
import argparse

import torch
import torch.nn as nn
import torch.nn.functional as F


def conv_bn(cin, cout, k, stride=1, relu=True):
    layers = [nn.Conv2d(cin, cout, k, stride, k // 2, bias=False), nn.BatchNorm2d(cout)]
    if relu:
        layers.append(nn.ReLU())
    return nn.Sequential(*layers)


class Bottleneck(nn.Module):
    def __init__(self, cin, width, stride):
        super().__init__()
        cout = width * 4
        self.body = nn.Sequential(
            conv_bn(cin, width, 1), conv_bn(width, width, 3, stride), conv_bn(width, cout, 1, relu=False))
        self.short = None
        if stride != 1 or cin != cout:
            self.short = conv_bn(cin, cout, 1, stride, relu=False)

    def forward(self, x):
        s = x if self.short is None else self.short(x)
        return F.relu(self.body(x) + s)


def stage(cin, width, blocks, stride):
    layers = [Bottleneck(cin, width, stride)]
    layers += [Bottleneck(width * 4, width, 1) for _ in range(blocks - 1)]
    return nn.Sequential(*layers)


class ResNet50(nn.Module):
    def __init__(self, w):
        super().__init__()
        c = [int(64 * w), int(128 * w), int(256 * w), int(512 * w)]
        self.stem = nn.Sequential(conv_bn(3, c[0], 7, 2), nn.MaxPool2d(3, 2, 1))
        self.layer1 = stage(c[0], c[0], 3, 1)
        self.layer2 = stage(c[0] * 4, c[1], 4, 2)
        self.layer3 = stage(c[1] * 4, c[2], 6, 2)
        self.layer4 = stage(c[2] * 4, c[3], 3, 2)
        self.out_channels = [c[1] * 4, c[2] * 4, c[3] * 4]

    def forward(self, x):
        x = self.layer1(self.stem(x))
        c3 = self.layer2(x)
        c4 = self.layer3(c3)
        c5 = self.layer4(c4)
        return c3, c4, c5


class SSH(nn.Module):
    """RetinaFace's context module: 3x3, 5x5 (two 3x3) and 7x7 (three 3x3) branches."""

    def __init__(self, cin, cout):
        super().__init__()
        self.c3 = conv_bn(cin, cout // 2, 3, relu=False)
        self.c5_1 = conv_bn(cin, cout // 4, 3)
        self.c5_2 = conv_bn(cout // 4, cout // 4, 3, relu=False)
        self.c7_2 = conv_bn(cout // 4, cout // 4, 3)
        self.c7_3 = conv_bn(cout // 4, cout // 4, 3, relu=False)

    def forward(self, x):
        a = self.c3(x)
        b1 = self.c5_1(x)
        b = self.c5_2(b1)
        c = self.c7_3(self.c7_2(b1))
        return F.relu(torch.cat([a, b, c], 1))


class RetinaFace(nn.Module):
    def __init__(self, w):
        super().__init__()
        self.body = ResNet50(w)
        out = int(256 * w)
        self.lateral = nn.ModuleList([conv_bn(c, out, 1) for c in self.body.out_channels])
        self.merge = nn.ModuleList([conv_bn(out, out, 3) for _ in range(2)])
        self.ssh = nn.ModuleList([SSH(out, out) for _ in range(3)])
        self.cls = nn.ModuleList([nn.Conv2d(out, 2 * 2, 1) for _ in range(3)])
        self.box = nn.ModuleList([nn.Conv2d(out, 2 * 4, 1) for _ in range(3)])
        self.ldm = nn.ModuleList([nn.Conv2d(out, 2 * 10, 1) for _ in range(3)])

    def forward(self, x):
        feats = [lat(f) for lat, f in zip(self.lateral, self.body(x))]
        p5 = feats[2]
        p4 = self.merge[1](feats[1] + F.interpolate(p5, size=feats[1].shape[2:], mode="nearest"))
        p3 = self.merge[0](feats[0] + F.interpolate(p4, size=feats[0].shape[2:], mode="nearest"))
        levels = [s(p) for s, p in zip(self.ssh, [p3, p4, p5])]

        def head(convs, k):
            return torch.cat(
                [c(f).permute(0, 2, 3, 1).reshape(1, -1, k) for c, f in zip(convs, levels)], 1)

        return head(self.box, 4), F.softmax(head(self.cls, 2), dim=-1), head(self.ldm, 10)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--side", type=int, default=640)
    ap.add_argument("--width", type=float, default=0.25)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(args.seed)
    net = RetinaFace(args.width).eval()
    x = torch.zeros(1, 3, args.side, args.side)
    torch.onnx.export(net, x, args.out, opset_version=13, input_names=["input"],
                      output_names=["loc", "conf", "landmarks"], do_constant_folding=True)


if __name__ == "__main__":
    main()
