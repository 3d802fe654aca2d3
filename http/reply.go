package http

import (
	"net/http"

	"github.com/ethos-imaging/ethos"
)

// The two endings most handlers share: a change is recorded in the audit
// log before the client hears of it, and a read replies with what the
// service returned or with its error.

// auditedReply records the change (see recordChange) and, once the audit
// entry is durable, replies with v and status. An audit failure is the
// reply instead: the client is never told of a change the log lacks.
func (s *Server) auditedReply(w http.ResponseWriter, r *http.Request, p *principal, status int, v any, action, resource, reason string, stage ethos.Stage) error {
	if err := s.recordChange(r.Context(), p, action, resource, reason, stage); err != nil {
		return err
	}
	writeJSON(w, status, v)
	return nil
}

// replyOK returns a function that replies 200 with v, or returns err
// untouched (for the error middleware) when the service failed:
//
//	return replyOK(w)(s.Service.Get(ctx, id))
func replyOK(w http.ResponseWriter) func(v any, err error) error {
	return func(v any, err error) error {
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, v)
		return nil
	}
}

// replyList is replyOK for a page of a list: it replies 200 with the
// items (never null) and the total, or returns err untouched:
//
//	return replyList[*ethos.Party](w)(s.Parties.FindParties(ctx, filter))
func replyList[T any](w http.ResponseWriter) func(items []T, total int, err error) error {
	return func(items []T, total int, err error) error {
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, list[T]{Items: nonNil(items), Total: total})
		return nil
	}
}

// replyAll is replyList for a whole list: the total is its length.
//
//	return replyAll[*ethos.MonitorRun](w)(s.MonitorStore.FindRuns(ctx, dep, n))
func replyAll[T any](w http.ResponseWriter) func(items []T, err error) error {
	return func(items []T, err error) error {
		return replyList[T](w)(items, len(items), err)
	}
}
