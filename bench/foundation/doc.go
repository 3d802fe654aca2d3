// Package foundation holds the benchmarks of the foundation measured
// against the real SQLite store: durable, group-committed audit appends,
// verification of a 10^6-event log, and the HTTP path of one request.
// Results and method: docs/benchmarks-foundation.md.
package foundation
