#!/usr/bin/env python3
"""Builds an ONNX graph of dlib's face recognition ResNet from the XML that dlib_net_to_xml writes.

dlib lists layers output-first; this walks them input-first and mirrors dlib's semantics:
  * con: OIHW filters then biases; padding/stride as written.
  * affine_con (dlib's inference form of batch norm: y = gamma*x + beta per channel) is folded into
    the convolution before it, which is exact up to float rounding.
  * tag N / skip N / add_prev N: residual connections. dlib's add_prev adds tensors of different
    shapes by zero-padding both to the larger shape (channels and the bottom/right of H, W); the
    downsampling blocks need that (e.g. 3x3 conv branch + 4x4 pooled shortcut), so Pad nodes are
    emitted where shapes differ.
  * avg_pool nr=0 (avg_pool_everything) -> GlobalAveragePool; fc_no_bias -> Flatten + MatMul (x @ W,
    W is num_inputs x num_outputs; there is no bias).
  * loss_metric adds nothing at inference: the output is the raw 128-d descriptor (dlib does not
    L2-normalise it).
The model input is the already-normalised tensor [1,3,150,150], RGB, (x - mean) / 256 with the mean
from the input layer (122.782, 117.001, 104.298).
"""
import argparse
import json
import re
import sys
import xml.etree.ElementTree as ET

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def floats(el):
    return np.array([float(t) for t in (el.text or "").split()], dtype=np.float64)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("xml")
    ap.add_argument("out")
    ap.add_argument("--info", help="write input normalisation facts as JSON here")
    a = ap.parse_args()

    root = ET.parse(a.xml).getroot()
    layers = list(root.findall("layer"))
    layers.sort(key=lambda l: int(l.get("idx")), reverse=True)  # input first

    nodes, inits = [], []
    counter = [0]

    def name(prefix):
        counter[0] += 1
        return f"{prefix}_{counter[0]}"

    def const(arr, prefix, dtype=np.float32):
        n = name(prefix)
        inits.append(numpy_helper.from_array(np.asarray(arr, dtype=dtype), n))
        return n

    cur = "input"
    shape = None  # (C, H, W)
    tags = {}
    last_conv = None  # (node, W, B) when `cur` is the raw output of a conv
    info = {}

    def pad_to(t, s, target):
        if tuple(s) == tuple(target):
            return t
        pads = [0, 0, 0, 0, 0] + [target[i] - s[i] for i in range(3)]
        out = name("pad")
        nodes.append(helper.make_node("Pad", [t, const(pads, "pads", np.int64)], [out], mode="constant"))
        return out

    conv_nodes = []
    for layer in layers:
        typ = layer.get("type")
        if typ == "input":
            el = layer[0]
            if el.tag != "input_rgb_image_sized":
                sys.exit(f"unexpected input layer {el.tag}")
            info["mean_rgb"] = [float(el.get("r")), float(el.get("g")), float(el.get("b"))]
            info["size"] = [int(el.get("nr")), int(el.get("nc"))]
            shape = (3, int(el.get("nr")), int(el.get("nc")))
            continue
        if typ == "tag":
            tags[layer.get("id")] = (cur, shape)
            continue
        if typ == "skip":
            cur, shape = tags[layer.get("id")]
            last_conv = None
            continue
        if typ == "loss":
            continue
        el = layer[0]
        t = el.tag
        if t == "con":
            nf, nr, nc = int(el.get("num_filters")), int(el.get("nr")), int(el.get("nc"))
            sy, sx = int(el.get("stride_y")), int(el.get("stride_x"))
            py, px = int(el.get("padding_y")), int(el.get("padding_x"))
            p = floats(el)
            k = shape[0]
            nw = nf * k * nr * nc
            has_bias = el.get("use_bias", "true") == "true"
            if p.size != nw + (nf if has_bias else 0):
                sys.exit(f"con layer {layer.get('idx')}: {p.size} params, expected {nw}+{nf}")
            w = p[:nw].reshape(nf, k, nr, nc)
            b = p[nw:] if has_bias else np.zeros(nf)
            out = name("conv")
            node = helper.make_node("Conv", [], [out], kernel_shape=[nr, nc], strides=[sy, sx],
                                    pads=[py, px, py, px])
            nodes.append(node)
            conv_nodes.append((node, cur, w, b))
            last_conv = len(conv_nodes) - 1
            cur = out
            shape = (nf, (shape[1] + 2 * py - nr) // sy + 1, (shape[2] + 2 * px - nc) // sx + 1)
        elif t == "affine_con":
            if el.get("disabled") == "true":
                continue
            p = floats(el)
            c = shape[0]
            if p.size != 2 * c:
                sys.exit(f"affine layer {layer.get('idx')}: {p.size} params for {c} channels")
            gamma, beta = p[:c], p[c:]
            if last_conv is None:
                sys.exit(f"affine layer {layer.get('idx')} does not follow a convolution")
            node, inp, w, b = conv_nodes[last_conv]
            conv_nodes[last_conv] = (node, inp, w * gamma[:, None, None, None], b * gamma + beta)
            last_conv = None
        elif t == "relu":
            out = name("relu")
            nodes.append(helper.make_node("Relu", [cur], [out]))
            cur, last_conv = out, None
        elif t in ("max_pool", "avg_pool"):
            nr, nc = int(el.get("nr")), int(el.get("nc"))
            sy, sx = int(el.get("stride_y")), int(el.get("stride_x"))
            py, px = int(el.get("padding_y")), int(el.get("padding_x"))
            out = name(t)
            if nr == 0 and nc == 0:
                if t != "avg_pool":
                    sys.exit("global max pool not supported")
                nodes.append(helper.make_node("GlobalAveragePool", [cur], [out]))
                shape = (shape[0], 1, 1)
            else:
                if t == "avg_pool" and (py or px):
                    sys.exit("padded avg_pool not supported (dlib excludes padding from the mean)")
                op = "MaxPool" if t == "max_pool" else "AveragePool"
                nodes.append(helper.make_node(op, [cur], [out], kernel_shape=[nr, nc],
                                              strides=[sy, sx], pads=[py, px, py, px]))
                shape = (shape[0], (shape[1] + 2 * py - nr) // sy + 1, (shape[2] + 2 * px - nc) // sx + 1)
            cur, last_conv = out, None
        elif t == "add_prev":
            other, oshape = tags[el.get("tag")]
            target = tuple(max(a_, b_) for a_, b_ in zip(shape, oshape))
            x = pad_to(cur, shape, target)
            y = pad_to(other, oshape, target)
            out = name("add")
            nodes.append(helper.make_node("Add", [x, y], [out]))
            cur, shape, last_conv = out, target, None
        elif t == "fc_no_bias":
            n_out = int(el.get("num_outputs"))
            p = floats(el)
            n_in = shape[0] * shape[1] * shape[2]
            if p.size != n_in * n_out:
                sys.exit(f"fc layer: {p.size} params, expected {n_in}x{n_out}")
            flat = name("flatten")
            nodes.append(helper.make_node("Flatten", [cur], [flat], axis=1))
            nodes.append(helper.make_node("MatMul", [flat, const(p.reshape(n_in, n_out), "fc_w")], ["embedding"]))
            cur, shape, last_conv = "embedding", (n_out,), None
        else:
            sys.exit(f"layer type {t} is not supported")

    for node, inp, w, b in conv_nodes:
        node.input.extend([inp, const(w, "conv_w"), const(b, "conv_b")])

    if cur != "embedding":
        sys.exit("network did not end in fc_no_bias")
    h, w_ = info["size"]
    graph = helper.make_graph(
        nodes, "dlib_face_recognition_resnet_model_v1",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, h, w_])],
        [helper.make_tensor_value_info("embedding", TensorProto.FLOAT, [1, shape[0]])],
        initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)],
                              producer_name="gestaltcam dlib_xml_to_onnx")
    model.ir_version = 8
    model.doc_string = ("dlib face recognition ResNet v1 (dlib_face_recognition_resnet_model_v1.dat, "
                        "face_recognition_models 0.3.0, CC0). Input: RGB, (x - mean) / 256, "
                        f"mean {info['mean_rgb']}; output: 128-d descriptor, not normalised.")
    onnx.checker.check_model(model)
    onnx.save(model, a.out)
    if a.info:
        with open(a.info, "w") as f:
            json.dump(info, f, indent=1)
    print(f"wrote {a.out}: {len(nodes)} nodes, {len(conv_nodes)} convolutions, mean {info['mean_rgb']}")


if __name__ == "__main__":
    main()
