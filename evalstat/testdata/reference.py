"""Reference numbers for evalstat's tests, from scikit-learn, scipy and
numpy on the same rows. Reads a CSV (label,score,grp) and a threshold from
argv; prints JSON: for "overall" and every group value, the metrics."""
import json
import sys

import numpy as np
from scipy import stats
from sklearn import metrics

path, thr = sys.argv[1], float(sys.argv[2])
d = np.genfromtxt(path, delimiter=",", names=True, dtype=None, encoding="utf-8")
y_all = d["label"].astype(int)
s_all = d["score"].astype(float)
g_all = d["grp"].astype(str)


def delong_se(y, s):
    # Independent implementation of DeLong with mid-ranks (Sun & Xu 2014).
    x, z = s[y == 1], s[y == 0]
    m, n = len(x), len(z)
    tx, ty = stats.rankdata(x), stats.rankdata(z)
    tz = stats.rankdata(np.concatenate([x, z]))
    auc = (tz[:m].sum() - m * (m + 1) / 2) / (m * n)
    v10 = (tz[:m] - tx) / n
    v01 = 1.0 - (tz[m:] - ty) / m
    return auc, np.sqrt(np.var(v10, ddof=1) / m + np.var(v01, ddof=1) / n)


def newton(y, lp, slope):
    beta = np.array([0.0, 1.0]) if slope else np.array([0.0])
    for _ in range(200):
        X = np.column_stack([np.ones_like(lp), lp]) if slope else np.ones((len(lp), 1))
        off = 0 if slope else lp
        eta = X @ beta + off
        p = 1 / (1 + np.exp(-eta))
        g = X.T @ (y - p)
        H = (X * (p * (1 - p))[:, None]).T @ X
        step = np.linalg.solve(H, g)
        beta = beta + step
        if np.max(np.abs(step)) < 1e-13:
            break
    return beta


def compute(y, s):
    pred = (s >= thr).astype(int)
    out = {"n": int(len(y)), "positives": int(y.sum())}
    tp = int(((pred == 1) & (y == 1)).sum())
    fp = int(((pred == 1) & (y == 0)).sum())
    out["sensitivity"] = metrics.recall_score(y, pred, zero_division=0)
    out["ppv"] = metrics.precision_score(y, pred, zero_division=0)
    out["f1"] = metrics.f1_score(y, pred, zero_division=0)
    out["accuracy"] = metrics.accuracy_score(y, pred)
    out["balanced_accuracy"] = metrics.balanced_accuracy_score(y, pred)
    out["specificity"] = metrics.recall_score(1 - y, 1 - pred, zero_division=0)
    out["npv"] = metrics.precision_score(1 - y, 1 - pred, zero_division=0)
    out["brier"] = metrics.brier_score_loss(y, s)
    out["log_loss"] = metrics.log_loss(y, s, labels=[0, 1])
    n = len(y)
    bins = np.minimum(np.floor(10 * s).astype(int), 9)
    ece, mce = 0.0, 0.0
    for k in range(10):
        sel = bins == k
        if sel.any():
            gap = abs(y[sel].mean() - s[sel].mean())
            ece += sel.sum() / n * gap
            mce = max(mce, gap)
    out["ece"], out["mce"] = ece, mce
    out["oe_ratio"] = y.sum() / s.sum()
    out["calibration_in_the_large"] = s.mean() - y.mean()
    t = thr
    out["net_benefit"] = tp / n - fp / n * t / (1 - t)
    pos = int(y.sum())
    if pos > 0:
        k, nn = tp, pos
        lo = 0.0 if k == 0 else stats.beta.ppf(0.025, k, nn - k + 1)
        hi = 1.0 if k == nn else stats.beta.ppf(0.975, k + 1, nn - k)
        out["sensitivity_cp"] = [lo, hi]
        z = 1.959963984540054
        p = k / nn
        c = (p + z * z / (2 * nn)) / (1 + z * z / nn)
        h = z / (1 + z * z / nn) * np.sqrt(p * (1 - p) / nn + z * z / (4 * nn * nn))
        out["sensitivity_wilson"] = [max(0, c - h), min(1, c + h)]
    if 0 < pos < n:
        out["auroc"] = metrics.roc_auc_score(y, s)
        out["auprc"] = metrics.average_precision_score(y, s)
        if pos >= 2 and n - pos >= 2:
            auc, se = delong_se(y, s)
            out["delong_se"] = se
        eps = np.finfo(float).eps
        sc = np.clip(s, eps, 1 - eps)
        lp = np.log(sc / (1 - sc))
        out["calibration_intercept"] = float(newton(y, lp, False)[0])
        out["calibration_slope"] = float(newton(y, lp, True)[1])
    return out


res = {"overall": compute(y_all, s_all)}
for g in sorted(set(g_all)):
    sel = g_all == g
    res["grp=" + g] = compute(y_all[sel], s_all[sel])
json.dump(res, sys.stdout)
