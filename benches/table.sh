#!/usr/bin/env bash
# The x86 speed table of docs/performance.md, measured in one run: criterion benches (tract) then
# onnxruntime on the same models and inputs, one thread, and the ratios. Needs the models/tools venv
# (models/tools/build_embedder.sh makes it; or: python3 -m venv v && v/bin/pip install
# onnxruntime numpy pillow).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo bench --bench detect --bench embed --bench device --bench rank -- --noplot "$@"
py=models/tools/.work/venv/bin/python
[ -x "$py" ] || py=python3
"$py" models/tools/bench_table.py
