package ethos

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"time"
)

// AuditEvent is what Ethos records for every state change and every access
// decision, allow and deny (QC-COL-2: every access to collected data is in
// the audit log). It never holds a patient identifier: actors are user and
// token ids, resources are Ethos ids, and Reason is built by Ethos from
// ids, codes and counts. Text a user typed never goes in (see AuditText).
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

// AuditText is what an audit entry says about text a user typed: a
// reason, a comment, a document reference. Such text may name a patient
// however plainly the form asks it not to, and no screen recognises a name,
// so the text itself stays in the access-controlled record the entry's
// Resource names and the entry carries only a reference to it: its length
// in bytes and the first 8 bytes of its SHA-256, e.g.
// "42 bytes, sha256:1f0c…". Anyone holding the record can check that the
// text was not changed after the entry was written; the log alone cannot
// be read for it (the digest confirms a guess of the whole text, not of a
// name inside it). Empty text is "none".
func AuditText(text string) string {
	if text == "" {
		return "none"
	}
	sum := sha256.Sum256([]byte(text))
	return strconv.Itoa(len(text)) + " bytes, sha256:" + hex.EncodeToString(sum[:8])
}
