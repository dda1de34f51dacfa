#!/usr/bin/env python3
"""Convert GestaltMatcher-Arc's (GM-Arc's) data files into the neutral files gestaltcam reads.

GM-Arc ships its image metadata and its gallery encodings as Python pickles, which Rust should
not parse. This script turns them into JSON-lines files documented in docs/gm-arc.md:

    gmarc_convert.py metadata  METADATA.pkl           OUT.metadata.jsonl
    gmarc_convert.py encodings ENCODINGS.pkl|.csv     OUT.encodings.jsonl

* metadata: a pickled dict holding four dicts, recognised by their content (their key names
  vary between GM-Arc releases): per image {disorder_internal_id, patient_id}, per image a list
  of gene_internal_id, per gene {gene_name, gene_entrez_id}, per disorder {disorder_name,
  omim_id}. Needs only the standard library.
* encodings: GM-Arc's long table, one row per image x model x test-time variant, with columns
  img_name, model, flip, gray, class_conf, representations; either a pandas pickle (needs
  pandas, e.g. Debian's python3-pandas) or a ';'-separated CSV whose list cells are Python
  list text (standard library only).

Numbers are written so that a float32 value reads back exactly.
"""

import csv
import json
import math
import pickle
import re
import sys

IMAGE_KEYS = ("disorder_internal_id", "patient_id")
GENE_KEYS = ("gene_name", "gene_entrez_id")
DISORDER_KEYS = ("disorder_name", "omim_id")
ENCODING_COLUMNS = ("img_name", "model", "flip", "gray", "class_conf", "representations")


class ConvertError(Exception):
    """A GM-Arc file that cannot be converted; the message says which and why."""


def text_id(value):
    """An id as text: integral floats (as pandas writes ids) lose their `.0`."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip()


def optional_int(value, what):
    """An integer that may be missing (None, NaN, empty) or written as a float like 122470.0."""
    if value is None:
        return None
    text = str(value).strip()
    if text == "" or text.lower() in ("nan", "none", "null"):
        return None
    try:
        number = float(value if not isinstance(value, str) else text)
    except (TypeError, ValueError) as e:
        raise ConvertError(f"{what} `{text}` is not a number") from e
    if math.isnan(number):
        return None
    if not number.is_integer():
        raise ConvertError(f"{what} `{text}` is not an integer")
    return int(number)


def classify(table):
    """Which of GM-Arc's four metadata dicts `table` is, from its first entry."""
    if not isinstance(table, dict) or not table:
        return None
    first = next(iter(table.values()))
    if isinstance(first, (list, tuple, set)):
        return "image_genes"
    if not isinstance(first, dict):
        return None
    for kind, keys in (("images", IMAGE_KEYS), ("genes", GENE_KEYS), ("disorders", DISORDER_KEYS)):
        if all(k in first for k in keys):
            return kind
    return None


def find_tables(metadata):
    """GM-Arc's four metadata dicts by kind; the image-genes dict may be missing."""
    tables = {}
    for value in metadata.values():
        kind = classify(value)
        if kind is not None:
            if kind in tables:
                raise ConvertError(f"two {kind} dicts in the metadata")
            tables[kind] = value
    for kind in ("images", "genes", "disorders"):
        if kind not in tables:
            raise ConvertError(f"the metadata holds no {kind} dict")
    tables.setdefault("image_genes", {})
    return tables


