-- Ethos schema, version 1. Times are Unix nanoseconds (UTC); lists are
-- comma-separated words from closed vocabularies.

CREATE TABLE parties (
	id         TEXT PRIMARY KEY,
	name       TEXT NOT NULL UNIQUE,
	type       TEXT NOT NULL CHECK (type IN ('public', 'private', 'third_party')),
	created_at INTEGER NOT NULL
);

CREATE TABLE users (
	id         TEXT PRIMARY KEY,
	party_id   TEXT NOT NULL REFERENCES parties (id),
	name       TEXT NOT NULL,
	roles      TEXT NOT NULL,
	disabled   INTEGER NOT NULL DEFAULT 0,
	created_at INTEGER NOT NULL
);
CREATE INDEX users_party ON users (party_id);

CREATE TABLE tokens (
	id           TEXT PRIMARY KEY,
	user_id      TEXT NOT NULL REFERENCES users (id),
	name         TEXT NOT NULL,
	hash         BLOB NOT NULL UNIQUE CHECK (length(hash) = 32),
	created_at   INTEGER NOT NULL,
	expires_at   INTEGER NOT NULL,
	revoked_at   INTEGER,
	last_used_at INTEGER
);
CREATE INDEX tokens_user ON tokens (user_id);

CREATE TABLE projects (
	id               TEXT PRIMARY KEY,
	name             TEXT NOT NULL,
	intended_use     TEXT NOT NULL,
	modality         TEXT NOT NULL,
	clinical_setting TEXT NOT NULL,
	party_id         TEXT NOT NULL REFERENCES parties (id),
	stage            TEXT NOT NULL,
	created_at       INTEGER NOT NULL,
	updated_at       INTEGER NOT NULL
);

CREATE TABLE stage_changes (
	project_id TEXT NOT NULL REFERENCES projects (id),
	seq        INTEGER NOT NULL,
	from_stage TEXT NOT NULL,
	to_stage   TEXT NOT NULL,
	at         INTEGER NOT NULL,
	by_user    TEXT NOT NULL,
	reason     TEXT NOT NULL,
	PRIMARY KEY (project_id, seq)
);

CREATE TABLE duas (
	id           TEXT PRIMARY KEY,
	party_id     TEXT NOT NULL REFERENCES parties (id),
	project_id   TEXT NOT NULL REFERENCES projects (id),
	stages       TEXT NOT NULL,
	purposes     TEXT NOT NULL,
	views        TEXT NOT NULL,
	expires_at   INTEGER NOT NULL,
	approved_by  TEXT NOT NULL REFERENCES users (id),
	reference    TEXT NOT NULL,
	created_at   INTEGER NOT NULL,
	revoked_at   INTEGER,
	last_used_at INTEGER
);
CREATE INDEX duas_party_project ON duas (party_id, project_id);

CREATE TABLE stage_records (
	id           TEXT PRIMARY KEY,
	project_id   TEXT NOT NULL REFERENCES projects (id),
	stage        TEXT NOT NULL,
	kind         TEXT NOT NULL,
	identifiable INTEGER NOT NULL,
	body         BLOB NOT NULL,
	created_by   TEXT NOT NULL,
	created_at   INTEGER NOT NULL
);
CREATE INDEX stage_records_project ON stage_records (project_id, stage, created_at);

-- The audit log (audit.Storage): one row per leaf index, so each event
-- can be inspected (and, in a test, tampered with) on its own. The Merkle
-- tree's stored hashes are kept 256 to a row (chunk c holds stored hashes
-- [256c, 256c+256), 32 bytes each, concatenated): they are derived data
-- that Verify recomputes, and chunking cuts the rows read by a full
-- verification by two thirds.
CREATE TABLE audit_leaves (
	idx  INTEGER PRIMARY KEY,
	data BLOB NOT NULL
);
CREATE TABLE audit_hash_chunks (
	chunk  INTEGER PRIMARY KEY,
	hashes BLOB NOT NULL
);
CREATE TABLE audit_checkpoints (
	size   INTEGER PRIMARY KEY,
	signed BLOB NOT NULL
);
