package main

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/ethos-imaging/ethos"
)

func TestReplyError(t *testing.T) {
	tests := []struct {
		name, body, code, msg string
	}{
		{"CodeAndMessage", `{"error":"forbidden","message":"denied (rule role/audit)","request_id":"req_1"}`, ethos.EFORBIDDEN, "denied (rule role/audit)"},
		{"CodeWithoutMessage", `{"error":"conflict"}`, ethos.ECONFLICT, "the server answered conflict"},
		{"NotJSON", `<html>bad gateway</html>`, ethos.EINTERNAL, "server answered 502 Bad Gateway"},
		{"JSONWithoutCode", `{"received":3}`, ethos.EINTERNAL, "server answered 502 Bad Gateway"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := &http.Response{Status: "502 Bad Gateway", StatusCode: 502, Body: io.NopCloser(strings.NewReader(tt.body))}
			err := replyError(resp)
			if ethos.ErrorCode(err) != tt.code || ethos.ErrorMessage(err) != tt.msg {
				t.Errorf("replyError = %q (%s), want %q (%s)", ethos.ErrorMessage(err), ethos.ErrorCode(err), tt.msg, tt.code)
			}
		})
	}
	t.Run("IngestAnswerIsNoError", func(t *testing.T) {
		if err := errorReply([]byte(`{"received":2,"stored":1,"rejected":[{"index":1,"reason":"score: required"}]}`)); err != nil {
			t.Errorf("errorReply of an ingest answer = %v", err)
		}
	})
}
