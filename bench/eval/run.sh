#!/usr/bin/env bash
# The evaluation benchmark (docs/benchmarks-eval.md). Regenerates the seeded
# tables, runs `ethos eval` and the numpy + scikit-learn path on the same
# rows, and prints one Markdown row per run: CPU seconds (user + system),
# wall seconds and peak RSS, measured by /usr/bin/time -v.
#
#   bench/eval/run.sh [workdir]    (default: a temporary directory)
#
# Needs Go, /usr/bin/time, and python3 with numpy and scikit-learn (Debian
# python3-numpy python3-sklearn). Set SKIP_1E7=1 to skip the 10^7-row runs.
# Set FAIRLEARN_SRC to a directory holding fairlearn's source package (made
# by bench/eval/fairlearn-src.sh from git clones of fairlearn and narwhals)
# to also run fairlearn itself, with Debian's python3-pandas; ethos's 10^6
# full evaluation then runs again right after fairlearn, and the CPU ratio
# of fairlearn to each ethos run is printed.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
work=${1:-$(mktemp -d /tmp/ethos-bench-eval.XXXXXX)}
mkdir -p "$work"
py=python3
for p in python3 /usr/bin/python3; do
	if "$p" -c 'import sklearn, numpy' 2>/dev/null; then py=$p; break; fi
done

go build -o "$work/ethos" "$root/cmd/ethos"
go build -o "$work/gen" "$root/bench/eval/gen"
for n in 100000 1000000; do
	[ -f "$work/rows$n.csv" ] || "$work/gen" -n "$n" -seed 1 > "$work/rows$n.csv"
done
if [ -z "${SKIP_1E7:-}" ] && [ ! -f "$work/rows10000000.csv" ]; then
	"$work/gen" -n 10000000 -seed 1 > "$work/rows10000000.csv"
fi

# measure NAME CMD...: runs CMD under /usr/bin/time -v and prints a row,
# with the 1-minute load average just before the run.
measure() {
	local name=$1; shift
	local log="$work/time.log"
	local load
	load=$(cut -d' ' -f1 /proc/loadavg)
	/usr/bin/time -v "$@" > "$work/out.txt" 2> "$log" || { cat "$log" >&2; exit 1; }
	local user sys wall rss
	user=$(awk -F': ' '/User time/ {print $2}' "$log")
	sys=$(awk -F': ' '/System time/ {print $2}' "$log")
	wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' "$log")
	rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$log")
	last_cpu=$(echo "$user + $sys" | bc)
	printf '| %s | %.2f | %s | %d | %s |\n' "$name" "$last_cpu" "$wall" "$((rss / 1024))" "$load"
}

eval_args=(--label label --score score --group sex --group age_band --group race --intersect --prevalence 0.1)
echo "| run | CPU s (user+sys) | wall (m:ss) | peak RSS MB | load before |"
echo "|---|---|---|---|---|"
measure "ethos eval, 10^6 rows, full, no bootstrap" "$work/ethos" eval --in "$work/rows1000000.csv" "${eval_args[@]}" --out "$work/r6.json"
ethos_before=$last_cpu
if [ -n "${FAIRLEARN_SRC:-}" ]; then
	measure "fairlearn MetricFrame, 10^6 rows, six label metrics + per-group AUROC + equalized odds" env PYTHONPATH="$FAIRLEARN_SRC" /usr/bin/python3 "$root/bench/eval/fairlearn_eval.py" "$work/rows1000000.csv"
	fairlearn_cpu=$last_cpu
	cp "$work/out.txt" "$work/fairlearn6.json"
	measure "ethos eval, 10^6 rows, full, no bootstrap (again, after fairlearn)" "$work/ethos" eval --in "$work/rows1000000.csv" "${eval_args[@]}" --out "$work/r6.json"
	ratios="fairlearn $(/usr/bin/python3 -c 'import json,sys; print(json.loads(open(sys.argv[1]).read())["fairlearn"])' "$work/fairlearn6.json") CPU / ethos CPU at 10^6 rows: $(echo "scale=1; $fairlearn_cpu / $ethos_before" | bc)× (ethos before), $(echo "scale=1; $fairlearn_cpu / $last_cpu" | bc)× (ethos after)"
	# The same numbers from both: overall AUROC and the intersection's
	# equalized odds difference.
	/usr/bin/python3 - "$work/r6.json" "$work/fairlearn6.json" <<'PY' >&2
