#!/usr/bin/env bash
# Regenerates the embedder models, their golden fixtures and their manifest hashes:
#   dlib_face_recognition_resnet_model_v1.dat (PyPI face_recognition_models 0.3.0, CC0)
#   -> XML weights (dlib_net_to_xml.cpp, Debian libdlib-dev)
#   -> models/dlib_face_resnet_v1_f32.onnx (dlib_xml_to_onnx.py)
#   -> models/dlib_face_resnet_v1_int8.onnx (quantize_embedder.py, QDQ, calibrated on dlib chips)
#   -> models/dlib_face_resnet_v1_qlinear.onnx (the same, QOperator form: QLinearConv/QLinearMatMul,
#      per-tensor weights, Relu folded; tract runs it with int8 kernels)
#   -> verify against dlib-bin (verify_embedder.py), rewrite sha256 + template in MANIFEST.toml.
# Usage: models/tools/build_embedder.sh   (FACES_DIR=/path/to/shared/faces to override)
# Needs: python3 (3.11), g++, libdlib-dev (installed with apt-get when missing and running as root).
# Intermediate files (venv, XML, chips of the evaluation photos) stay in models/tools/.work, which
# git ignores: chips derived from the evaluation photos must never enter the repository.
set -euo pipefail

TOOLS="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
MODELS="$(dirname "$TOOLS")"
REPO="$(dirname "$MODELS")"
WORK="$TOOLS/.work"
if [ -z "${FACES_DIR:-}" ]; then
    # The shared evaluation photos sit next to the main checkout (and two levels up from a worktree).
    for d in "$REPO/../shared/faces" "$REPO/../../shared/faces"; do
        if [ -f "$d/landmarks.csv" ]; then FACES_DIR="$(cd "$d" && pwd)"; break; fi
    done
fi
if [ ! -f "${FACES_DIR:-}/landmarks.csv" ]; then
    echo "no evaluation photos (landmarks.csv) found; set FACES_DIR" >&2
    exit 1
fi
VENV="$WORK/venv"
PY="$VENV/bin/python"
mkdir -p "$WORK"

if [ ! -f /usr/include/dlib/dnn.h ] || ! command -v g++ >/dev/null; then
    if [ "$(id -u)" = 0 ]; then
        apt-get install -y -q libdlib-dev g++
    else
        echo "need libdlib-dev and g++: sudo apt-get install libdlib-dev g++" >&2
        exit 1
    fi
fi

if [ ! -x "$PY" ]; then
    python3 -m venv "$VENV"
fi
"$PY" -m pip install -q -r "$TOOLS/requirements-embedder.txt"

DAT="$("$PY" -c 'import face_recognition_models as f; print(f.face_recognition_model_location())')"
echo "== source: $DAT"
sha256sum "$DAT"

echo "== dlib net -> XML"
g++ -O1 -std=c++14 "$TOOLS/dlib_net_to_xml.cpp" -o "$WORK/dlib_net_to_xml" -ldlib -lpthread
"$WORK/dlib_net_to_xml" "$DAT" "$WORK/net.xml"

echo "== XML -> ONNX (f32)"
"$PY" "$TOOLS/dlib_xml_to_onnx.py" "$WORK/net.xml" "$MODELS/dlib_face_resnet_v1_f32.onnx" --info "$WORK/input_info.json"

echo "== golden fixtures (dlib chips + descriptors of the committed licence-clean photos)"
"$PY" "$TOOLS/dlib_reference.py" fixtures "$REPO/tests/fixtures/photos" "$REPO/tests/fixtures/embed" \
    astronaut.png biden.jpg obama.jpg obama2.jpg obama3.jpg

echo "== dlib chips of $FACES_DIR (calibration, test, template) -> $WORK"
rm -rf "$WORK/chips"
"$PY" "$TOOLS/dlib_reference.py" lfw "$FACES_DIR" "$WORK"

echo "== quantize (int8 QDQ)"
"$PY" "$TOOLS/quantize_embedder.py" "$MODELS/dlib_face_resnet_v1_f32.onnx" \
    "$MODELS/dlib_face_resnet_v1_int8.onnx" "$WORK/chips/calib" --method percentile --percentile 99.999 \
    --manifest "$MODELS/MANIFEST.toml" --id dlib-resnet-v1-f32 --ops all

echo "== quantize (int8 QOperator: Conv, MatMul, Relu; per-tensor weights)"
# Per-tensor: per-channel weights cost tract 2x the instructions on the A76 profile (233.7 M vs
# 114.6 M per embedding; models/README.md) for no accuracy it needs (cosine to f32 >= 0.999 both).
"$PY" "$TOOLS/quantize_embedder.py" "$MODELS/dlib_face_resnet_v1_f32.onnx" \
    "$MODELS/dlib_face_resnet_v1_qlinear.onnx" "$WORK/chips/calib" --method percentile --percentile 99.999 \
    --format qoperator --ops Conv MatMul Relu --per-tensor --manifest "$MODELS/MANIFEST.toml" --id dlib-resnet-v1-f32

echo "== verify with onnxruntime"
"$PY" "$TOOLS/verify_embedder.py" "$MODELS/dlib_face_resnet_v1_f32.onnx" \
    --int8 "$MODELS/dlib_face_resnet_v1_int8.onnx" --fixtures "$REPO/tests/fixtures/embed" \
    --lfw "$WORK" --json "$WORK/verify.json"

echo "== manifest"
"$PY" "$TOOLS/update_manifest.py" "$MODELS/MANIFEST.toml" --template "$WORK/template.json" \
    dlib_face_resnet_v1_int8.onnx dlib_face_resnet_v1_qlinear.onnx dlib_face_resnet_v1_f32.onnx
echo "done: check with  cargo test --test it embed_golden::  (tract; onnxruntime's own int8 check above"
echo "      reads low on a CPU without VNNI: its u8s8 kernels saturate there, tract's do not)"
