package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ethos-imaging/ethos"
	"github.com/ethos-imaging/ethos/deployment/monitor/sim"
)

// serveInProcess runs "ethos serve" in this process (so the test can wire
// an event store through monitorEventReader) and returns its URL.
func serveInProcess(t *testing.T, dir string, extra ...string) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	env := &Env{Stdin: strings.NewReader(""), Stdout: io.Discard, Stderr: pw, Getenv: func(string) string { return "" }}
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, env, append([]string{"serve", "--data", dir, "--addr", "127.0.0.1:0"}, extra...))
		pw.Close()
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			var line struct {
				Msg  string `json:"msg"`
				Addr string `json:"addr"`
			}
			if json.Unmarshal(sc.Bytes(), &line) == nil && line.Msg == "listening" {
				addr <- line.Addr
			}
		}
	}()
	select {
	case a := <-addr:
		return "http://" + a
	case <-time.After(30 * time.Second):
		t.Fatal("server did not start listening")
	}
	return ""
}

func cliJSON(t *testing.T, out any, args ...string) {
	t.Helper()
	stdout, stderr, code := runCLI(t, append(args, "--json")...)
	if code != 0 {
		t.Fatalf("ethos %s: exit %d: %s", strings.Join(args, " "), code, stderr)
	}
	if out != nil {
		if err := json.Unmarshal([]byte(stdout), out); err != nil {
			t.Fatalf("ethos %s: %v in %q", strings.Join(args, " "), err, stdout)
		}
	}
}

