// Package audit is Ethos's tamper-evident audit log.
//
// Every state change and every access decision (allow and deny) becomes an
// Event, encoded in one canonical byte form (RFC 8785 JSON, see
// Event.MarshalCanonical). Each encoded event is a leaf of an RFC 6962
// Merkle tree kept with golang.org/x/mod/sumdb/tlog; the tree's head (size
// and root hash) is signed with Ed25519 in the sumdb note format. From
// these an outside auditor can check that one event is in the log
// (VerifyInclusion), that a later log extends an earlier one without
// rewriting it (VerifyConsistency), and that a whole stored log or a JSON
// lines export is intact (Verify, VerifyExport), with the first bad index
// named when it is not.
//
// Log is the writer. Appends are group-committed: events from concurrent
// callers are written in one Storage.Append (one fsync) and each caller
// returns only after its event is durable.
//
// The package is a generic engine: it imports only the standard library
// and golang.org/x/mod/sumdb, never the Ethos vocabulary. Events must never
// carry patient identifiers; the log cannot tell, so callers must not put
// them there. The framework checks that rely on it include QC-COL-2 (every
// access is in the audit log) and QC-TRA-1 (training decisions tracked).
package audit
