#!/usr/bin/env bash
# Runs the audit benchmarks and prints the results (see
# docs/benchmarks-audit.md for how to read them). The stores are created in
# $TMPDIR (default /tmp): run it on the disk you mean to measure.
set -euo pipefail
cd "$(dirname "$0")/../.."
echo "# $(date -u +%FT%TZ) $(go version) $(nproc) CPUs, load: $(cut -d' ' -f1-3 /proc/loadavg)"
go test ./bench/audit/ -run '^$' -bench 'Fsync' -benchtime 200x
go test ./bench/audit/ -run '^$' -bench 'DurableAppend' -benchtime 3s
go test ./bench/audit/ -run '^$' -bench 'Verify1M' -benchtime 3x