// TestMonitorCLIAgainstServe runs "ethos serve" with simulated events whose
// last fortnight has a scanner software upgrade at one site: the
// scheduler checks the windows on its own, and the CLI sees exactly the
// upgrade's alert, triages it, and writes the report.
func TestMonitorCLIAgainstServe(t *testing.T) {
	dir, admin := initData(t)
	day := time.Now().UTC().Add(-2 * time.Minute).Truncate(24 * time.Hour) // its window is eligible (grace 1m)
	refStart := day.AddDate(0, 0, -28)
	c := sim.Default(refStart, 28)
	c.PerDay = 300
	c.Upgrades = []sim.Upgrade{{At: day.AddDate(0, 0, -7), Site: "site-a", Version: "VA60"}}
	evs, err := sim.Generate(c)
	if err != nil {
		t.Fatal(err)
	}
	old := monitorEventReader
	monitorEventReader = func(*app) ethos.InferenceEventReader { return sim.NewReader(evs) }
	t.Cleanup(func() { monitorEventReader = old })
	url := serveInProcess(t, dir, "--monitor-every", "100ms")
	as := func(tok string, args ...string) []string { return append(args, "--server", url, "--token", tok) }

	var parties struct{ Items []struct{ ID string } }
	cliJSON(t, &parties, as(admin, "party", "list")...)
	if len(parties.Items) == 0 {
		t.Fatal("no party after init")
	}
	var u struct{ ID string }
	cliJSON(t, &u, as(admin, "user", "create", "--party", parties.Items[0].ID, "--name", "ML engineer", "--roles", "ml-engineer")...)
	var tok struct{ Secret string }
	cliJSON(t, &tok, as(admin, "token", "create", "--user", u.ID)...)
	var prj struct{ ID string }
	cliJSON(t, &prj, as(admin, "project", "create", "--name", "CAD", "--intended-use", "triage", "--modality", "CT", "--setting", "radiology")...)

	plan := map[string]any{
		"project_id": prj.ID,
		"window":     map[string]any{"every": "daily", "grace": "1m"},
		"reference":  map[string]any{"from": refStart, "to": refStart.AddDate(0, 0, 14)},
		"rules": []map[string]any{
			{"id": "new-software", "metric": "new_category", "field": "software_version"},
			{"id": "sensitivity", "metric": "sensitivity", "threshold": 0.8, "use_ci": true, "min_n": 30, "raise_after": 2},
			{"id": "score-psi", "metric": "score_psi", "threshold": 0.2, "min_n": 100},
		},
		"owners": []string{"radiology-ai@hospital.example"},
	}
	b, _ := json.Marshal(plan)
	planFile := filepath.Join(t.TempDir(), "plan.json")
	os.WriteFile(planFile, b, 0o600)
	if out, stderr, code := runCLI(t, "monitor", "plan", "--set", planFile, "--check"); code != 0 || !strings.Contains(out, "valid") {
		t.Fatalf("plan --check: %d %s %s", code, out, stderr)
	}
	cliJSON(t, nil, as(tok.Secret, "monitor", "plan", "--deployment", "dep-sim", "--set", planFile)...)

	// The scheduler picks the plan up within a tick or two.
	var st ethos.MonitorStatus
	deadline := time.Now().Add(30 * time.Second)
	for {
		cliJSON(t, &st, as(tok.Secret, "monitor", "status", "--deployment", "dep-sim")...)
		if st.CheckedTo != nil && !st.CheckedTo.Before(day) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the scheduler did not check the windows: %+v", st)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if st.LastRun == nil || st.LastRun.Kind != ethos.RunScheduled || st.LastRun.Windows != 14 {
		t.Fatalf("last run %+v, want the scheduled run of 14 windows", st.LastRun)
	}
	var runs struct{ Items []ethos.MonitorRun }
	cliJSON(t, &runs, as(tok.Secret, "monitor", "runs", "--deployment", "dep-sim")...)
	if len(runs.Items) == 0 || runs.Items[len(runs.Items)-1].Kind != ethos.RunScheduled {
		t.Fatalf("runs %+v", runs.Items)
	}
	if out, _, code := runCLI(t, as(tok.Secret, "monitor", "runs", "--deployment", "dep-sim")...); code != 0 || !strings.Contains(out, "scheduled") {
		t.Fatalf("runs table: %d %s", code, out)
	}
	var alerts struct{ Items []ethos.Alert }
	cliJSON(t, &alerts, as(tok.Secret, "monitor", "alerts", "--deployment", "dep-sim")...)
	if len(alerts.Items) != 1 || alerts.Items[0].Key != "software_version=VA60" || alerts.Items[0].Site != "site-a" {
		t.Fatalf("alerts %+v, want only the new software version at site-a", alerts.Items)
	}
	var a ethos.Alert
	cliJSON(t, &a, as(tok.Secret, "monitor", "triage", alerts.Items[0].ID, "--decision", "expected-change", "--reason", "planned upgrade, vendor validation on file")...)
	if a.Triage != ethos.TriageExpected || a.TriagedBy != u.ID {
		t.Fatalf("triaged %+v", a)
	}
	if _, stderr, code := runCLI(t, as(tok.Secret, "monitor", "triage", a.ID, "--decision", "false-alarm", "--reason", "x")...); code != 1 || !strings.Contains(stderr, "triaged") {
		t.Fatalf("second triage: exit %d %s", code, stderr)
	}
	page := filepath.Join(t.TempDir(), "report.html")
	if _, stderr, code := runCLI(t, as(tok.Secret, "monitor", "report", "--deployment", "dep-sim", "--out", page)...); code != 0 {
		t.Fatalf("report: %s", stderr)
	}
	html, _ := os.ReadFile(page)
	if n := bytes.Count(html, []byte("<svg")); n != 3 {
		t.Fatalf("report has %d timelines, want 3", n)
	}
	if _, stderr, code := runCLI(t, as(tok.Secret, "monitor", "run")...); code != 2 || !strings.Contains(stderr, "--deployment") {
		t.Fatalf("run without deployment: exit %d %s", code, stderr)
	}
}

func TestMonitorSimulateWritesEvents(t *testing.T) {
	out, stderr, code := runCLI(t, "monitor", "simulate", "--start", "2026-03-01T00:00:00Z", "--days", "2", "--per-day", "50",
		"--upgrade", "site-a@2026-03-02T00:00:00Z=VA60", "--degrade", "75+@2026-03-02T00:00:00Z=0.4")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 100 {
		t.Fatalf("%d events, want 100", len(lines))
	}
	var last ethos.InferenceEvent
	if err := json.Unmarshal([]byte(lines[99]), &last); err != nil || last.DeploymentID != "dep-sim" || last.CaseID == "" {
		t.Fatalf("last event %v: %+v", err, last)
	}
	if _, stderr, code := runCLI(t, "monitor", "simulate", "--start", "yesterday"); code != 2 {
		t.Fatalf("bad start: exit %d %s", code, stderr)
	}
}
