package ethos

import (
	"context"
	"time"
)

// AuditEvent is what Ethos records for every state change and every access
// decision, allow and deny (QC-COL-2: every access to collected data is in
// the audit log). It never holds a patient identifier: actors are user and
// token ids, resources are Ethos ids.
type AuditEvent struct {
	Time      time.Time
	Actor     string // user id, or "system", or "anonymous" for a failed authentication
	Party     string // party id of the actor
	Action    string // e.g. "project.create", "access.decide", "auth.fail"
	Resource  string // e.g. "project/prj_…"
	Stage     Stage
	Purpose   Purpose
	Decision  string // "allow", "deny" or "" for a state change
	Reason    string // rule id and reason, or a short description
	RequestID string
}

// Auditor appends events to the audit log. Record returns only once the
// event is durable; a caller that cannot record must not act.
type Auditor interface {
	Record(ctx context.Context, e AuditEvent) error
}
