package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"strings"
	"testing"
)

func runCLI(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errb bytes.Buffer
	env := &Env{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb, Getenv: func(string) string { return "" }}
	err := Run(context.Background(), env, args)
	code = exitCode(env, err)
	return out.String(), errb.String(), code
}

func TestRun(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		wantCode int
		wantErr  string
	}{
		{"UsageWithoutCommand", nil, 2, "missing command"},
		{"UsageUnknownCommand", []string{"frobnicate"}, 2, `unknown command "frobnicate"`},
		{"UsageBadFlag", []string{"version", "--nope"}, 2, "flag provided but not defined"},
		{"OKHelp", []string{"--help"}, 0, ""},
		{"OKVersion", []string{"version"}, 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, stderr, code := runCLI(t, tt.args...)
			if code != tt.wantCode {
				t.Errorf("exit code = %d, want %d (stderr %q)", code, tt.wantCode, stderr)
			}
			if tt.wantErr != "" && !strings.Contains(stderr, tt.wantErr) {
				t.Errorf("stderr = %q, want it to contain %q", stderr, tt.wantErr)
			}
		})
	}
}

func TestVersionJSON(t *testing.T) {
	out, _, code := runCLI(t, "version", "--json")
	if code != 0 {
		t.Fatalf("exit code %d", code)
	}
	var v map[string]string
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		t.Fatalf("version --json is not JSON: %v: %q", err, out)
	}
	if v["version"] == "" || v["go"] == "" {
		t.Errorf("version --json = %v, want version and go set", v)
	}
}

func TestHelpIsNotAnError(t *testing.T) {
	var out, errb bytes.Buffer
	env := &Env{Stdout: &out, Stderr: &errb}
	err := Run(context.Background(), env, []string{"version", "--help"})
	if !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("version --help: err = %v, want flag.ErrHelp", err)
	}
	if !strings.Contains(errb.String(), "Usage: ethos version") {
		t.Errorf("help text = %q", errb.String())
	}
}
