// Package checks answers the framework's eleven ethical quality checks
// (QC-COL-1 … QC-DEP-3, ../shared/framework/quality-checks.json) for one
// project, from what the lifecycle stages recorded: the representation
// report, instance and consent records, the audit log, processing records,
// the training register, evaluation plans, attempts and sign-offs, and the
// deployment registry and monitoring.
//
// The package judges nothing the stages already judge. Where a stage
// computes an answer (the monitor's QC-DEP-1 status, the compliance
// checklist, the evaluation status of an attempt, a processing run's bias
// table, the consent re-check stored with a training run) the check reads
// that answer and names the record it came from. What the package adds is
// the roll-up: which records count for a check, how their answers combine
// into pass, fail, pending or needs-attestation, and the evidence list an
// auditor can look up (record ids, content digests, audit log positions and
// API paths).
//
// It imports the root package, the audit engine and its tree hashes
// (golang.org/x/mod/sumdb/tlog, for AuditLogVerifier) and the standard
// library; it reads the stages through the small reader interfaces
// declared here, which the sqlstore services and stage services satisfy.
package checks
