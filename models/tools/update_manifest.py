#!/usr/bin/env python3
"""Rewrites sha256 (and, with --template, template points) of the manifest entries whose `file` is
one of FILES, leaving every other line of MANIFEST.toml untouched.

  update_manifest.py MANIFEST.toml [--template template.json] FILE...
"""
import argparse
import hashlib
import json
import os
import re
import sys
import tomllib


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("manifest")
    ap.add_argument("files", nargs="+")
    ap.add_argument("--template")
    a = ap.parse_args()
    d = os.path.dirname(os.path.abspath(a.manifest))
    text = open(a.manifest).read()
    tomllib.loads(text)  # must parse before we touch it
    pts = None
    if a.template:
        t = json.load(open(a.template))
        pts = "[" + ", ".join(f"[{p[0]:.3f}, {p[1]:.3f}]" for p in t["points"]) + "]"
    blocks = re.split(r"(?m)^(?=\[\[model\]\])", text)
    seen = set()
    for i, b in enumerate(blocks):
        m = re.search(r'(?m)^file\s*=\s*"([^"]+)"', b)
        if not m or m.group(1) not in a.files:
            continue
        f = m.group(1)
        h = hashlib.sha256(open(os.path.join(d, f), "rb").read()).hexdigest()
        b = re.sub(r'(?m)^sha256\s*=\s*"[0-9a-fA-F]*"', f'sha256 = "{h}"', b)
        if pts:
            b = re.sub(r"(points\s*=\s*)\[\[.*?\]\]", lambda mm: mm.group(1) + pts, b)
        blocks[i] = b
        seen.add(f)
        print(f"{f}: sha256 {h}")
    missing = set(a.files) - seen
    if missing:
        sys.exit(f"no manifest entry for {sorted(missing)}")
    out = "".join(blocks)
    tomllib.loads(out)
    open(a.manifest, "w").write(out)


if __name__ == "__main__":
    main()
