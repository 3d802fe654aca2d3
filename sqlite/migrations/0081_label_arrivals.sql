-- When Ethos stored each ground-truth label (Unix nanoseconds), so that a
-- monitoring window judged before its labels arrived is judged again
-- (docs/monitoring.md). Labels stored before this migration count as
-- already seen (0).
ALTER TABLE event_labels ADD COLUMN recorded_at INTEGER NOT NULL DEFAULT 0;
CREATE INDEX event_labels_recorded ON event_labels (deployment_id, recorded_at);
