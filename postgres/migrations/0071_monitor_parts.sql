-- Window results get a part: '' (the checks judged when the window
-- closed) or 'performance' (performance and gap checks judged after the
-- plan's label delay). The primary key changes, so the table is rebuilt;
-- stored results keep part ''.

CREATE TABLE monitor_windows_parts (
	deployment_id TEXT NOT NULL,
	start_at      BIGINT NOT NULL,
	end_at        BIGINT NOT NULL,
	part          TEXT NOT NULL,
	run_id        TEXT NOT NULL,
	body          TEXT NOT NULL,
	PRIMARY KEY (deployment_id, start_at, end_at, part)
);
INSERT INTO monitor_windows_parts (deployment_id, start_at, end_at, part, run_id, body)
	SELECT deployment_id, start_at, end_at, '', run_id, body FROM monitor_windows;
DROP TABLE monitor_windows;
ALTER TABLE monitor_windows_parts RENAME TO monitor_windows;
