#!/usr/bin/env python3
"""Tests of gmarc_convert.py: GM-Arc's pickle and CSV forms -> neutral files -> the same values.

    /usr/bin/python3 models/tools/test_gmarc_convert.py

Needs numpy and pandas (the writer makes a real pandas pickle, as clinics get).
"""

import json
import os
import pickle
import tempfile
import unittest

import numpy as np

import gmarc_convert
import gmarc_fixtures

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURES = os.path.join(HERE, "..", "..", "tests", "fixtures", "gmarc")


def read_jsonl(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


class RoundTrip(unittest.TestCase):
    """Full-width (512) files written by the fixture writer into a temporary folder."""

    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.dir = self.tmp.name
        self.meta, self.table = gmarc_fixtures.write_all(self.dir, dim=512)

    def tearDown(self):
        self.tmp.cleanup()

    def path(self, name):
        return os.path.join(self.dir, name)

    def test_encodings_pickle_round_trip(self):
        rows = read_jsonl(self.path("gmarc_encodings.jsonl"))
        self.assertEqual(len(rows), len(self.table))
        for row, (_, src) in zip(rows, self.table.iterrows()):
            self.assertEqual(row["img_name"], src["img_name"])
            self.assertEqual(row["image_id"], src["img_name"].split("_")[0])
            self.assertEqual(row["model"], src["model"])
            self.assertEqual((row["flip"], row["gray"]), (src["flip"], src["gray"]))
            self.assertEqual(len(row["representation"]), 512)
            np.testing.assert_array_equal(
                np.asarray(row["representation"], dtype=np.float32), src["representations"])
            np.testing.assert_array_equal(
                np.asarray(row["class_conf"], dtype=np.float32), src["class_conf"])

    def test_csv_form_gives_the_same_neutral_file(self):
        out = self.path("from_csv.jsonl")
        gmarc_convert.convert_encodings(self.path("gmarc_encodings.csv"), out)
        self.assertEqual(read_jsonl(out), read_jsonl(self.path("gmarc_encodings.jsonl")))

    def test_metadata_round_trip(self):
        records = read_jsonl(self.path("gmarc_metadata.jsonl"))
        by = {(r["kind"], r["id"]): r for r in records}
        self.assertEqual(len(records), 2 + 2 + 3)
        self.assertEqual(by[("disorder", "11")]["omim"], 900001)
        self.assertIsNone(by[("disorder", "12")]["omim"])
        self.assertEqual(by[("gene", "71")], {"kind": "gene", "id": "71", "name": "FAKE1",
                                              "entrez_id": 990001})
        self.assertIsNone(by[("gene", "72")]["entrez_id"])
        for image_id, info in self.meta["image_metadata"].items():
            image = by[("image", str(image_id))]
            self.assertEqual(image["disorder_id"], str(info["disorder_internal_id"]))
            self.assertEqual(image["patient_id"], str(info["patient_id"]))
            self.assertEqual(image["gene_ids"],
                             [str(g) for g in self.meta["image_gene_metadata"][image_id]])

    def test_non_integer_omim_is_refused(self):
        meta = gmarc_fixtures.metadata()
        meta["disorder_metadata"][12]["omim_id"] = 900002.5
        with open(self.path("bad.pkl"), "wb") as f:
            pickle.dump(meta, f)
        with self.assertRaisesRegex(gmarc_convert.ConvertError, "disorder 12: omim_id"):
            gmarc_convert.convert_metadata(self.path("bad.pkl"), self.path("bad.jsonl"))

    def test_bad_flag_is_refused(self):
        table = self.table.copy()
        table.loc[0, "flip"] = 2
        table.to_pickle(self.path("bad.pkl"))
        with self.assertRaisesRegex(gmarc_convert.ConvertError, "row 0: flip"):
            gmarc_convert.convert_encodings(self.path("bad.pkl"), self.path("bad.jsonl"))


class CommittedFixtures(unittest.TestCase):
    """The committed neutral files are what the converter makes of the committed pickles."""

    def test_neutral_files_are_current(self):
        with tempfile.TemporaryDirectory() as tmp:
            for kind in ("metadata", "encodings"):
                out = os.path.join(tmp, f"{kind}.jsonl")
                src = os.path.join(FIXTURES, f"gmarc_{kind}.pkl")
                getattr(gmarc_convert, f"convert_{kind}")(src, out)
                with open(out, encoding="utf-8") as a, \
                        open(os.path.join(FIXTURES, f"gmarc_{kind}.jsonl"), encoding="utf-8") as b:
                    self.assertEqual(a.read(), b.read(), kind)


if __name__ == "__main__":
    unittest.main()
