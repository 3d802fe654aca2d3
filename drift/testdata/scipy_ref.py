"""Reference values from scipy for the drift tests.

Reads a JSON document of cases on stdin and writes, for each case, what
scipy (and numpy, for PSI) computes on the same input. Run by
drift/scipy_test.go; not part of the Go build.
"""
import json
import sys

import numpy as np
from scipy import stats
from scipy.spatial import distance


def psi(ref, cur, bins, eps):
    ref = np.asarray(ref, dtype=float)
    cur = np.asarray(cur, dtype=float)
    qs = np.quantile(ref, [k / bins for k in range(1, bins)])
    edges = []
    for e in qs:
        if not edges or e > edges[-1]:
            edges.append(e)
    edges = np.asarray(edges)
    rc = np.bincount(np.searchsorted(edges, ref, side="left"), minlength=len(edges) + 1)
    cc = np.bincount(np.searchsorted(edges, cur, side="left"), minlength=len(edges) + 1)
    r = rc / rc.sum()
    c = cc / cc.sum()
    r = np.where(r == 0, eps, r)
    c = np.where(c == 0, eps, c)
    return float(np.sum((c - r) * np.log(c / r)))


def main():
    cases = json.load(sys.stdin)
    out = []
    for c in cases:
        kind = c["kind"]
        if kind == "ks":
            r = stats.ks_2samp(np.asarray(c["a"]), np.asarray(c["b"]))
            out.append({"statistic": float(r.statistic), "pvalue": float(r.pvalue),
                        "location": float(r.statistic_location), "sign": int(r.statistic_sign)})
        elif kind == "kstwo":
            out.append({"sf": [float(stats.kstwo.sf(x, n)) for n, x in c["points"]]})
        elif kind == "wasserstein":
            out.append({"value": float(stats.wasserstein_distance(c["a"], c["b"]))})
        elif kind == "chi2":
            r = stats.chi2_contingency(np.asarray(c["table"]), correction=c["correction"])
            out.append({"statistic": float(r[0]), "pvalue": float(r[1]), "dof": int(r[2]),
                        "expected": np.asarray(r[3]).tolist()})
        elif kind == "js":
            base = c["base"] if c["base"] else None
            out.append({"distance": float(distance.jensenshannon(c["p"], c["q"], base=base))})
        elif kind == "psi":
            out.append({"value": psi(c["a"], c["b"], c["bins"], c["eps"])})
        else:
            raise SystemExit("unknown case kind " + kind)
    json.dump(out, sys.stdout)


main()
