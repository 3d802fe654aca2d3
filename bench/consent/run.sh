#!/usr/bin/env bash
# Runs the consent engine and FHIR parser benchmarks (consent/bench_test.go)
# and prints the raw `go test -bench` output, five runs each, for
# docs/benchmarks-consent.md.
set -euo pipefail
cd "$(dirname "$0")/../.."
echo "# $(date -u +%FT%TZ) $(go version) $(nproc) CPUs, load: $(cut -d' ' -f1-3 /proc/loadavg)"
go test -run '^$' -bench . -benchmem -count "${COUNT:-5}" ./consent
