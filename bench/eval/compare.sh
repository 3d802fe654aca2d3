#!/usr/bin/env bash
# Runs two builds of ethos alternately on the same tables and prints, per
# case, the minimum CPU seconds (user + system), the minimum wall seconds
# and the largest peak RSS over ROUNDS rounds (default 3), with the load
# average before and after. Alternating in the same minutes is the fairest
# comparison on a shared machine.
#
#   bench/eval/compare.sh WORKDIR BIN_A BIN_B    (WORKDIR holds rowsN.csv from run.sh)
set -euo pipefail
work=$1 a=$2 b=$3
rounds=${ROUNDS:-3}
full=(--label label --score score --group sex --group age_band --group race --intersect --prevalence 0.1)
cases=(
	"10^6 rows, full, no bootstrap|rows1000000.csv|${full[*]}"
	"10^7 rows, full, no bootstrap|rows10000000.csv|${full[*]}"
)
[ -n "${SKIP_1E7:-}" ] && unset 'cases[1]'
echo "| case | A CPU s | A wall s | A RSS MB | B CPU s | B wall s | B RSS MB | load before → after |"
echo "|---|---|---|---|---|---|---|---|"
for c in "${cases[@]}"; do
	IFS='|' read -r name file args <<< "$c"
	declare -A cpu=() wall=() rss=()
	l0=$(cut -d' ' -f1 /proc/loadavg)
	for _ in $(seq "$rounds"); do
		for k in A B; do
			bin=$a; [ $k = B ] && bin=$b
			# shellcheck disable=SC2086
			/usr/bin/time -f '%U %S %e %M' -o "$work/cmp.time" "$bin" eval --in "$work/$file" $args --out "$work/cmp-$k.json"
			read -r u s e m < "$work/cmp.time"
			t=$(echo "$u + $s" | bc)
			if [ -z "${cpu[$k]:-}" ] || (( $(echo "$t < ${cpu[$k]}" | bc) )); then cpu[$k]=$t; fi
			if [ -z "${wall[$k]:-}" ] || (( $(echo "$e < ${wall[$k]}" | bc) )); then wall[$k]=$e; fi
			if [ -z "${rss[$k]:-}" ] || (( m > ${rss[$k]} )); then rss[$k]=$m; fi
		done
	done
	l1=$(cut -d' ' -f1 /proc/loadavg)
	printf '| %s | %.2f | %.2f | %d | %.2f | %.2f | %d | %s → %s |\n' "$name" "${cpu[A]}" "${wall[A]}" "$((rss[A] / 1024))" "${cpu[B]}" "${wall[B]}" "$((rss[B] / 1024))" "$l0" "$l1"
	unset cpu wall rss
done
