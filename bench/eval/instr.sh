#!/usr/bin/env bash
# Instruction counts of `ethos eval` under valgrind (cachegrind, no cache
# simulation): a measure of work that, unlike CPU time, does not depend on
# the load of a shared machine. Counts are not time (cache misses and
# mispredicted branches cost cycles without instructions), so use them to
# compare builds, next to CPU time.
#
#   bench/eval/instr.sh ROWS.csv BINARY [BINARY…]    (extra eval flags in $EVAL_ARGS)
#
# Prints, per binary, the total and the ten functions with most instructions.
set -euo pipefail
in=$1; shift
args=(--label label --score score --group sex --group age_band --group race --intersect --prevalence 0.1)
# shellcheck disable=SC2206
[ -n "${EVAL_ARGS:-}" ] && args+=(${EVAL_ARGS})
work=$(mktemp -d /tmp/ethos-instr.XXXXXX)
trap 'rm -rf "$work"' EXIT # also when a run fails (set -e)
for bin in "$@"; do
	valgrind --tool=cachegrind --cache-sim=no --cachegrind-out-file="$work/cg.out" \
		"$bin" eval --in "$in" "${args[@]}" --out "$work/report.json" 2> "$work/vg.log"
	total=$(grep -E 'I +refs' "$work/vg.log" | awk '{print $NF}')
	cg_annotate "$work/cg.out" 2>/dev/null | grep -E '^ *[0-9,]+ +\([ 0-9.]+%\) +/' > "$work/fn.txt"
	# The functions of evalstat and cmd/ethos are deterministic; the
	# process total also holds the runtime's lock spinning, which varies
	# with how valgrind serialises the threads.
	own=$(awk '/ethos-imaging\/ethos\/(evalstat|cmd)|main\./ {gsub(",", "", $1); s += $1} END {printf "%.0f", s}' "$work/fn.txt")
	locks=$(awk '/runtime\/lock_/ {gsub(",", "", $1); s += $1} END {printf "%.0f", s}' "$work/fn.txt")
	echo "## $bin: $total instructions ($own in evalstat and cmd/ethos, $locks in runtime locks)"
	sed -n '1,10p' "$work/fn.txt"
	echo
done
