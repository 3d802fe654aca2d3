"""The Python path of the evaluation benchmark: what a notebook does with
numpy and scikit-learn (Debian python3-numpy, python3-sklearn).

fairlearn is not installed on this machine (it is not packaged in Debian);
this script stands in for fairlearn's MetricFrame with the same work done by
hand: per intersectional group (sex × age band × race), six label metrics
(accuracy, precision, recall, F1, selection rate, false positive rate),
AUROC, and the equalized odds difference; or, with --bootstrap B, B
stratified bootstrap resamples of per-group AUROC.

Prints one JSON line with CPU seconds per phase (time.process_time)."""
import argparse
import csv
import json
import time

import numpy as np
from sklearn import metrics

ap = argparse.ArgumentParser()
ap.add_argument("csv")
ap.add_argument("--bootstrap", type=int, default=0)
ap.add_argument("--seed", type=int, default=1)
args = ap.parse_args()

t0 = time.process_time()
with open(args.csv, newline="") as f:
    r = csv.reader(f)
    header = next(r)
    ix = {h: i for i, h in enumerate(header)}
    keys, ys, ss = [], [], []
    for row in r:
        keys.append(row[ix["group"]])
        ys.append(row[ix["label"]])
        ss.append(row[ix["score"]])
y = np.array(ys, dtype=np.int8)
s = np.array(ss, dtype=np.float64)
groups, inv = np.unique(np.array(keys), return_inverse=True)
t_load = time.process_time() - t0

t1 = time.process_time()
out = {"rows": int(len(y)), "groups": int(len(groups))}
if args.bootstrap == 0:
    pred = (s >= 0.5).astype(np.int8)
    res = {}
    for g in range(len(groups)):
        sel = inv == g
        yg, pg, sg = y[sel], pred[sel], s[sel]
        tn, fp, fn, tp = metrics.confusion_matrix(yg, pg, labels=[0, 1]).ravel()
        res[groups[g]] = {
            "accuracy": metrics.accuracy_score(yg, pg),
            "precision": metrics.precision_score(yg, pg, zero_division=0),
            "recall": metrics.recall_score(yg, pg, zero_division=0),
            "f1": metrics.f1_score(yg, pg, zero_division=0),
            "selection_rate": pg.mean(),
            "fpr": fp / (fp + tn) if fp + tn else 0.0,
            "auroc": metrics.roc_auc_score(yg, sg),
        }
    tpr = [v["recall"] for v in res.values()]
    fpr = [v["fpr"] for v in res.values()]
    out["equalized_odds_difference"] = max(max(tpr) - min(tpr), max(fpr) - min(fpr))
    out["auroc_first_group"] = res[groups[0]]["auroc"]
else:
    rng = np.random.default_rng(args.seed)
    idx = [np.flatnonzero(inv == g) for g in range(len(groups))]
    aucs = np.empty((args.bootstrap, len(groups)))
    for b in range(args.bootstrap):
        for g, rows in enumerate(idx):
            pick = rows[rng.integers(0, len(rows), len(rows))]
            yb = y[pick]
            aucs[b, g] = metrics.roc_auc_score(yb, s[pick]) if 0 < yb.sum() < len(yb) else np.nan
    lo, hi = np.nanpercentile(aucs, [2.5, 97.5], axis=0)
    out["auroc_ci_first_group"] = [lo[0], hi[0]]
t_compute = time.process_time() - t1
out["cpu_load_s"] = round(t_load, 3)
out["cpu_compute_s"] = round(t_compute, 3)
print(json.dumps(out))
