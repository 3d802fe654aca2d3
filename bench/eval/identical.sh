#!/usr/bin/env bash
# Checks that two builds of ethos write byte-identical reports on the same
# inputs, over the configurations whose code paths differ: the full 63
# groups at 10^5 and 10^6 rows (and 10^7 when present), one attribute, two
# attributes without the intersection, the 50 intersections as one
# attribute, no attribute, one worker, the real flchain table, and
# bootstraps (every metric, AUROC alone, clustered by patient, with the
# calibration refitted from weighted binned moments). Any
# difference is printed and makes the script fail. With DIFF=1, each
# differing pair of reports is also compared value by value
# (bench/eval/jsondiff.py: which values differ, by how much).
#
#   bench/eval/identical.sh WORKDIR BIN_A BIN_B
#   (WORKDIR holds rows100000.csv and rows1000000.csv from run.sh or gen)
set -euo pipefail
work=$1 a=$2 b=$3
root=$(cd "$(dirname "$0")/../.." && pwd)
[ -f "$work/flchain-scored.csv" ] || "$root/bench/eval/flchain.sh" "$root/../shared/testdata/tabular/flchain.csv" > "$work/flchain-scored.csv"
full="--label label --score score --group sex --group age_band --group race --intersect --prevalence 0.1"
cases=(
	"rows1000000.csv|$full"
	"rows100000.csv|$full"
	"rows100000.csv|$full --workers 1"
	"rows100000.csv|--label label --score score --group sex"
	"rows100000.csv|--label label --score score --group sex --group race --threshold 0.3"
	"rows100000.csv|--label label --score score --group group --fairlearn-compat"
	"rows100000.csv|--label label --score score"
	"rows100000.csv|$full --bootstrap 20 --seed 7"
	"rows100000.csv|$full --bootstrap 20 --bootstrap-metrics auroc"
	"rows100000.csv|$full --bootstrap 20 --patient patient_id"
	"rows100000.csv|--label label --score score --group sex --group race --intersect --bootstrap 5 --bootstrap-calibration"
	"flchain-scored.csv|--label death --score score --group sex --group age_band --intersect --prevalence 0.3"
	"flchain-scored.csv|--label death --score score --group sex --bootstrap 50 --bootstrap-calibration"
)
[ -f "$work/rows10000000.csv" ] && cases+=("rows10000000.csv|$full")
fail=0
for c in "${cases[@]}"; do
	IFS='|' read -r file args <<< "$c"
	# shellcheck disable=SC2086
	"$a" eval --in "$work/$file" $args --out "$work/same-a.json"
	# shellcheck disable=SC2086
	"$b" eval --in "$work/$file" $args --out "$work/same-b.json"
	if cmp -s "$work/same-a.json" "$work/same-b.json"; then
		echo "identical: $file $args"
	else
		echo "DIFFERENT: $file $args"
		if [ -n "${DIFF:-}" ]; then
			/usr/bin/python3 "$root/bench/eval/jsondiff.py" "$work/same-a.json" "$work/same-b.json" | grep -v '^BEYOND' | sed 's/^/    /' || true
		fi
		fail=1
	fi
done
exit $fail
