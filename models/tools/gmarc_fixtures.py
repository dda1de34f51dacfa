#!/usr/bin/env python3
"""Write small GM-Arc-shaped test files (fake ids, names and numbers; nothing real).

    gmarc_fixtures.py [OUT_DIR]        (default: tests/fixtures/gmarc)

Writes the forms GM-Arc and GMDB ship, as they ship them, and the neutral files
gmarc_convert.py makes from them:

* gmdb_syndromes.tsv             syndromes TSV, OMIM as floats (`900001.0`) and one empty
* gmdb_syndromes_bad_omim.tsv    the same with a non-integer OMIM on line 3
* gmdb_frequent_gallery.csv      split CSV `image_id, subject, label`
* gmdb_rare_gallery.csv          rare-set split CSV with `split`, image ids repeated per split
* gmarc_metadata.pkl             pickled metadata dict (image -> disorder, image -> genes, ...)
* gmarc_encodings.pkl            pandas pickle of the long encodings table
* gmarc_encodings.csv            the same table as a ';'-separated CSV with Python list text
* gmarc_metadata.jsonl, gmarc_encodings.jsonl   the neutral files (converted from the pickles)

The vectors have DIM values (GM-Arc's have 512).

Needs numpy and pandas (Debian: python3-numpy, python3-pandas). Fixed seed: the same files on
every run with the same library versions.
"""

import os
import pickle
import sys

import numpy as np
import pandas as pd

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gmarc_convert  # noqa: E402

SEED = 28
# GM-Arc's vectors have 512 values; the committed fixtures keep them short (the readers take
# any width) so the files stay small. The converter's test writes full-width ones.
DIM = 32
CLASSES = 4
MODELS = ("m0", "m1")
VARIANTS = ((0, 0), (1, 0), (0, 1), (1, 1))  # (flip, gray)
IMAGES = ("9001", "9002", "9003")

SYNDROMES_TSV = (
    "syndrome_id\tsyndrome_name\tOMIM\n"
    "1\tTest syndrome A\t900001.0\n"
    "2\tTest syndrome B\t\n"
    "3\tTest syndrome C\t900003\n"
)
BAD_OMIM_TSV = (
    "syndrome_id\tsyndrome_name\tOMIM\n"
    "1\tTest syndrome A\t900001.0\n"
    "2\tTest syndrome B\t900002.5\n"
)
FREQUENT_CSV = "image_id,subject,label\n9001,501,1\n9002,501,1\n9003,502,2\n"
RARE_CSV = (
    "image_id,subject,label,split\n"
    "9001,501,1,0\n"
    "9003,502,2,0\n"
    "9001,501,1,1\n"
    "9002,501,1,1\n"
    "9001,501,1,2\n"
)


def metadata():
    """A metadata dict shaped as GM-Arc's: four dicts keyed by internal ids (ints)."""
    return {
        "image_metadata": {
            9001: {"disorder_internal_id": 11, "patient_id": 501},
            9002: {"disorder_internal_id": 11, "patient_id": 501},
            9003: {"disorder_internal_id": 12, "patient_id": 502},
        },
        "image_gene_metadata": {9001: [71, 72], 9002: [71], 9003: []},
        "gene_metadata": {
            71: {"gene_name": "FAKE1", "gene_entrez_id": 990001.0},
            72: {"gene_name": "FAKE2", "gene_entrez_id": float("nan")},
        },
        "disorder_metadata": {
            11: {"disorder_name": "Test syndrome A", "omim_id": 900001.0},
            12: {"disorder_name": "Test syndrome B", "omim_id": None},
        },
    }


def encodings(seed=SEED, dim=DIM):
    """The long encodings table: one row per image x model x variant, float32 vectors."""
    rng = np.random.default_rng(seed)
    rows = []
    for image in IMAGES:
        for model in MODELS:
            for flip, gray in VARIANTS:
                rows.append({
                    "img_name": f"{image}_rot_aligned.jpg",
                    "model": model,
                    "flip": flip,
                    "gray": gray,
                    "class_conf": rng.standard_normal(CLASSES).astype(np.float32),
                    "representations": rng.standard_normal(dim).astype(np.float32),
                })
    return pd.DataFrame(rows)


def to_list_text(frame):
    """The table with its vectors as Python list text, as GM-Arc's CSV form has them."""
    out = frame.copy()
    for col in ("class_conf", "representations"):
        out[col] = [str([float(x) for x in v]) for v in frame[col]]
    return out


def write_text(path, text):
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)


def write_all(out_dir, dim=DIM):
    """Writes every fixture file into `out_dir`; returns the metadata dict and the table."""
    os.makedirs(out_dir, exist_ok=True)
    p = lambda name: os.path.join(out_dir, name)  # noqa: E731
    write_text(p("gmdb_syndromes.tsv"), SYNDROMES_TSV)
    write_text(p("gmdb_syndromes_bad_omim.tsv"), BAD_OMIM_TSV)
    write_text(p("gmdb_frequent_gallery.csv"), FREQUENT_CSV)
    write_text(p("gmdb_rare_gallery.csv"), RARE_CSV)
    meta, table = metadata(), encodings(dim=dim)
    with open(p("gmarc_metadata.pkl"), "wb") as f:
        pickle.dump(meta, f, protocol=4)
    table.to_pickle(p("gmarc_encodings.pkl"), protocol=4)
    to_list_text(table).to_csv(p("gmarc_encodings.csv"), sep=";", index=False)
    gmarc_convert.convert_metadata(p("gmarc_metadata.pkl"), p("gmarc_metadata.jsonl"))
    gmarc_convert.convert_encodings(p("gmarc_encodings.pkl"), p("gmarc_encodings.jsonl"))
    return meta, table


if __name__ == "__main__":
    write_all(sys.argv[1] if len(sys.argv) > 1 else "tests/fixtures/gmarc")
