package ethos

import "context"

// AuditEvent is what Ethos records for every state change and every access
// decision. It never carries patient identifiers: resources are named by
// Ethos ids (project/…, token/…), never by DICOM or FHIR patient values.
// Time is stamped by the log.
type AuditEvent struct {
	Actor     string // user id or "system"
	Party     string // party id of the actor
	Action    string // e.g. "project.create", "access.decide", "token.revoke"
	Resource  string // e.g. "project/p1"
	Stage     string
	Purpose   string
	Decision  string // "allow" or "deny" for access decisions, else ""
	Reason    string // rule id and reason for decisions
	RequestID string
}

// Decision values of AuditEvent.
const (
	AuditAllow = "allow"
	AuditDeny  = "deny"
)

// Auditor appends events to the audit log; Record returns only after the
// event is durable.
type Auditor interface {
	Record(ctx context.Context, e AuditEvent) error
}

type requestIDKey struct{}

// NewContextWithRequestID returns a context carrying a request id.
func NewContextWithRequestID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, requestIDKey{}, id)
}

// RequestIDFromContext returns the request id in ctx, or "".
func RequestIDFromContext(ctx context.Context) string {
	s, _ := ctx.Value(requestIDKey{}).(string)
	return s
}

// NewAuditEvent returns an event for action on resource by the user in
// ctx, with the request id of ctx.
func NewAuditEvent(ctx context.Context, action, resource string) AuditEvent {
	e := AuditEvent{Actor: ActorID(ctx), Action: action, Resource: resource, RequestID: RequestIDFromContext(ctx)}
	if u := UserFromContext(ctx); u != nil {
		e.Party = u.PartyID
	}
	return e
}
