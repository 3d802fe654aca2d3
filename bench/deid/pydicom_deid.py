#!/usr/bin/python3
"""A straightforward PS3.15 Annex E Basic Profile de-identifier with pydicom,
used as the pydicom baseline of the Ethos benchmark.

It applies Table E.1-1 (read from the standard's JSON) to every element,
recursing into sequences, removes private elements, overlays and curves,
replaces UIDs with keyed 2.25 UIDs (HMAC-SHA-256) and writes each file
under OUT_DIR with the same relative path. Two worker processes by default.

Usage: pydicom_deid.py TABLE_JSON IN_DIR OUT_DIR [WORKERS]
"""
import hashlib
import hmac
import json
import multiprocessing
import os
import sys

import pydicom
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

KEY = b"benchmark key, not a secret 0123456789"
ACTIONS = {}
DUMMY = {"DA": "19000101", "TM": "000000", "DT": "19000101000000", "PN": "ANONYMOUS",
         "AS": "000Y", "IS": "0", "DS": "0", "CS": "ANONYMIZED", "SH": "ANONYMIZED",
         "LO": "ANONYMIZED", "ST": "ANONYMIZED", "LT": "ANONYMIZED", "UT": "ANONYMIZED",
         "AE": "ANONYMIZED", "UC": "ANONYMIZED"}


def load_table(path):
    for row in json.load(open(path)):
        tid = row["id"].lower()
        if len(tid) == 8 and "x" not in tid:
            code = row["basicProfile"]
            # Compound codes: keep the object conformant (last choice).
            if "/" in code:
                code = code.split("/")[-1].rstrip("*")
            ACTIONS[int(tid, 16)] = code


def new_uid(uid):
    d = hmac.new(KEY, str(uid).encode(), hashlib.sha256).digest()[:16]
    return "2.25.%d" % int.from_bytes(d, "big")


def clean(ds):
    for elem in list(ds):
        tag = int(elem.tag)
        group = tag >> 16
        if group & 1 or 0x5000 <= group <= 0x50FF or (0x6000 <= group <= 0x60FF and (tag & 0xFFFF) in (0x3000, 0x4000)):
            del ds[elem.tag]
            continue
        code = ACTIONS.get(tag)
        if code is None:
            if elem.VR == "SQ":
                for item in elem.value:
                    clean(item)
            elif elem.VR == "UI" and tag not in (0x00080016, 0x00020002, 0x00020010, 0x00081150):
                pass
            continue
        if code == "X":
            del ds[elem.tag]
        elif code == "Z":
            if elem.VR == "SQ":
                elem.value = Sequence()
            else:
                elem.value = ""
        elif code == "D":
            if elem.VR == "SQ":
                for item in elem.value:
                    clean(item)
            elif elem.VR == "UI":
                elem.value = new_uid(elem.value)
            else:
                elem.value = DUMMY.get(elem.VR, "") if elem.VR in DUMMY else elem.value
        elif code == "U":
            if elem.VR == "SQ":
                for item in elem.value:
                    clean(item)
            elif elem.value:
                if elem.VM > 1:
                    elem.value = [new_uid(u) for u in elem.value]
                else:
                    elem.value = new_uid(elem.value)
        elif code in ("K", "C") and elem.VR == "SQ":
            for item in elem.value:
                clean(item)


def one(args):
    src, dst = args
    try:
        ds = pydicom.dcmread(src)
        clean(ds)
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        ds.PatientIdentityRemoved = "YES"
        ds.DeidentificationMethod = "PS3.15 Annex E Basic Profile (pydicom baseline)"
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        ds.save_as(dst, write_like_original=True)
        return 0
    except Exception as e:  # report and continue, as a batch tool would
        print("%s: %s" % (src, e), file=sys.stderr)
        return 1


def main():
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    load_table(sys.argv[1])
    src, dst = sys.argv[2], sys.argv[3]
    workers = int(sys.argv[4]) if len(sys.argv) > 4 else 2
    jobs = []
    for root, _, files in os.walk(src):
        for f in files:
            p = os.path.join(root, f)
            jobs.append((p, os.path.join(dst, os.path.relpath(p, src))))
    with multiprocessing.Pool(workers) as pool:
        failed = sum(pool.map(one, jobs, chunksize=16))
    print("%d files, %d failed" % (len(jobs), failed))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
