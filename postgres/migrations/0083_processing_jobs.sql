-- Jobs of processing runs started through the API (docs/processing.md,
-- "Jobs"): one row per job, written when it starts, its counts rewritten
-- at most every few seconds while it runs, and finished once (done with
-- the record's id, or failed with the error). A job left running by a
-- server that stopped is failed by the next one. No patient data: the
-- project, the user who started it, the request and the hash of its
-- specification (never the secret).
CREATE TABLE processing_jobs (
	id          TEXT PRIMARY KEY, -- the id the run's record gets
	project_id  TEXT NOT NULL,
	purpose     TEXT NOT NULL,
	started_by  TEXT NOT NULL,
	request_id  TEXT NOT NULL,
	spec_hash   TEXT NOT NULL,
	state       TEXT NOT NULL CHECK (state IN ('running', 'done', 'failed')),
	done        BIGINT NOT NULL,
	total       BIGINT NOT NULL,
	error_code  TEXT NOT NULL,
	error       TEXT NOT NULL,
	run_id      TEXT NOT NULL, -- '' until the record is stored
	started_at  BIGINT NOT NULL,
	updated_at  BIGINT NOT NULL, -- progress last written (the job's heartbeat)
	finished_at BIGINT NOT NULL  -- 0 while running
);
CREATE INDEX processing_jobs_project ON processing_jobs (project_id, started_at);
CREATE INDEX processing_jobs_running ON processing_jobs (state, updated_at);
