-- Deployment stage (issue 7): deployments and their change log with
-- acknowledgements, the risk register per deployment, incidents, compliance
-- attestations, and the inference events and ground-truth labels a clinic
-- sends. Events hold no patient identifiers: a pseudonymous case id and the
-- attributes de-identification keeps.

CREATE TABLE deployments (
	id                TEXT PRIMARY KEY,
	project_id        TEXT NOT NULL REFERENCES projects (id),
	model_version_id  TEXT NOT NULL,
	evaluation_id     TEXT NOT NULL,
	site              TEXT NOT NULL,
	intended_use      TEXT NOT NULL,
	threshold         REAL    NOT NULL,
	responsible       TEXT NOT NULL,
	plan              TEXT NOT NULL, -- JSON object, as given
	stakeholder_roles TEXT NOT NULL,
	status            TEXT NOT NULL CHECK (status IN ('registered', 'live', 'suspended', 'retired')),
	revision          INTEGER NOT NULL,
	created_by        TEXT NOT NULL,
	created_at        INTEGER NOT NULL,
	updated_at        INTEGER NOT NULL,
	live_at           INTEGER
);
CREATE INDEX deployments_project ON deployments (project_id);

CREATE TABLE deployment_changes (
	deployment_id   TEXT NOT NULL REFERENCES deployments (id),
	seq             INTEGER NOT NULL,
	kind            TEXT NOT NULL,
	from_value      TEXT NOT NULL,
	to_value        TEXT NOT NULL,
	reason          TEXT NOT NULL,
	expected_effect TEXT NOT NULL,
	notified        TEXT NOT NULL,
	by_user         TEXT NOT NULL,
	at              INTEGER NOT NULL,
	PRIMARY KEY (deployment_id, seq)
);

CREATE TABLE deployment_change_acks (
	deployment_id TEXT NOT NULL,
	seq           INTEGER NOT NULL,
	user_id       TEXT NOT NULL,
	role          TEXT NOT NULL,
	at            INTEGER NOT NULL,
	PRIMARY KEY (deployment_id, seq, user_id, role),
	FOREIGN KEY (deployment_id, seq) REFERENCES deployment_changes (deployment_id, seq)
);

CREATE TABLE risk_registers (
	deployment_id TEXT PRIMARY KEY REFERENCES deployments (id),
	revision      INTEGER NOT NULL,
	body          TEXT NOT NULL, -- JSON of ethos.RiskRegister
	updated_at    INTEGER NOT NULL
);

CREATE TABLE incidents (
	id            TEXT PRIMARY KEY,
	deployment_id TEXT NOT NULL REFERENCES deployments (id),
	status        TEXT NOT NULL,
	aware_at      INTEGER NOT NULL,
	body          TEXT NOT NULL, -- JSON of ethos.Incident
	created_at    INTEGER NOT NULL,
	updated_at    INTEGER NOT NULL
);
CREATE INDEX incidents_deployment ON incidents (deployment_id, aware_at);

CREATE TABLE compliance_attestations (
	deployment_id TEXT NOT NULL REFERENCES deployments (id),
	item_id       TEXT NOT NULL,
	user_id       TEXT NOT NULL,
	role          TEXT NOT NULL,
	at            INTEGER NOT NULL,
	reason        TEXT NOT NULL,
	waiver        BOOLEAN NOT NULL,
	PRIMARY KEY (deployment_id, item_id, user_id, at)
);

-- One row per event; (deployment_id, event_id) is the idempotency key.
-- digest is the SHA-256 of the event's canonical content, to tell a replay
-- from a different event reusing an id. No foreign key: the ingest path
-- checks the deployment once per batch.
CREATE TABLE inference_events (
	deployment_id    TEXT NOT NULL,
	event_id         TEXT NOT NULL,
	t                INTEGER NOT NULL,
	case_id          TEXT NOT NULL,
	site             TEXT NOT NULL,
	score            REAL    NOT NULL,
	decision         BOOLEAN NOT NULL,
	latency_ms       REAL   ,
	reader_action    TEXT NOT NULL,
	sex              TEXT NOT NULL,
	age_band         TEXT NOT NULL,
	manufacturer     TEXT NOT NULL,
	model_name       TEXT NOT NULL,
	software_version TEXT NOT NULL,
	body_part        TEXT NOT NULL,
	protocol         TEXT NOT NULL,
	modality         TEXT NOT NULL,
	institution      TEXT NOT NULL,
	kvp              REAL   ,
	slice_thickness  REAL   ,
	pixel_spacing    REAL   ,
	digest           TEXT NOT NULL,
	received_at      INTEGER NOT NULL,
	PRIMARY KEY (deployment_id, event_id)
);
CREATE INDEX inference_events_time ON inference_events (deployment_id, t);
CREATE INDEX inference_events_case ON inference_events (deployment_id, case_id);

-- Ground truth per case, the latest label wins.
CREATE TABLE event_labels (
	deployment_id TEXT NOT NULL,
	case_id       TEXT NOT NULL,
	positive      BOOLEAN NOT NULL,
	source        TEXT NOT NULL,
	at            INTEGER NOT NULL,
	recorded_by   TEXT NOT NULL,
	PRIMARY KEY (deployment_id, case_id)
);
