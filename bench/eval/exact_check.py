#!/usr/bin/env python3
"""Checks an ethos eval report's log loss, Brier score and calibration fits
against high-precision computations from the definitions (mpmath, 40
significant digits), for every group.

    exact_check.py ROWS.csv REPORT.json [REPORT.json ...]

ROWS.csv is a table from bench/eval/gen (label, score, sex, age_band,
race); the reports are of the full evaluation (--group sex --group
age_band --group race --intersect). Scores are exact decimals, so every
input is exact: the Brier score is summed in rationals; log loss and the
logits lp = log(s / (1 - s)) of the clipped scores are computed in mpmath;
the calibration intercept (logit P = alpha + lp) and slope (logit P = a +
b lp) are found by Newton's method in mpmath until the step is below
1e-30, starting from the first report's values. Prints, per metric, the
largest relative error of each report and the group where it occurs, and
exits 1 when one exceeds 1e-12.
"""
import csv
import json
import sys
from fractions import Fraction

import mpmath as mp

mp.mp.dps = 40
EPS = Fraction(2.220446049250313e-16)


def groups_of(rows):
    out = {"overall": []}
    for i, r in enumerate(rows):
        keys = ["overall", "sex=" + r["sex"], "age_band=" + r["age_band"], "race=" + r["race"],
                "sex=%s|age_band=%s|race=%s" % (r["sex"], r["age_band"], r["race"])]
        for k in keys:
            out.setdefault(k, []).append(i)
    return out


def newton_intercept(lp, y, alpha):
    alpha = mp.mpf(alpha)
    for _ in range(50):
        g = h = mp.mpf(0)
        for l, yy in zip(lp, y):
            p = 1 / (1 + mp.exp(-(alpha + l)))
            g += yy - p
            h += p * (1 - p)
        step = g / h
        alpha += step
        if abs(step) < mp.mpf("1e-30"):
            return alpha
    raise RuntimeError("intercept did not converge")


def newton_slope(lp, y, a, b):
    a, b = mp.mpf(a), mp.mpf(b)
    for _ in range(50):
        g0 = g1 = i00 = i01 = i11 = mp.mpf(0)
        for l, yy in zip(lp, y):
            p = 1 / (1 + mp.exp(-(a + b * l)))
            r = yy - p
            q = p * (1 - p)
            g0 += r
            g1 += r * l
            i00 += q
            i01 += q * l
            i11 += q * l * l
        det = i00 * i11 - i01 * i01
        d0 = (i11 * g0 - i01 * g1) / det
        d1 = (i00 * g1 - i01 * g0) / det
        a, b = a + d0, b + d1
        if max(abs(d0), abs(d1)) < mp.mpf("1e-30"):
            return a, b
    raise RuntimeError("slope did not converge")


def main():
    path, reports = sys.argv[1], sys.argv[2:]
    rows = list(csv.DictReader(open(path)))
    ys = [int(r["label"]) for r in rows]
    sf = [Fraction(r["score"]) for r in rows]
    cache = {}

    def logs(s):
        if s not in cache:
            c = min(max(s, EPS), 1 - EPS)
            m = mp.mpf(c.numerator) / c.denominator
            l1, l0 = mp.log(m), mp.log(1 - m)
            cache[s] = (l1, l0, l1 - l0)
        return cache[s]

    reps = []
    for rp in reports:
        r = json.load(open(rp))
        vals = {r["overall"]["name"]: r["overall"]["metrics"]}
        for gp in r["groupings"]:
            for g in gp["groups"]:
                vals[g["name"]] = g["metrics"]
        reps.append(vals)
    worst = {}
    for name, idx in groups_of(rows).items():
        y = [ys[i] for i in idx]
        n = len(idx)
        brier = sum((sf[i] - ys[i]) ** 2 for i in idx) / n
        ll = -sum(logs(sf[i])[0] if ys[i] else logs(sf[i])[1] for i in idx) / n
        lp = [logs(sf[i])[2] for i in idx]
        m0 = reps[0][name]
        alpha = newton_intercept(lp, y, m0["calibration_intercept"]["estimate"])
        a, b = newton_slope(lp, y, 0, m0["calibration_slope"]["estimate"])
        exact = {"brier": mp.mpf(brier.numerator) / brier.denominator, "log_loss": ll,
                 "calibration_intercept": alpha, "calibration_slope": b}
        for k, rep in enumerate(reps):
            for metric, x in exact.items():
                got = rep[name][metric]["estimate"]
                rel = float(abs(mp.mpf(got) - x) / abs(x))
                key = (k, metric)
                if key not in worst or rel > worst[key][0]:
                    worst[key] = (rel, name, got, x)
        print("checked", name, n, file=sys.stderr)
    bad = False
    for (k, metric), (rel, name, got, x) in sorted(worst.items()):
        print("%s %-22s max relative error %.3g (group %s: %r vs %s)" % (reports[k], metric, rel, name, got, mp.nstr(x, 20)))
        bad |= rel > 1e-12
    sys.exit(1 if bad else 0)


main()
