#!/usr/bin/env bash
# Runs every benchmark against its peer tool and leaves the raw reports in
# bench/out/ (ignored by git). docs/benchmarks.md summarises the ratios and
# links to each area's page; re-measure there after changing a number.
#
#   make bench            # everything (takes several minutes)
#   bench/run.sh deid     # one area: audit consent deid dicom drift eval
set -euo pipefail
cd "$(dirname "$0")/.."
out=bench/out
mkdir -p "$out"
areas=("$@")
[ ${#areas[@]} -gt 0 ] || areas=(audit consent dicom drift eval deid)
for a in "${areas[@]}"; do
	echo "== $a ($(date -u +%T), load $(cut -d' ' -f1-3 /proc/loadavg))"
	case $a in
	audit | consent) bash "bench/$a/run.sh" | tee "$out/$a.txt" ;;
	eval) bash bench/eval/run.sh "$out/eval-work" | tee "$out/eval.md" ;;
	deid) bash bench/deid/run.sh "$out/deid-work" | tee "$out/deid.md" ;;
	dicom) go run ./bench/dicom | tee "$out/dicom.md" ;;
	drift) go run ./bench/drift -out "$out/drift" | tee "$out/drift.md" ;;
	*) echo "unknown area $a" >&2; exit 2 ;;
	esac
done
