-- Consent-gated ingest (PostgreSQL): the same tables and columns as
-- sqlite/migrations/0020_collection.sql. Consents are kept whole as JSON
-- (the FHIR-shaped record) beside the columns queries filter on; times are
-- Unix nanoseconds.

CREATE TABLE consents (
	id         TEXT PRIMARY KEY,
	subject    TEXT NOT NULL CHECK (length(subject) = 64),
	status     TEXT NOT NULL,
	purposes   TEXT NOT NULL, -- ",a,b," for LIKE matching
	body       TEXT NOT NULL, -- JSON of ethos.Consent
	created_at BIGINT NOT NULL,
	updated_at BIGINT NOT NULL
);
CREATE INDEX consents_subject ON consents (subject);

CREATE TABLE subject_links (
	subject    TEXT PRIMARY KEY CHECK (length(subject) = 64),
	sealed     BYTEA NOT NULL,
	created_at BIGINT NOT NULL
);

CREATE TABLE instances (
	id               TEXT PRIMARY KEY,
	project_id       TEXT NOT NULL,
	sop_instance_uid TEXT NOT NULL,
	subject          TEXT NOT NULL,
	modality         TEXT NOT NULL,
	body_part        TEXT NOT NULL,
	acquired_at      BIGINT,
	status           TEXT NOT NULL CHECK (status IN ('stored', 'quarantined', 'withdrawn', 'erased')),
	reason           TEXT NOT NULL,
	detail           TEXT NOT NULL,
	consent_id       TEXT NOT NULL,
	blob_digest      TEXT NOT NULL,
	blob_size        BIGINT NOT NULL,
	source           TEXT NOT NULL,
	received_at      BIGINT NOT NULL,
	received_by      TEXT NOT NULL
);
-- One kept copy of an instance per project; quarantine records repeat.
CREATE UNIQUE INDEX instances_kept ON instances (project_id, sop_instance_uid) WHERE status <> 'quarantined';
CREATE INDEX instances_subject ON instances (subject);
CREATE INDEX instances_project ON instances (project_id, status);

CREATE TABLE collection_rules (
	project_id TEXT PRIMARY KEY,
	body       TEXT NOT NULL, -- JSON of ethos.CollectionRules
	updated_at BIGINT NOT NULL
);
