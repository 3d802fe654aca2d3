-- Ethos schema, version 1. Times are UTC text in a fixed-width form
-- (2006-01-02T15:04:05.000000000Z) so they compare as strings.
CREATE TABLE parties (
	id         TEXT PRIMARY KEY,
	name       TEXT NOT NULL UNIQUE,
	type       TEXT NOT NULL CHECK (type IN ('public', 'private', 'third_party')),
	created_at TEXT NOT NULL,
	updated_at TEXT NOT NULL
);

CREATE TABLE users (
	id         TEXT PRIMARY KEY,
	party_id   TEXT NOT NULL REFERENCES parties (id),
	name       TEXT NOT NULL,
	roles      TEXT NOT NULL, -- JSON array of role names
	disabled   INTEGER NOT NULL DEFAULT 0,
	created_at TEXT NOT NULL,
	updated_at TEXT NOT NULL
);
CREATE INDEX users_party ON users (party_id);

CREATE TABLE tokens (
	id           TEXT PRIMARY KEY,
	user_id      TEXT NOT NULL REFERENCES users (id),
	name         TEXT NOT NULL,
	hash         TEXT NOT NULL UNIQUE, -- hex SHA-256 of the secret; the secret is never stored
	created_at   TEXT NOT NULL,
	expires_at   TEXT NOT NULL,
	revoked_at   TEXT,
	last_used_at TEXT
);
CREATE INDEX tokens_user ON tokens (user_id);

CREATE TABLE projects (
	id               TEXT PRIMARY KEY,
	name             TEXT NOT NULL UNIQUE,
	intended_use     TEXT NOT NULL,
	modality         TEXT NOT NULL,
	clinical_setting TEXT NOT NULL,
	stage            TEXT NOT NULL,
	created_at       TEXT NOT NULL,
	updated_at       TEXT NOT NULL
);

CREATE TABLE stage_history (
	seq        INTEGER PRIMARY KEY AUTOINCREMENT,
	project_id TEXT NOT NULL REFERENCES projects (id),
	from_stage TEXT NOT NULL,
	to_stage   TEXT NOT NULL,
	by_actor   TEXT NOT NULL,
	reason     TEXT NOT NULL,
	at         TEXT NOT NULL
);
CREATE INDEX stage_history_project ON stage_history (project_id, seq);

CREATE TABLE stage_records (
	id         TEXT PRIMARY KEY,
	project_id TEXT NOT NULL REFERENCES projects (id),
	stage      TEXT NOT NULL,
	kind       TEXT NOT NULL,
	title      TEXT NOT NULL,
	view       TEXT NOT NULL CHECK (view IN ('identified', 'deidentified', 'aggregate')),
	body       BLOB,
	created_by TEXT NOT NULL,
	created_at TEXT NOT NULL
);
CREATE INDEX stage_records_project ON stage_records (project_id, stage, created_at);

CREATE TABLE duas (
	id           TEXT PRIMARY KEY,
	party_id     TEXT NOT NULL REFERENCES parties (id),
	project_id   TEXT NOT NULL REFERENCES projects (id),
	stages       TEXT NOT NULL, -- JSON arrays
	purposes     TEXT NOT NULL,
	views        TEXT NOT NULL,
	expires_at   TEXT NOT NULL,
	approved_by  TEXT NOT NULL,
	reference    TEXT NOT NULL,
	created_at   TEXT NOT NULL,
	revoked_at   TEXT,
	last_used_at TEXT
);
CREATE INDEX duas_party_project ON duas (party_id, project_id);

-- The audit log: one row per leaf index and per stored Merkle hash, so an
-- auditor can inspect single rows (and a test can tamper with them).
CREATE TABLE audit_leaves (
	idx  INTEGER PRIMARY KEY,
	data BLOB NOT NULL
);
CREATE TABLE audit_hashes (
	idx  INTEGER PRIMARY KEY,
	hash BLOB NOT NULL
);
CREATE TABLE audit_checkpoints (
	size   INTEGER PRIMARY KEY,
	signed BLOB NOT NULL
);
