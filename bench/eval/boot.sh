#!/usr/bin/env bash
# The bootstrap of chosen metrics against the full bootstrap
# (docs/benchmarks-eval.md, "Bootstrap of chosen metrics"). Runs, alternately
# and ROUNDS times (default 2), `ethos eval --bootstrap 1000` on the seeded
# 10^6-row table with every metric resampled and with --bootstrap-metrics,
# prints one Markdown row per run (CPU = user + system, wall, peak RSS, the
# 1-minute load average before the run), then checks that the chosen
# metrics' values and intervals are identical in both reports.
#
#   bench/eval/boot.sh [workdir]    (default: a temporary directory)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
work=${1:-$(mktemp -d /tmp/ethos-bench-evalboot.XXXXXX)}
rounds=${ROUNDS:-2}
mkdir -p "$work"
go build -o "$work/ethos" "$root/cmd/ethos"
go build -o "$work/gen" "$root/bench/eval/gen"
[ -f "$work/rows1000000.csv" ] || "$work/gen" -n 1000000 -seed 1 > "$work/rows1000000.csv"

measure() {
	local name=$1; shift
	local log="$work/time.log" load user sys wall rss
	load=$(cut -d' ' -f1 /proc/loadavg)
	/usr/bin/time -v "$@" > "$work/out.txt" 2> "$log" || { cat "$log" >&2; exit 1; }
	user=$(awk -F': ' '/User time/ {print $2}' "$log")
	sys=$(awk -F': ' '/System time/ {print $2}' "$log")
	wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' "$log")
	rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$log")
	printf '| %s | %.2f | %s | %d | %s |\n' "$name" "$(echo "$user + $sys" | bc)" "$wall" "$((rss / 1024))" "$load"
}

in=(--in "$work/rows1000000.csv" --label label --score score --bootstrap 1000 --seed 1)
g50=(--group group)
full=(--group sex --group age_band --group race --intersect --prevalence 0.1)
echo "| run (10^6 rows, 1000 resamples) | CPU s (user+sys) | wall (m:ss) | peak RSS MB | load before |"
echo "|---|---|---|---|---|"
for r in $(seq "$rounds"); do
	measure "50 groups, every metric" "$work/ethos" eval "${in[@]}" "${g50[@]}" --out "$work/g50-all.json"
	measure "50 groups, auroc" "$work/ethos" eval "${in[@]}" "${g50[@]}" --bootstrap-metrics auroc --out "$work/g50-auroc.json"
	measure "50 groups, auroc,auprc" "$work/ethos" eval "${in[@]}" "${g50[@]}" --bootstrap-metrics auroc,auprc --out "$work/g50-rank.json"
	measure "50 groups, sensitivity,fpr" "$work/ethos" eval "${in[@]}" "${g50[@]}" --bootstrap-metrics sensitivity,fpr --out "$work/g50-rates.json"
	measure "63 groups, every metric" "$work/ethos" eval "${in[@]}" "${full[@]}" --out "$work/full-all.json"
	measure "63 groups, auroc" "$work/ethos" eval "${in[@]}" "${full[@]}" --bootstrap-metrics auroc --out "$work/full-auroc.json"
done
# Identical values for the chosen metrics (and the fairness measures built
# from them) in the subset and the full reports.
/usr/bin/python3 - "$work" <<'PY'
import json, sys
w = sys.argv[1]
def load(n): return json.load(open(f"{w}/{n}.json"))
def groups(r):
    yield r["overall"]
    for gp in r["groupings"]:
        yield from gp["groups"]
bad = 0
for full, sub, ms in [("g50-all", "g50-auroc", ["auroc"]), ("g50-all", "g50-rank", ["auroc", "auprc"]),
                      ("g50-all", "g50-rates", ["sensitivity", "fpr"]), ("full-all", "full-auroc", ["auroc"])]:
    a, b = load(full), load(sub)
    n = 0
    for x, y in zip(groups(a), groups(b)):
        for m in ms:
            n += 1
            bad += x["metrics"][m] != y["metrics"][m]
    for ga, gb in zip(a["groupings"], b["groupings"]):
        for m in ms:
            n += 1
            bad += ga["aggregates"][m] != gb["aggregates"][m]
        for f in b["bootstrap"]["fairness"]:
            n += 1
            bad += ga["fairness"][f] != gb["fairness"][f]
    print(f"{sub}: {n} values compared with {full}, resampled {b['bootstrap']['metrics']}", file=sys.stderr)
print("differing values:", bad, file=sys.stderr)
sys.exit(1 if bad else 0)
PY
echo "machine: $(nproc) cores; load after: $(cut -d' ' -f1-3 /proc/loadavg)"
