package main

import (
	"strings"
	"testing"
)

// TestClientArgs pins the messages and the order of checks of the shared
// client-command helpers (connectOne, connectDeployment, connectFlags,
// postDecision): a wrong call is a usage error (exit 2) naming the
// command, argument errors come before connection settings, and only a
// well-formed call reaches the server.
func TestClientArgs(t *testing.T) {
	const down = "http://127.0.0.1:1" // nothing listens on port 1
	tests := []struct {
		name string
		vars map[string]string
		args []string
		code int
		want string
	}{
		{"missing id is usage before missing token", nil, []string{"project", "show"}, 2, "project show takes one project id"},
		{"two ids is usage", map[string]string{"ETHOS_TOKEN": "t"}, []string{"token", "revoke", "a", "b"}, 2, "token revoke takes one token id"},
		{"missing token after a good id", nil, []string{"deployment", "show", "d1"}, 2, "no token"},
		{"bad server URL after a good id", map[string]string{"ETHOS_TOKEN": "t", "ETHOS_SERVER": "ftp://x"}, []string{"obligation", "show", "o1"}, 2, "want an http:// or https:// URL"},
		{"flags after the id still parse", map[string]string{"ETHOS_TOKEN": "t", "ETHOS_SERVER": down}, []string{"monitor", "ack", "a1", "--json"}, 1, "cannot reach the server"},
		{"missing deployment is usage", map[string]string{"ETHOS_TOKEN": "t"}, []string{"monitor", "runs"}, 2, "--deployment: a deployment id is required"},
		{"deployment given reaches the server", map[string]string{"ETHOS_TOKEN": "t", "ETHOS_SERVER": down}, []string{"monitor", "status", "--deployment", "d1"}, 1, "/api/v1/deployments/d1/monitoring/status"},
		{"list with a stray argument is usage", map[string]string{"ETHOS_TOKEN": "t"}, []string{"project", "list", "--bogus"}, 2, "bogus"},
		{"list without token", nil, []string{"token", "list"}, 2, "no token"},
		{"triage without reason is usage", map[string]string{"ETHOS_TOKEN": "t"}, []string{"monitor", "triage", "a1", "--decision", "false-alarm", "--reason", " "}, 2, "monitor triage needs one alert id, --decision and --reason"},
		{"decide without id is usage", map[string]string{"ETHOS_TOKEN": "t"}, []string{"monitor", "decide", "--decision", "suspend", "--reason", "r"}, 2, "monitor decide needs one case id, --decision and --reason"},
		{"decide posts to the case", map[string]string{"ETHOS_TOKEN": "t", "ETHOS_SERVER": down}, []string{"monitor", "decide", "c1", "--decision", "suspend", "--reason", "r"}, 1, "/api/v1/monitoring/cases/c1/decision"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, stderr, code := runCLIEnv(t, tt.vars, tt.args...)
			if code != tt.code || !strings.Contains(stderr, tt.want) {
				t.Errorf("%v: exit %d, stderr %q; want exit %d and %q", tt.args, code, stderr, tt.code, tt.want)
			}
		})
	}
}
