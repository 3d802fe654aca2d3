#!/usr/bin/env bash
# Instruction counts of `ethos deid --sync none` under valgrind
# (cachegrind without cache simulation): user-space work only, which,
# unlike CPU time, hardly depends on the load of the shared machine.
# Counts are not time (cache misses cost cycles without instructions,
# and the kernel's share — copy_file_range, mkdir — is not counted):
# compare builds with them, next to CPU time from run.sh.
#
#   bench/deid/instr.sh CORPUS_DIR BINARY [BINARY…]
#
# Prints, per binary, the total and the functions with most instructions
# (summed over the source files a function's code was inlined from).
set -euo pipefail
in=$1; shift
work=$(mktemp -d /tmp/ethos-deid-instr.XXXXXX)
trap 'rm -rf "$work"' EXIT # also when a run fails (set -e)
head -c 32 /dev/urandom > "$work/key"
for bin in "$@"; do
	valgrind --tool=cachegrind --cache-sim=no --cachegrind-out-file="$work/cg.out" \
		"$bin" deid --in "$in" --out "$work/out" --key-file "$work/key" --sync none > "$work/log" 2> "$work/vg.log"
	total=$(grep -E 'I +refs' "$work/vg.log" | awk '{print $NF}')
	echo "## $bin: $total instructions"
	awk '/^fn=/ {fn = substr($0, 4); next}
		/^[0-9]/ && fn != "" {s[fn] += $2}
		END {for (f in s) printf "%14d %s\n", s[f], f}' "$work/cg.out" | sort -rn | head -"${TOP:-25}"
	echo
	rm -rf "$work/out"
done
