"""fairlearn's own path for the evaluation benchmark (docs/benchmarks-eval.md).

Run with fairlearn from its source tree on PYTHONPATH (it is not packaged
in Debian) and Debian's python3-pandas, python3-numpy, python3-sklearn,
python3-scipy; bench/eval/run.sh does that when FAIRLEARN_SRC names the
directory holding the fairlearn package.

The work the issue measured: pandas reads the table, one MetricFrame over
the intersection of sex, age band and race (the 50 intersectional groups)
with six label metrics (accuracy, precision, recall, F1, selection rate,
false positive rate) at threshold 0.5, one MetricFrame with per-group
AUROC from the scores, and the equalized odds difference. With --bootstrap
B, B stratified resamples of per-group AUROC with MetricFrame (fairlearn's
own bootstrap, n_boot, is not used: it resamples rows across groups).

Prints one JSON line with CPU seconds per phase (time.process_time)."""
import argparse
import json
import time

import numpy as np
import pandas as pd
import fairlearn
from fairlearn.metrics import (MetricFrame, equalized_odds_difference,
                               false_positive_rate, selection_rate)
from sklearn.metrics import (accuracy_score, f1_score, precision_score,
                             recall_score, roc_auc_score)

ap = argparse.ArgumentParser()
ap.add_argument("csv")
ap.add_argument("--bootstrap", type=int, default=0)
ap.add_argument("--seed", type=int, default=1)
args = ap.parse_args()

t0 = time.process_time()
df = pd.read_csv(args.csv, usecols=["sex", "age_band", "race", "label", "score"])
t_load = time.process_time() - t0

t1 = time.process_time()
y = df["label"].to_numpy()
s = df["score"].to_numpy()
sf = df[["sex", "age_band", "race"]]
out = {"fairlearn": fairlearn.__version__, "pandas": pd.__version__, "rows": int(len(df))}
if args.bootstrap == 0:
    pred = (s >= 0.5).astype(int)
    labels = MetricFrame(
        metrics={
            "accuracy": accuracy_score,
            "precision": lambda a, b: precision_score(a, b, zero_division=0),
            "recall": lambda a, b: recall_score(a, b, zero_division=0),
            "f1": lambda a, b: f1_score(a, b, zero_division=0),
            "selection_rate": selection_rate,
            "fpr": false_positive_rate,
        },
        y_true=y, y_pred=pred, sensitive_features=sf)
    auc = MetricFrame(metrics=roc_auc_score, y_true=y, y_pred=s, sensitive_features=sf)
    eod = equalized_odds_difference(y, pred, sensitive_features=sf)
    out["groups"] = int(len(labels.by_group))
    out["equalized_odds_difference"] = float(eod)
    out["auroc_overall"] = float(auc.overall)
    out["recall_difference"] = float(labels.difference()["recall"])
else:
    rng = np.random.default_rng(args.seed)
    keys = sf.astype(str).agg("|".join, axis=1).to_numpy()
    cells = [np.flatnonzero(keys == k) for k in np.unique(keys)]
    aucs = []
    for _ in range(args.bootstrap):
        pick = np.concatenate([c[rng.integers(0, len(c), len(c))] for c in cells])
        mf = MetricFrame(metrics=roc_auc_score, y_true=y[pick], y_pred=s[pick],
                         sensitive_features=sf.iloc[pick].reset_index(drop=True))
        aucs.append(mf.by_group.to_numpy())
    aucs = np.array(aucs)
    lo, hi = np.nanpercentile(aucs, [2.5, 97.5], axis=0)
    out["groups"] = int(aucs.shape[1])
    out["auroc_ci_first_group"] = [float(lo[0]), float(hi[0])]
t_compute = time.process_time() - t1
out["cpu_load_s"] = round(t_load, 3)
out["cpu_compute_s"] = round(t_compute, 3)
print(json.dumps(out))
