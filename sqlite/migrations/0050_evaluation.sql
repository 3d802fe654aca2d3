-- Evaluation stage: pre-registered plans (QC-EVA-2), the attempts that
-- upload predictions for them, and sign-offs. Rows are written once and
-- never changed: the triggers refuse updates and deletes, so an attempt
-- cannot silently replace another and a plan cannot move after its
-- pre-registration. Bodies are the JSON of the root types.

CREATE TABLE evaluation_plans (
	id               TEXT PRIMARY KEY,
	project_id       TEXT NOT NULL REFERENCES projects (id),
	model_version_id TEXT NOT NULL,
	body             TEXT NOT NULL, -- JSON of ethos.EvaluationPlan
	registered_at    INTEGER NOT NULL
);
CREATE INDEX evaluation_plans_project ON evaluation_plans (project_id, registered_at);
CREATE INDEX evaluation_plans_model ON evaluation_plans (model_version_id, registered_at);

CREATE TABLE evaluation_runs (
	id               TEXT PRIMARY KEY,
	plan_id          TEXT NOT NULL REFERENCES evaluation_plans (id),
	model_version_id TEXT NOT NULL,
	attempt          INTEGER NOT NULL CHECK (attempt >= 1),
	body             TEXT NOT NULL, -- JSON of ethos.EvaluationRun without result
	result           TEXT NOT NULL, -- the evalstat report
	uploaded_at      INTEGER NOT NULL,
	UNIQUE (plan_id, attempt)
);
CREATE INDEX evaluation_runs_model ON evaluation_runs (model_version_id, uploaded_at);

CREATE TABLE evaluation_signoffs (
	id     TEXT PRIMARY KEY,
	run_id TEXT NOT NULL REFERENCES evaluation_runs (id),
	seq    INTEGER NOT NULL CHECK (seq >= 1),
	kind   TEXT NOT NULL CHECK (kind IN ('ethics-review', 'acknowledgement', 'waiver')),
	body   TEXT NOT NULL, -- JSON of ethos.EvaluationSignoff
	at     INTEGER NOT NULL,
	UNIQUE (run_id, seq)
);

CREATE TRIGGER evaluation_plans_no_update BEFORE UPDATE ON evaluation_plans
BEGIN SELECT RAISE(ABORT, 'evaluation plans are immutable'); END;
CREATE TRIGGER evaluation_plans_no_delete BEFORE DELETE ON evaluation_plans
BEGIN SELECT RAISE(ABORT, 'evaluation plans are immutable'); END;
CREATE TRIGGER evaluation_runs_no_update BEFORE UPDATE ON evaluation_runs
BEGIN SELECT RAISE(ABORT, 'evaluation attempts are immutable'); END;
CREATE TRIGGER evaluation_runs_no_delete BEFORE DELETE ON evaluation_runs
BEGIN SELECT RAISE(ABORT, 'evaluation attempts are immutable'); END;
CREATE TRIGGER evaluation_signoffs_no_update BEFORE UPDATE ON evaluation_signoffs
BEGIN SELECT RAISE(ABORT, 'evaluation sign-offs are immutable'); END;
CREATE TRIGGER evaluation_signoffs_no_delete BEFORE DELETE ON evaluation_signoffs
BEGIN SELECT RAISE(ABORT, 'evaluation sign-offs are immutable'); END;
