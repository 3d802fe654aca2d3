package http

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/ethos-imaging/ethos"
)

// fieldError is a bad request body, naming the field when one is at fault.
type fieldError struct {
	code  string
	field string
	msg   string
}

func (e *fieldError) Error() string { return e.msg }

// decodeBody reads one JSON object into v: the body must be at most
// MaxBodyBytes, be JSON, have no unknown fields and no value of the wrong
// type, and nothing may follow the object.
func (s *Server) decodeBody(w http.ResponseWriter, r *http.Request, v any) error {
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(ct, "application/json") {
		return &fieldError{code: ethos.EINVALID, msg: "Content-Type must be application/json"}
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.MaxBodyBytes))
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return &fieldError{code: codeTooLarge, msg: fmt.Sprintf("request body larger than %d bytes", s.MaxBodyBytes)}
		}
		return &fieldError{code: ethos.EINVALID, msg: "cannot read request body"}
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return &fieldError{code: ethos.EINVALID, msg: "request body is empty; a JSON object is required"}
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return jsonError(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return &fieldError{code: ethos.EINVALID, msg: fmt.Sprintf("data after the JSON object at byte offset %d", dec.InputOffset())}
	}
	return nil
}

func jsonError(err error) error {
	if se, ok := errors.AsType[*json.SyntaxError](err); ok {
		return &fieldError{code: ethos.EINVALID, msg: fmt.Sprintf("malformed JSON at byte offset %d: %s", se.Offset, se.Error())}
	}
	if te, ok := errors.AsType[*json.UnmarshalTypeError](err); ok {
		field := te.Field
		return &fieldError{code: ethos.EINVALID, field: field, msg: fmt.Sprintf("field %q: got JSON %s, want %s", field, te.Value, jsonType(te.Type.String()))}
	}
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return &fieldError{code: ethos.EINVALID, msg: "malformed JSON: unexpected end of body"}
	}
	if _, ok := errors.AsType[*time.ParseError](err); ok {
		// Its message quotes the text; the reply does not.
		return &fieldError{code: ethos.EINVALID, msg: "invalid JSON value: a time must be RFC 3339, such as 2027-01-31T00:00:00Z"}
	}
	msg := err.Error()
	if name, ok := strings.CutPrefix(msg, "json: unknown field "); ok {
		name = strings.Trim(name, `"`)
		if !safeName(name) {
			return &fieldError{code: ethos.EINVALID, msg: "unknown field (name not shown: not a field name)"}
		}
		return &fieldError{code: ethos.EINVALID, field: name, msg: fmt.Sprintf("unknown field %q", name)}
	}
	// Errors of the types' own UnmarshalJSON (times, for example).
	return &fieldError{code: ethos.EINVALID, msg: "invalid JSON value: " + strings.TrimPrefix(msg, "json: ")}
}

// safeName reports whether a JSON key may be quoted in an error: letters,
// digits, '_' and '.', at most 64 bytes, as every field name of the API is.
func safeName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, c := range []byte(s) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

func jsonType(goType string) string {
	switch {
	case strings.HasPrefix(goType, "[]"):
		return "array"
	case strings.Contains(goType, "int"), strings.Contains(goType, "float"):
		return "number"
	case goType == "bool":
		return "boolean"
	case strings.HasPrefix(goType, "map"), strings.HasPrefix(goType, "struct"):
		return "object"
	}
	return "string"
}

// writeJSON renders v into a buffer first, so an encoding failure never
// leaves half a response.
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		b = []byte(`{"error":"internal","message":"cannot encode response"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}

// list is the envelope of list responses.
type list[T any] struct {
	Items []T `json:"items"`
	Total int `json:"total"`
}

// pageParams reads offset and limit from the query.
func pageParams(r *http.Request) (offset, limit int, err error) {
	q := r.URL.Query()
	for name, dst := range map[string]*int{"offset": &offset, "limit": &limit} {
		if v := q.Get(name); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 {
				return 0, 0, &fieldError{code: ethos.EINVALID, field: name, msg: fmt.Sprintf("query parameter %s: want a non-negative integer", name)}
			}
			*dst = n
		}
	}
	return offset, limit, nil
}

func queryInt(r *http.Request, name string, required bool, def int64) (int64, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		if required {
			return 0, &fieldError{code: ethos.EINVALID, field: name, msg: "query parameter " + name + " is required"}
		}
		return def, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return 0, &fieldError{code: ethos.EINVALID, field: name, msg: "query parameter " + name + ": want a non-negative integer"}
	}
	return n, nil
}

func nonNil[T any](xs []T) []T {
	if xs == nil {
		return []T{}
	}
	return xs
}
