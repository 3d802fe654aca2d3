// Package checksbench measures how long answering a project's quality
// checks takes on a large project (docs/benchmarks-checks.md). The
// benchmark is in checks_test.go; run it with bench/checks/run.sh.
package checksbench
