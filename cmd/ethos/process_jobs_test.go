package main

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/ethos-imaging/ethos"
	"github.com/ethos-imaging/ethos/processing"
	"github.com/ethos-imaging/ethos/sqlstore"
)

// TestProcessingJobAfterRestart starts a server over a data directory
// whose database holds a processing job a stopped server left running:
// once the server is up, the job is failed with the reason, the API says
// so (the job and the run), and the audit log has the interruption.
func TestProcessingJobAfterRestart(t *testing.T) {
	t.Run("SQLite", func(t *testing.T) { testProcessingJobAfterRestart(t, "") })
	t.Run("PostgreSQL", func(t *testing.T) { testProcessingJobAfterRestart(t, pgSchema(t)) })
}

func testProcessingJobAfterRestart(t *testing.T, pg string) {
	f := newCollectionFixture(t, pg)
	ctx := context.Background()
	// A job needs the project's declared purpose (its collection rules).
	if _, stderr, code := runCLIEnv(t, map[string]string{"ETHOS_POSTGRES": pg}, "ingest", "rules", "--purpose", "research", "--modalities", "CT",
		"--issuer", "urn:oid:2.999.4711.1", "--data", f.dir, "--user", f.steward, "--project", f.project); code != 0 {
		t.Fatalf("ingest rules: %d %s", code, stderr)
	}
	a, err := openApp(ctx, f.dir, pg)
	if err != nil {
		t.Fatal(err)
	}
	started := time.Now().Add(-time.Hour).UTC()
	jobs := sqlstore.NewProcessingJobService(a.store)
	left := &ethos.ProcessingJob{ID: ethos.NewID("prc"), ProjectID: f.project, StartedBy: f.steward, Purpose: ethos.PurposeResearch,
		State: ethos.JobRunning, Done: 7, Total: 20, StartedAt: started, RequestID: "req-cut-run", SpecHash: strings.Repeat("ab", 32)}
	// A job whose last progress write is recent: over SQLite the database
	// is this server's alone, so it too was left by a stopped process;
	// over PostgreSQL it may be another live server's, and stays running.
	recent := *left
	recent.ID, recent.StartedAt, recent.RequestID = ethos.NewID("prc"), time.Now().UTC(), "req-recent"
	err = errors.Join(jobs.CreateProcessingJob(ctx, left), jobs.CreateProcessingJob(ctx, &recent))
	a.Close()
	if err != nil {
		t.Fatal(err)
	}

	srv, base := f.serve(t)
	// get reads path (with its query, if any) below the project, for the
	// research purpose.
	get := func(path string) (int, []byte) {
		t.Helper()
		sep := "?"
		if strings.Contains(path, "?") {
			sep = "&"
		}
		req, _ := http.NewRequest("GET", base+"/api/v1/projects/"+f.project+path+sep+"purpose=research", nil)
		req.Header.Set("Authorization", "Bearer "+f.token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b
	}
	code, body := get("/processing-runs/" + left.ID + "/job")
	var j ethos.ProcessingJob
	if err := json.Unmarshal(body, &j); code != 200 || err != nil {
		t.Fatalf("GET job: %d %s", code, body)
	}
	if j.State != ethos.JobFailed || j.Error != processing.Interrupted || j.ErrorCode != ethos.ECONFLICT || j.Done != 7 || j.Total != 20 ||
		j.FinishedAt.IsZero() || j.RequestID != "req-cut-run" || j.StartedBy != f.steward || j.RunID != "" {
		t.Errorf("job after restart %+v", j)
	}
	if code, b := get("/processing-jobs?state=failed"); code != 200 || !strings.Contains(string(b), left.ID) || strings.Contains(string(b), recent.ID) != (pg == "") {
		t.Errorf("failed jobs: %d %s", code, b)
	}
	want := ethos.JobFailed
	if pg != "" {
		want = ethos.JobRunning
	}
	_, b := get("/processing-runs/" + recent.ID + "/job")
	var rj ethos.ProcessingJob
	json.Unmarshal(b, &rj)
	if rj.State != want {
		t.Errorf("recent job after start: %s, want %s", rj.State, want)
	}
	code, body = get("/processing-runs/" + left.ID)
	if code != http.StatusConflict || !strings.Contains(string(body), processing.Interrupted) {
		t.Errorf("GET run: %d %s, want the interruption", code, body)
	}
	if !strings.Contains(f.log.String(), "processing jobs of a stopped server settled") {
		t.Errorf("server log lacks the settling:\n%s", f.log.String())
	}
	out, stderr, exit := runCLIEnv(t, map[string]string{"ETHOS_TOKEN": f.token, "ETHOS_SERVER": base}, "process", "jobs", "--project", f.project, "--state", "failed", "--json")
	if exit != 0 || !strings.Contains(out, left.ID) || !strings.Contains(out, processing.Interrupted) {
		t.Errorf("process jobs (remote): %d %s %s", exit, out, stderr)
	}
	if err := srv.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	srv.Wait()
	offline := map[string]string{"ETHOS_POSTGRES": pg}
	out, stderr, exit = runCLIEnv(t, offline, "process", "jobs", "--data", f.dir, "--user", f.steward, "--project", f.project)
	if exit != 0 || !strings.Contains(out, left.ID) || !strings.Contains(out, "failed") || !strings.Contains(out, "7/20") {
		t.Errorf("process jobs (offline): %d %s %s", exit, out, stderr)
	}
	if _, stderr, exit := runCLIEnv(t, offline, "process", "jobs", "--data", f.dir, "--user", f.steward, "--project", f.project, "--state", "lost"); exit == 0 {
		t.Errorf("bad state accepted: %s", stderr)
	}
	audit, stderr, exit := runCLIEnv(t, offline, "audit", "export", "--data", f.dir)
	if exit != 0 {
		t.Fatalf("audit export: %d %s", exit, stderr)
	}
	if !strings.Contains(audit, `"processing.job.interrupted"`) || !strings.Contains(audit, "processing-run/"+left.ID) {
		t.Errorf("audit log lacks the interruption of %s", left.ID)
	}
}