def metadata_records(metadata):
    """The neutral metadata records: disorders, genes, then images, each sorted by id."""
    t = find_tables(metadata)
    records = []
    for key, d in sorted(t["disorders"].items(), key=lambda kv: text_id(kv[0])):
        omim = optional_int(d.get("omim_id"), f"disorder {text_id(key)}: omim_id")
        records.append({"kind": "disorder", "id": text_id(key),
                        "name": str(d["disorder_name"]).strip(), "omim": omim})
    for key, g in sorted(t["genes"].items(), key=lambda kv: text_id(kv[0])):
        entrez = optional_int(g.get("gene_entrez_id"), f"gene {text_id(key)}: gene_entrez_id")
        records.append({"kind": "gene", "id": text_id(key),
                        "name": str(g["gene_name"]).strip(), "entrez_id": entrez})
    genes_by_image = {text_id(k): v for k, v in t["image_genes"].items()}
    for key, im in sorted(t["images"].items(), key=lambda kv: text_id(kv[0])):
        genes = im.get("gene_internal_id", genes_by_image.get(text_id(key), []))
        if not isinstance(genes, (list, tuple, set)):
            genes = [genes]
        records.append({"kind": "image", "id": text_id(key),
                        "disorder_id": text_id(im["disorder_internal_id"]),
                        "patient_id": text_id(im["patient_id"]),
                        "gene_ids": [text_id(g) for g in genes]})
    return records


def float_list(value, what):
    """A list of floats from a list, a numpy array or Python/numpy list text."""
    if isinstance(value, str):
        body = value.strip()
        if not (body.startswith("[") and body.endswith("]")):
            raise ConvertError(f"{what}: `{body[:40]}` is not list text")
        parts = [p for p in re.split(r"[,\s]+", body[1:-1]) if p]
        try:
            return [float(p) for p in parts]
        except ValueError as e:
            raise ConvertError(f"{what}: {e}") from e
    if hasattr(value, "tolist"):
        value = value.tolist()
    return [float(x) for x in value]


def flag(value, what):
    """A 0/1 flag from an int, a bool or text."""
    n = optional_int(value, what)
    if n not in (0, 1):
        raise ConvertError(f"{what} `{value}` is not 0 or 1")
    return n


def encoding_record(row, where):
    """One neutral encodings record from one GM-Arc row (a dict of its columns)."""
    missing = [c for c in ENCODING_COLUMNS if c not in row and c != "class_conf"]
    if missing:
        raise ConvertError(f"{where}: no column {', '.join(missing)}")
    img_name = str(row["img_name"]).strip()
    return {
        "image_id": img_name.split("_")[0],
        "img_name": img_name,
        "model": str(row["model"]).strip(),
        "flip": flag(row["flip"], f"{where}: flip"),
        "gray": flag(row["gray"], f"{where}: gray"),
        "class_conf": float_list(row.get("class_conf", []), f"{where}: class_conf"),
        "representation": float_list(row["representations"], f"{where}: representations"),
    }


def read_encoding_rows(path):
    """GM-Arc's encodings rows as dicts, from a pandas pickle or a ';'-separated CSV."""
    if path.endswith(".csv"):
        with open(path, newline="", encoding="utf-8") as f:
            return [(f"{path}, line {i + 2}", row)
                    for i, row in enumerate(csv.DictReader(f, delimiter=";"))]
    import pandas  # only the pickle form needs pandas

    frame = pandas.read_pickle(path)
    return [(f"{path}, row {i}", row) for i, row in enumerate(frame.to_dict("records"))]


def write_jsonl(records, out):
    """Writes one compact JSON object per line."""
    with open(out, "w", encoding="utf-8") as f:
        for r in records:
            f.write(json.dumps(r, separators=(",", ":"), allow_nan=False) + "\n")


def convert_metadata(src, out):
    """GM-Arc's metadata pickle -> neutral metadata JSON lines."""
    with open(src, "rb") as f:
        metadata = pickle.load(f)
    if not isinstance(metadata, dict):
        raise ConvertError(f"{src}: expected a pickled dict, found {type(metadata).__name__}")
    write_jsonl(metadata_records(metadata), out)


def convert_encodings(src, out):
    """GM-Arc's encodings pickle/CSV -> neutral encodings JSON lines."""
    write_jsonl([encoding_record(row, where) for where, row in read_encoding_rows(src)], out)


def main(argv):
    if len(argv) != 4 or argv[1] not in ("metadata", "encodings"):
        print(__doc__, file=sys.stderr)
        return 2
    try:
        (convert_metadata if argv[1] == "metadata" else convert_encodings)(argv[2], argv[3])
    except (ConvertError, KeyError, OSError, pickle.UnpicklingError) as e:
        print(f"gmarc_convert: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
