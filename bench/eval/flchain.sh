#!/bin/sh
# Turns ../shared/testdata/tabular/flchain.csv into a predictions table for
# `ethos eval`: death (0/1) as the label, the total free light chain mapped
# monotonically to [0, 1] as the score, score = (kappa + lambda) /
# (kappa + lambda + 3), and the age band by decade (docs/metrics.md).
#
#   bench/eval/flchain.sh path/to/flchain.csv > flchain-scored.csv
set -eu
awk -F, 'NR == 1 { print "id,sex,age_band,death,score"; next }
{
	gsub(/"/, "", $2)
	age = $1 + 0
	band = age >= 80 ? "80+" : age >= 70 ? "70-79" : age >= 60 ? "60-69" : "50-59"
	x = $4 + $5
	printf "%d,%s,%s,%d,%.17g\n", NR - 1, $2, band, $10, x / (x + 3)
}' "${1:?usage: flchain.sh flchain.csv}"
