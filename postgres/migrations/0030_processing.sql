-- Processing stage: processing runs (QC-PRO-1) with one row per input
-- instance, and dataset versions built from run outputs. Records are kept
-- whole as JSON with the columns queries filter on beside them. Dataset
-- versions are immutable: rows are inserted, never updated.

CREATE TABLE processing_runs (
	id          TEXT PRIMARY KEY,
	project_id  TEXT NOT NULL,
	started_at  BIGINT NOT NULL,
	body        TEXT NOT NULL -- JSON of ethos.ProcessingRun without items
);
CREATE INDEX processing_runs_project ON processing_runs (project_id, started_at);

CREATE TABLE processing_items (
	run_id      TEXT NOT NULL REFERENCES processing_runs (id),
	seq         BIGINT NOT NULL,
	instance_id TEXT NOT NULL,
	subject     TEXT NOT NULL CHECK (length(subject) = 64),
	status      TEXT NOT NULL CHECK (status IN ('written', 'quarantined')),
	body        TEXT NOT NULL, -- JSON of ethos.ProcessingItem
	PRIMARY KEY (run_id, instance_id)
);
CREATE INDEX processing_items_subject ON processing_items (subject);

CREATE TABLE dataset_versions (
	id          TEXT PRIMARY KEY, -- SHA-256 of the canonical manifest
	project_id  TEXT NOT NULL,
	run_id      TEXT NOT NULL REFERENCES processing_runs (id),
	parent_id   TEXT NOT NULL,
	created_at  BIGINT NOT NULL,
	created_by  TEXT NOT NULL,
	body        TEXT NOT NULL -- JSON of ethos.DatasetVersion with its manifest
);
CREATE INDEX dataset_versions_project ON dataset_versions (project_id, created_at);

CREATE TABLE dataset_members (
	version_id  TEXT NOT NULL REFERENCES dataset_versions (id),
	instance_id TEXT NOT NULL,
	subject     TEXT NOT NULL CHECK (length(subject) = 64),
	PRIMARY KEY (version_id, instance_id)
);
CREATE INDEX dataset_members_subject ON dataset_members (subject);

CREATE TABLE dataset_splits (
	id          TEXT PRIMARY KEY,
	version_id  TEXT NOT NULL REFERENCES dataset_versions (id),
	created_at  BIGINT NOT NULL,
	body        TEXT NOT NULL -- JSON of ethos.DatasetSplit
);
CREATE INDEX dataset_splits_version ON dataset_splits (version_id);
