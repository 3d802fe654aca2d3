"""scipy side of the drift benchmark (run by bench/drift/main.go).

Reads the samples main.go wrote (raw little-endian float64), times each
statistic with scipy/numpy (best of --repeat runs, wall and CPU time of
this process) and prints the values and times as JSON.
"""
import json
import sys
import time

import numpy as np
from scipy import stats
from scipy.spatial import distance


def best(fn, repeat):
    wall, cpu, value = float("inf"), float("inf"), None
    for _ in range(repeat):
        w0, c0 = time.perf_counter(), time.process_time()
        value = fn()
        w1, c1 = time.perf_counter(), time.process_time()
        wall, cpu = min(wall, w1 - w0), min(cpu, c1 - c0)
    return value, wall, cpu


def psi(ref, cur, bins=10, eps=1e-4):
    qs = np.quantile(ref, [k / bins for k in range(1, bins)])
    edges = [qs[0]]
    for e in qs[1:]:
        if e > edges[-1]:
            edges.append(e)
    edges = np.asarray(edges)
    rc = np.bincount(np.searchsorted(edges, ref, side="left"), minlength=len(edges) + 1)
    cc = np.bincount(np.searchsorted(edges, cur, side="left"), minlength=len(edges) + 1)
    r, c = rc / rc.sum(), cc / cc.sum()
    r = np.where(r == 0, eps, r)
    c = np.where(c == 0, eps, c)
    return float(np.sum((c - r) * np.log(c / r)))


def main():
    d = sys.argv[1]
    repeat = int(sys.argv[2])
    ref = np.fromfile(d + "/ref.f64", dtype="<f8")
    cur = np.fromfile(d + "/cur.f64", dtype="<f8")
    small_ref, small_cur = ref[:10000], cur[:10000]
    counts = np.fromfile(d + "/counts.f64", dtype="<f8").reshape(2, -1)
    out = {}
    v, w, c = best(lambda: stats.ks_2samp(ref, cur), repeat)
    out["ks_1e6"] = {"values": [float(v.statistic), float(v.pvalue)], "wall": w, "cpu": c}
    v, w, c = best(lambda: stats.ks_2samp(small_ref, small_cur), repeat)
    out["ks_exact_1e4"] = {"values": [float(v.statistic), float(v.pvalue)], "wall": w, "cpu": c}
    v, w, c = best(lambda: stats.wasserstein_distance(ref, cur), repeat)
    out["wasserstein_1e6"] = {"values": [float(v)], "wall": w, "cpu": c}
    v, w, c = best(lambda: psi(ref, cur), repeat)
    out["psi_1e6"] = {"values": [v], "wall": w, "cpu": c}
    def window():
        k = stats.ks_2samp(ref, cur)
        return [float(k.statistic), float(k.pvalue), float(stats.wasserstein_distance(ref, cur)), psi(ref, cur)]
    v, w, c = best(window, repeat)
    out["window_1e6"] = {"values": v, "wall": w, "cpu": c}
    v, w, c = best(lambda: stats.chi2_contingency(counts, correction=False), repeat)
    out["chi2_2x50"] = {"values": [float(v[0]), float(v[1])], "wall": w, "cpu": c}
    v, w, c = best(lambda: distance.jensenshannon(counts[0], counts[1], base=2), repeat)
    out["js_50"] = {"values": [float(v)], "wall": w, "cpu": c}
    json.dump(out, sys.stdout)


main()
