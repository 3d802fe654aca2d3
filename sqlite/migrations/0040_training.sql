-- Training stage: the provenance graph (lineage), the training-run
-- register with the model versions runs produce, and the obligations a
-- consent withdrawal opens on dataset and model versions.

-- Nodes of the provenance graph, numbered so that edges stay small (a
-- graph of 10^6 instances has several million edges).
CREATE TABLE lineage_nodes (
	id   INTEGER PRIMARY KEY,
	kind TEXT NOT NULL,
	ref  TEXT NOT NULL,
	UNIQUE (kind, ref)
);

-- Edges point from the later node to the earlier (PROV). rel: 1 used,
-- 2 wasGeneratedBy, 3 wasDerivedFrom, 4 wasAttributedTo, 5 wasAssociatedWith.
CREATE TABLE lineage_edges (
	src INTEGER NOT NULL,
	rel INTEGER NOT NULL,
	dst INTEGER NOT NULL,
	at  INTEGER NOT NULL,
	PRIMARY KEY (src, rel, dst)
) WITHOUT ROWID;
CREATE INDEX lineage_edges_dst ON lineage_edges (dst, rel, src);

-- Indexed closure for the question asked most: the subjects a dataset
-- version derives from. Kept complete by the lineage service on every
-- recorded derivation (sets only grow: edges are never removed), so
-- "which subjects are behind this model?" reads one set instead of
-- walking every instance of the dataset.
-- One row that every lineage write updates first: writers take turns, so
-- a derivation recorded in one transaction is seen by the subject-set
-- update of the next (in PostgreSQL, READ COMMITTED would otherwise let
-- two concurrent batches each miss the other's half of a path).
CREATE TABLE lineage_writes (
	id     INTEGER PRIMARY KEY CHECK (id = 1),
	writes INTEGER NOT NULL
);
INSERT INTO lineage_writes (id, writes) VALUES (1, 0);

CREATE TABLE lineage_subject_sets (
	node    INTEGER NOT NULL, -- a dataset-version node
	subject INTEGER NOT NULL, -- a subject node
	PRIMARY KEY (node, subject)
) WITHOUT ROWID;

CREATE TABLE training_runs (
	id              TEXT PRIMARY KEY,
	project_id      TEXT NOT NULL,
	dataset_version TEXT NOT NULL,
	status          TEXT NOT NULL CHECK (status IN ('registered', 'signed-off', 'rejected')),
	model_version   TEXT NOT NULL UNIQUE,
	registered_at   INTEGER NOT NULL,
	body            TEXT NOT NULL -- JSON of ethos.TrainingRun
);
CREATE INDEX training_runs_project ON training_runs (project_id, registered_at);
CREATE INDEX training_runs_dataset ON training_runs (dataset_version);

CREATE TABLE model_versions (
	id              TEXT PRIMARY KEY,
	project_id      TEXT NOT NULL,
	name            TEXT NOT NULL,
	run_id          TEXT NOT NULL UNIQUE,
	dataset_version TEXT NOT NULL,
	sha256          TEXT NOT NULL CHECK (length(sha256) = 64),
	status          TEXT NOT NULL CHECK (status IN ('active', 'retired')),
	created_at      INTEGER NOT NULL
);
CREATE INDEX model_versions_project ON model_versions (project_id);

CREATE TABLE obligations (
	id          TEXT PRIMARY KEY,
	project_id  TEXT NOT NULL,
	target_kind TEXT NOT NULL CHECK (target_kind IN ('dataset-version', 'model-version')),
	target_id   TEXT NOT NULL,
	subject     TEXT NOT NULL CHECK (length(subject) = 64),
	cause       TEXT NOT NULL,
	status      TEXT NOT NULL CHECK (status IN ('open', 'resolved')),
	opened_at   INTEGER NOT NULL,
	opened_by   TEXT NOT NULL,
	resolution  TEXT, -- JSON of ethos.ObligationResolution once resolved
	UNIQUE (target_kind, target_id, subject, cause)
);
CREATE INDEX obligations_status ON obligations (status, opened_at);
CREATE INDEX obligations_project ON obligations (project_id, status);
CREATE INDEX obligations_subject ON obligations (subject);
