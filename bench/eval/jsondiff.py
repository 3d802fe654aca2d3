#!/usr/bin/env python3
"""Compares two ethos eval JSON reports value by value.

    jsondiff.py A.json B.json [--tol 1e-12]

Prints every number that differs (path, both values, relative difference),
every other difference, a summary by metric name, and exits 1 when a
number differs by more than --tol relative (default 1e-12) or anything
other than a number differs. Bootstrap intervals (ci.method "bootstrap")
are counted apart: with a different assignment of draws to tied rows they
are a different resample, not a rounding difference.
"""
import json
import sys
from collections import defaultdict


def walk(a, b, path, out):
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b)):
            if k not in a or k not in b:
                out.append(("struct", path + "/" + k, a.get(k), b.get(k), None))
            else:
                walk(a[k], b[k], path + "/" + k, out)
    elif isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            out.append(("struct", path + "[len]", len(a), len(b), None))
        for i, (x, y) in enumerate(zip(a, b)):
            walk(x, y, "%s[%d]" % (path, i), out)
    elif isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool):
        if a != b:
            rel = abs(a - b) / max(abs(a), abs(b))
            out.append(("num", path, a, b, rel))
    elif a != b:
        out.append(("other", path, a, b, None))


def main():
    args = sys.argv[1:]
    tol = 1e-12
    if "--tol" in args:
        i = args.index("--tol")
        tol = float(args[i + 1])
        del args[i:i + 2]
    a, b = (json.load(open(p)) for p in args[:2])
    out = []
    walk(a, b, "", out)
    bad = 0
    by = defaultdict(lambda: [0, 0.0])
    for kind, path, x, y, rel in out:
        key = path
        parts = path.split("/")
        if "metrics" in parts:
            key = "metric " + parts[parts.index("metrics") + 1]
        elif "aggregates" in parts:
            key = "aggregate " + parts[parts.index("aggregates") + 1]
        elif "fairness" in parts:
            key = "fairness " + parts[parts.index("fairness") + 1]
        elif "curves" in parts:
            key = "curve " + parts[parts.index("curves") + 1].split("[")[0]
        if kind == "num":
            by[key][0] += 1
            by[key][1] = max(by[key][1], rel)
            if rel > tol:
                bad += 1
                print("BEYOND TOL %s: %r vs %r (rel %.3g)" % (path, x, y, rel))
        else:
            bad += 1
            print("%s %s: %r vs %r" % (kind.upper(), path, x, y))
    for key in sorted(by):
        n, rel = by[key]
        print("%-40s %6d values differ, max relative difference %.3g" % (key, n, rel))
    print("%d differences, %d beyond %g (or not numbers)" % (len(out), bad, tol))
    sys.exit(1 if bad else 0)


main()
