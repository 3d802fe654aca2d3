-- Evaluation stage: pre-registered plans (QC-EVA-2), the attempts that
-- upload predictions for them, and sign-offs. Rows are written once and
-- never changed: the triggers refuse updates and deletes, so an attempt
-- cannot silently replace another and a plan cannot move after its
-- pre-registration. Bodies are the JSON of the root types.

CREATE TABLE evaluation_plans (
	id               TEXT PRIMARY KEY,
	project_id       TEXT NOT NULL REFERENCES projects (id),
	model_version_id TEXT NOT NULL,
	body             TEXT NOT NULL,
	registered_at    BIGINT NOT NULL
);
CREATE INDEX evaluation_plans_project ON evaluation_plans (project_id, registered_at);
CREATE INDEX evaluation_plans_model ON evaluation_plans (model_version_id, registered_at);

CREATE TABLE evaluation_runs (
	id               TEXT PRIMARY KEY,
	plan_id          TEXT NOT NULL REFERENCES evaluation_plans (id),
	model_version_id TEXT NOT NULL,
	attempt          BIGINT NOT NULL CHECK (attempt >= 1),
	body             TEXT NOT NULL,
	result           TEXT NOT NULL,
	uploaded_at      BIGINT NOT NULL,
	UNIQUE (plan_id, attempt)
);
CREATE INDEX evaluation_runs_model ON evaluation_runs (model_version_id, uploaded_at);

CREATE TABLE evaluation_signoffs (
	id     TEXT PRIMARY KEY,
	run_id TEXT NOT NULL REFERENCES evaluation_runs (id),
	seq    BIGINT NOT NULL CHECK (seq >= 1),
	kind   TEXT NOT NULL CHECK (kind IN ('ethics-review', 'acknowledgement', 'waiver')),
	body   TEXT NOT NULL,
	at     BIGINT NOT NULL,
	UNIQUE (run_id, seq)
);

CREATE FUNCTION evaluation_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	RAISE EXCEPTION 'evaluation % rows are immutable', TG_TABLE_NAME;
END
$$;
CREATE TRIGGER evaluation_plans_immutable BEFORE UPDATE OR DELETE ON evaluation_plans
	FOR EACH ROW EXECUTE FUNCTION evaluation_immutable();
CREATE TRIGGER evaluation_runs_immutable BEFORE UPDATE OR DELETE ON evaluation_runs
	FOR EACH ROW EXECUTE FUNCTION evaluation_immutable();
CREATE TRIGGER evaluation_signoffs_immutable BEFORE UPDATE OR DELETE ON evaluation_signoffs
	FOR EACH ROW EXECUTE FUNCTION evaluation_immutable();
