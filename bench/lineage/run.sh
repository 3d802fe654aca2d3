#!/usr/bin/env bash
# Runs the lineage benchmarks on SQLite and, when $ETHOS_TEST_POSTGRES is
# set, PostgreSQL (docs/benchmarks-lineage.md). The first run builds the
# 10^6-instance graph (about a minute per database) and keeps it: the
# SQLite file in $ETHOS_LINEAGE_BENCH_DIR (default $TMPDIR/ethos-lineage-bench),
# the PostgreSQL schema ethos_lineage_bench.
set -euo pipefail
cd "$(dirname "$0")/../.."
echo "# $(date -u +%FT%TZ) $(go version) $(nproc) CPUs, load: $(cut -d' ' -f1-3 /proc/loadavg)"
go test ./bench/lineage/ -run '^$' -bench 'Lineage/' -benchtime 20x -timeout 60m -v | grep -E 'graph built|ns/op'
go test ./bench/lineage/ -run '^$' -bench 'RecordDatasetMembers|WalkRecordedGraph' -benchtime 5x | grep -E 'ns/op'
echo "# load after: $(cut -d' ' -f1-3 /proc/loadavg)"
