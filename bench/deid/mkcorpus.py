#!/usr/bin/python3
"""Build the de-identification benchmark corpus under a scratch directory.

Templates are the canary files of ../shared/testdata/dicom (real images with
injected fake PHI). Each output file gets a new patient (name, ID, birth
date), new Study/Series/SOP/Frame of Reference UIDs (two instances per
study, as in the canary set) and BurnedInAnnotation=NO so that every tool
writes every file. Files are split into two shards (in/shard0, in/shard1)
so that tools without their own parallelism can run as two processes.

Usage: mkcorpus.py SHARED_DIR OUT_DIR [N_FILES]
Never write the corpus into the repository.
"""
import os
import random
import sys

import pydicom
from pydicom.uid import generate_uid

# template name -> weight (chosen so 2,000 files come to about 1 GB)
WEIGHTS = [("ct", 43), ("mr", 35), ("sr", 10), ("ctsmall", 5), ("xa", 4), ("mrbig", 3)]
SURNAMES = ["SMITH", "GARCIA", "MULLER", "ROSSI", "NOVAK", "TANAKA", "OKAFOR", "DUBOIS", "SILVA", "KOWALSKI"]
GIVEN = ["ANNA", "JOHN", "MARIA", "LUCA", "YUKI", "CHIDI", "ELENA", "PIOTR", "SOFIA", "OMAR"]


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    shared, out = sys.argv[1], sys.argv[2]
    n = int(sys.argv[3]) if len(sys.argv) > 3 else 2000
    canary = os.path.join(shared, "testdata", "dicom", "canary")
    templates = {}
    for shard in ("shard0", "shard1"):
        for name in sorted(os.listdir(os.path.join(canary, shard))):
            kind = name.split("_")[0]
            templates.setdefault(kind, pydicom.dcmread(os.path.join(canary, shard, name)))
    rnd = random.Random(20261126)
    kinds = [k for k, w in WEIGHTS for _ in range(w)]
    total = 0
    for i in range(0, n, 2):
        kind = rnd.choice(kinds)
        ds = templates[kind]
        patient = "%s^%s" % (rnd.choice(SURNAMES), rnd.choice(GIVEN))
        pid = "BENCH%07d" % (i // 2)
        birth = "%04d%02d%02d" % (rnd.randint(1930, 2010), rnd.randint(1, 12), rnd.randint(1, 28))
        study, series, frame = generate_uid(), generate_uid(), generate_uid()
        for j in range(2):
            if i + j >= n:
                break
            ds.PatientName = patient
            ds.PatientID = pid
            ds.PatientBirthDate = birth
            ds.StudyInstanceUID = study
            ds.SeriesInstanceUID = series
            if "FrameOfReferenceUID" in ds:
                ds.FrameOfReferenceUID = frame
            sop = generate_uid()
            ds.SOPInstanceUID = sop
            ds.file_meta.MediaStorageSOPInstanceUID = sop
            ds.InstanceNumber = j + 1
            ds.BurnedInAnnotation = "NO"
            d = os.path.join(out, "shard%d" % ((i + j) % 2), "p%05d" % (i // 2))
            os.makedirs(d, exist_ok=True)
            path = os.path.join(d, "%s_%d.dcm" % (kind, j))
            ds.save_as(path, write_like_original=True)
            total += os.path.getsize(path)
    print("%d files, %.1f MB in %s" % (n, total / 1e6, out))


if __name__ == "__main__":
    main()
