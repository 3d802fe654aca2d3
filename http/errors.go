package http

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/ethos-imaging/ethos"
)

// statuses maps each error code to its HTTP status: the one place where
// this is decided.
var statuses = map[string]int{
	ethos.EINVALID:        http.StatusBadRequest,
	ethos.EUNAUTHORIZED:   http.StatusUnauthorized,
	ethos.EFORBIDDEN:      http.StatusForbidden,
	ethos.ENOTFOUND:       http.StatusNotFound,
	ethos.ECONFLICT:       http.StatusConflict,
	ethos.ECONSENT:        http.StatusForbidden,
	ethos.ENOTIMPLEMENTED: http.StatusNotImplemented,
	ethos.EINTERNAL:       http.StatusInternalServerError,
	codeTooLarge:          http.StatusRequestEntityTooLarge,
}

// codeTooLarge is the code of a body over the limit (HTTP only).
const codeTooLarge = "too_large"

// ErrorResponse is the body of every error response.
type ErrorResponse struct {
	Error struct {
		Code      string `json:"code"`
		Message   string `json:"message"`
		RequestID string `json:"request_id"`
	} `json:"error"`
}

// status returns the HTTP status for err.
func status(err error) int {
	if st, ok := statuses[ethos.ErrorCode(err)]; ok {
		return st
	}
	return http.StatusInternalServerError
}

// error writes err as JSON. Internal errors are logged once here, with
// the request id, and shown only as "internal error".
func (s *Server) error(w http.ResponseWriter, r *http.Request, err error) {
	var body ErrorResponse
	body.Error.Code, body.Error.Message = ethos.ErrorCode(err), ethos.ErrorMessage(err)
	body.Error.RequestID = ethos.RequestIDFromContext(r.Context())
	st := status(err)
	if st >= 500 {
		s.Logger.Error("request failed", "request_id", body.Error.RequestID, "err", err)
	}
	if st == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="ethos"`)
	}
	writeJSON(w, st, body)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, `{"error":{"code":"internal","message":"internal error"}}`, http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}

// decode reads the JSON body into v strictly: bounded size (413),
// no unknown fields, right types, one value; each failure names the
// field or the byte offset.
func (s *Server) decode(w http.ResponseWriter, r *http.Request, v any) error {
	ct := r.Header.Get("Content-Type")
	if ct != "" && !strings.HasPrefix(ct, "application/json") {
		return ethos.Errorf(ethos.EINVALID, "content type %q: want application/json", ct)
	}
	body := http.MaxBytesReader(w, r.Body, s.MaxBody)
	dec := json.NewDecoder(body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return decodeError(err, s.MaxBody)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return decodeError(err, s.MaxBody)
		}
		return ethos.Errorf(ethos.EINVALID, "request body: data after the JSON object")
	}
	return nil
}

func decodeError(err error, limit int64) error {
	if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
		return &ethos.Error{Code: codeTooLarge, Message: fmt.Sprintf("request body is larger than %d bytes", limit)}
	}
	if e, ok := errors.AsType[*json.UnmarshalTypeError](err); ok {
		field := e.Field
		if field == "" {
			field = "(body)"
		}
		return ethos.Errorf(ethos.EINVALID, "field %s: want %s, got JSON %s", field, e.Type.String(), e.Value)
	}
	if e, ok := errors.AsType[*json.SyntaxError](err); ok {
		return ethos.Errorf(ethos.EINVALID, "malformed JSON at byte %d: %s", e.Offset, e.Error())
	}
	if errors.Is(err, io.EOF) {
		return ethos.Errorf(ethos.EINVALID, "request body is empty: want a JSON object")
	}
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return ethos.Errorf(ethos.EINVALID, "malformed JSON: the body ends early")
	}
	if f, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		return ethos.Errorf(ethos.EINVALID, "unknown field %s", f)
	}
	if e, ok := errors.AsType[*ethos.Error](err); ok {
		return e
	}
	return ethos.Errorf(ethos.EINVALID, "request body: %v", err)
}
