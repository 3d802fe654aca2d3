-- Inference events keyed by a small integer per deployment instead of the
-- deployment's 36-character id (docs/benchmarks-deploy.md). The id was the
-- first column of the table's key and of both indexes, so every event
-- stored it four times and every step down those B-trees compared it; a
-- deployment's events now carry its number (event_deployments). Same
-- columns otherwise, same keys: (dkey, event_id) is the idempotency key,
-- (dkey, t) serves the monitor's time windows, (dkey, case_id) the ground
-- truth. Numbers are given in the order of the ids of deployments that
-- already have events; new ones take the next number when their first
-- event is stored.

CREATE TABLE event_deployments (
	deployment_id TEXT PRIMARY KEY,
	dkey          BIGINT NOT NULL UNIQUE
);
INSERT INTO event_deployments (deployment_id, dkey)
	SELECT deployment_id, ROW_NUMBER() OVER (ORDER BY deployment_id)
	FROM (SELECT DISTINCT deployment_id FROM inference_events) d;

CREATE TABLE inference_events_keyed (
	dkey             BIGINT NOT NULL,
	event_id         TEXT NOT NULL,
	t                BIGINT NOT NULL,
	case_id          TEXT NOT NULL,
	site             TEXT NOT NULL,
	score            DOUBLE PRECISION NOT NULL,
	decision         BOOLEAN NOT NULL,
	latency_ms       DOUBLE PRECISION,
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
	kvp              DOUBLE PRECISION,
	slice_thickness  DOUBLE PRECISION,
	pixel_spacing    DOUBLE PRECISION,
	digest           TEXT NOT NULL,
	received_at      BIGINT NOT NULL,
	PRIMARY KEY (dkey, event_id)
);
INSERT INTO inference_events_keyed (dkey, event_id, t, case_id, site, score, decision, latency_ms, reader_action, sex, age_band,
		manufacturer, model_name, software_version, body_part, protocol, modality, institution, kvp, slice_thickness, pixel_spacing, digest, received_at)
	SELECT k.dkey, e.event_id, e.t, e.case_id, e.site, e.score, e.decision, e.latency_ms, e.reader_action, e.sex, e.age_band,
		e.manufacturer, e.model_name, e.software_version, e.body_part, e.protocol, e.modality, e.institution, e.kvp, e.slice_thickness, e.pixel_spacing, e.digest, e.received_at
	FROM inference_events e JOIN event_deployments k ON k.deployment_id = e.deployment_id;
DROP TABLE inference_events;
ALTER TABLE inference_events_keyed RENAME TO inference_events;
CREATE INDEX inference_events_time ON inference_events (dkey, t);
CREATE INDEX inference_events_case ON inference_events (dkey, case_id);
