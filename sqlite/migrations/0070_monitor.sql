-- Deployment monitoring (QC-DEP-1): plans with the engine state carried
-- between runs, runs, per-window results, alerts, stop-rule cases and
-- webhook deliveries. Records are kept whole as JSON beside the columns
-- queries filter on. Times are Unix nanoseconds (UTC); 0 means unset.

CREATE TABLE monitor_plans (
	deployment_id TEXT PRIMARY KEY,
	project_id    TEXT NOT NULL,
	body          TEXT NOT NULL, -- JSON of ethos.MonitoringPlan
	state         TEXT NOT NULL, -- the engine's state (hysteresis, detectors)
	checked_to    INTEGER NOT NULL,
	updated_at    INTEGER NOT NULL,
	updated_by    TEXT NOT NULL
);

CREATE TABLE monitor_runs (
	id            TEXT PRIMARY KEY,
	deployment_id TEXT NOT NULL,
	kind          TEXT NOT NULL CHECK (kind IN ('scheduled', 'on-demand')),
	started_at    INTEGER NOT NULL,
	body          TEXT NOT NULL
);
CREATE INDEX monitor_runs_deployment ON monitor_runs (deployment_id, started_at);

CREATE TABLE monitor_windows (
	deployment_id TEXT NOT NULL,
	start_at      INTEGER NOT NULL,
	end_at        INTEGER NOT NULL,
	run_id        TEXT NOT NULL,
	body          TEXT NOT NULL,
	PRIMARY KEY (deployment_id, start_at, end_at)
);

CREATE TABLE monitor_alerts (
	id            TEXT PRIMARY KEY,
	deployment_id TEXT NOT NULL,
	site          TEXT NOT NULL,
	identity      TEXT NOT NULL, -- rule, key and site: the same alert across windows
	state         TEXT NOT NULL CHECK (state IN ('active', 'cleared')),
	triaged_at    INTEGER NOT NULL,
	raised_at     INTEGER NOT NULL,
	body          TEXT NOT NULL
);
CREATE INDEX monitor_alerts_deployment ON monitor_alerts (deployment_id, raised_at);
-- At most one active alert per identity.
CREATE UNIQUE INDEX monitor_alerts_active ON monitor_alerts (deployment_id, identity) WHERE state = 'active';

CREATE TABLE monitor_cases (
	id            TEXT PRIMARY KEY,
	deployment_id TEXT NOT NULL,
	site          TEXT NOT NULL,
	stop_rule     TEXT NOT NULL,
	state         TEXT NOT NULL CHECK (state IN ('open', 'decided')),
	opened_at     INTEGER NOT NULL,
	due_at        INTEGER NOT NULL,
	body          TEXT NOT NULL
);
CREATE INDEX monitor_cases_deployment ON monitor_cases (deployment_id, opened_at);
-- At most one open case per deployment, stop-rule and site.
CREATE UNIQUE INDEX monitor_cases_open ON monitor_cases (deployment_id, stop_rule, site) WHERE state = 'open';

CREATE TABLE monitor_deliveries (
	alert_id TEXT NOT NULL,
	attempt  INTEGER NOT NULL,
	at       INTEGER NOT NULL,
	body     TEXT NOT NULL,
	PRIMARY KEY (alert_id, attempt)
);
