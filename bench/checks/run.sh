#!/usr/bin/env bash
# Answers the quality checks of a project of $ETHOS_CHECKS_BENCH_N
# instances (default 100,000) in SQLite (docs/benchmarks-checks.md). The
# fixture is built in a temporary directory on every run (under a minute
# for 10^5 instances) and removed at the end.
set -euo pipefail
cd "$(dirname "$0")/../.."
echo "# $(date -u +%FT%TZ) $(go version) $(nproc) CPUs, load: $(cut -d' ' -f1-3 /proc/loadavg)"
go test -c -o "${TMPDIR:-/tmp}/checksbench.test" ./bench/checks/
/usr/bin/time -v "${TMPDIR:-/tmp}/checksbench.test" -test.run '^$' -test.bench 'ProjectChecks' -test.benchtime 5x -test.v 2>&1 |
	grep -E 'fixture|ns/op|User time|System time|Maximum resident'
echo "# load after: $(cut -d' ' -f1-3 /proc/loadavg)"