import json, sys
r = json.load(open(sys.argv[1]))
f = json.loads(open(sys.argv[2]).read())
auc = r["overall"]["metrics"]["auroc"]["estimate"]
eod = [g for g in r["groupings"] if g["kind"] == "intersection"][0]["fairness"]["equalized_odds_difference"]["estimate"]
print("ethos vs fairlearn: overall AUROC |diff| = %.3g, equalized odds difference |diff| = %.3g"
      % (abs(auc - f["auroc_overall"]), abs(eod - f["equalized_odds_difference"])))
PY
fi
measure "python numpy+sklearn, 10^6 rows, MetricFrame-equivalent" "$py" "$root/bench/eval/python_eval.py" "$work/rows1000000.csv"
cp "$work/out.txt" "$work/python6.json"
if [ -z "${SKIP_1E7:-}" ]; then
	measure "ethos eval, 10^7 rows, full, no bootstrap" "$work/ethos" eval --in "$work/rows10000000.csv" "${eval_args[@]}" --out "$work/r7.json"
fi
measure "ethos eval, 10^5 rows, full, 1000 bootstrap resamples" "$work/ethos" eval --in "$work/rows100000.csv" "${eval_args[@]}" --bootstrap 1000 --out "$work/r5b.json"
measure "python numpy+sklearn, 10^5 rows, 100 bootstrap resamples of per-group AUROC" "$py" "$root/bench/eval/python_eval.py" "$work/rows100000.csv" --bootstrap 100
cp "$work/out.txt" "$work/python5b.json"
measure "ethos eval, 10^6 rows, full, 1000 bootstrap resamples" "$work/ethos" eval --in "$work/rows1000000.csv" "${eval_args[@]}" --bootstrap 1000 --out "$work/r6b.json"
measure "ethos eval, 10^6 rows, the 50 intersectional groups only (--group group), 1000 bootstrap resamples" "$work/ethos" eval --in "$work/rows1000000.csv" --label label --score score --group group --bootstrap 1000 --out "$work/r6b1.json"
measure "ethos eval, 10^6 rows, the 50 intersectional groups only, 1000 bootstrap resamples of AUROC alone (--bootstrap-metrics auroc)" "$work/ethos" eval --in "$work/rows1000000.csv" --label label --score score --group group --bootstrap 1000 --bootstrap-metrics auroc --out "$work/r6b1auc.json"
measure "ethos eval, 10^6 rows, full, 1000 bootstrap resamples of AUROC alone" "$work/ethos" eval --in "$work/rows1000000.csv" "${eval_args[@]}" --bootstrap 1000 --bootstrap-metrics auroc --out "$work/r6bauc.json"
if [ -n "${FAIRLEARN_SRC:-}" ]; then
	measure "fairlearn MetricFrame, 10^6 rows, 5 stratified bootstrap resamples of per-group AUROC" env PYTHONPATH="$FAIRLEARN_SRC" /usr/bin/python3 "$root/bench/eval/fairlearn_eval.py" "$work/rows1000000.csv" --bootstrap 5
	cp "$work/out.txt" "$work/fairlearn6b.json"
fi
echo
echo "python phases (CPU s): 10^6 full $(cat "$work/python6.json"); 10^5 bootstrap $(cat "$work/python5b.json")"
if [ -n "${FAIRLEARN_SRC:-}" ]; then
	echo "fairlearn phases (CPU s): 10^6 full $(cat "$work/fairlearn6.json"); 10^6 bootstrap $(cat "$work/fairlearn6b.json")"
	echo "$ratios"
fi
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); load after: $(cut -d' ' -f1-3 /proc/loadavg)"
