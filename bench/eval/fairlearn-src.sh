#!/usr/bin/env bash
# Builds a directory from which fairlearn runs with Debian's Python packages
# (python3-pandas, python3-numpy, python3-sklearn, python3-scipy), for
# bench/eval/run.sh's FAIRLEARN_SRC. fairlearn is not packaged in Debian and
# pip cannot reach PyPI on the benchmark machine, so the packages come from
# git clones (or bare mirrors) of their repositories:
#
#   bench/eval/fairlearn-src.sh FAIRLEARN_GIT NARWHALS_GIT OUTDIR [FAIRLEARN_REF [NARWHALS_REF]]
#
# Defaults: fairlearn v0.14.0 (the version issue 6 names) and narwhals
# v2.24.0, which fairlearn 0.14 needs (it reads data frames through
# narwhals). narwhals looks its own version up in the installed package
# metadata, so a minimal dist-info directory is written beside it.
# Versions before 0.14 (for example 0.13.0.dev0 at 0939a9e2) need no
# narwhals; pass any NARWHALS_GIT and it is still copied, unused.
set -euo pipefail
[ $# -ge 3 ] || { echo "usage: $0 FAIRLEARN_GIT NARWHALS_GIT OUTDIR [FAIRLEARN_REF [NARWHALS_REF]]" >&2; exit 2; }
fl_git=$1 nw_git=$2 out=$3 fl_ref=${4:-v0.14.0} nw_ref=${5:-v2.24.0}
mkdir -p "$out"
git -C "$fl_git" archive "$fl_ref" fairlearn | tar -x -C "$out"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
git -C "$nw_git" archive "$nw_ref" src/narwhals | tar -x -C "$tmp"
rm -rf "$out/narwhals"
mv "$tmp/src/narwhals" "$out/narwhals"
v=${nw_ref#v}
rm -rf "$out"/narwhals-*.dist-info
mkdir -p "$out/narwhals-$v.dist-info"
printf 'Metadata-Version: 2.1\nName: narwhals\nVersion: %s\n' "$v" > "$out/narwhals-$v.dist-info/METADATA"
/usr/bin/python3 -c 'import sys; sys.path.insert(0, sys.argv[1]); import fairlearn, narwhals; from fairlearn.metrics import MetricFrame; print("fairlearn", fairlearn.__version__, "narwhals", narwhals.__version__, "in", sys.argv[1])' "$out"
