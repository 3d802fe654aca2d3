package http_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ethos-imaging/ethos"
	"github.com/ethos-imaging/ethos/audit"
	"github.com/ethos-imaging/ethos/audit/audittest"
	ehttp "github.com/ethos-imaging/ethos/http"
	"github.com/ethos-imaging/ethos/policy"
	"github.com/ethos-imaging/ethos/processing"
	"github.com/ethos-imaging/ethos/sqlite"
	"github.com/ethos-imaging/ethos/sqlstore"
	"github.com/ethos-imaging/ethos/storetest"
)

func TestProcessingEndpoints(t *testing.T) {
	ctx := context.Background()
	db := sqlite.NewDB(filepath.Join(t.TempDir(), "db"))
	if err := db.Open(ctx); err != nil {
		t.Fatal(err)
	}
	key := audittest.TestKey(t)
	signer, err := audit.NewSigner(key.Signer)
	if err != nil {
		t.Fatal(err)
	}
	auditDB := sqlite.NewAuditStorage(db)
	log := audit.NewLog(auditDB, signer)
	if err := log.Open(ctx); err != nil {
		t.Fatal(err)
	}
	st := storetest.Stores{Parties: sqlite.NewPartyService(db), Users: sqlite.NewUserService(db), Projects: sqlite.NewProjectService(db)}
	party := storetest.MustParty(t, st, "Hospital", ethos.PartyPublic)
	steward := storetest.MustUser(t, st, party, ethos.RoleDataSteward)
	clinician := storetest.MustUser(t, st, party, ethos.RoleClinician)
	prj := storetest.MustProject(t, st, party, steward.ID)
	other := storetest.MustProject(t, st, party, steward.ID)
	tokens := sqlite.NewTokenService(db)
	token := func(u *ethos.User) string {
		secret, hash := ethos.NewTokenSecret()
		if err := tokens.CreateToken(ctx, &ethos.Token{UserID: u.ID, Name: "t", Hash: hash, ExpiresAt: time.Now().Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
		return secret
	}
	runs, versions := sqlstore.NewProcessingService(db.Store()), sqlstore.NewDatasetService(db.Store())
	run := storetest.ProcessingRunFixture(prj.ID, time.Now().UTC())
	if err := runs.CreateProcessingRun(ctx, run); err != nil {
		t.Fatal(err)
	}
	otherRun := storetest.ProcessingRunFixture(other.ID, time.Now().UTC())
	if err := runs.CreateProcessingRun(ctx, otherRun); err != nil {
		t.Fatal(err)
	}
	it := run.Items[0]
	v := &ethos.DatasetVersion{ID: strings.Repeat("c", 64), ProjectID: prj.ID, RunID: run.ID, CreatedAt: time.Now().UTC(), CreatedBy: steward.ID,
		Entries: []ethos.ManifestEntry{{ID: it.OutputUID, Patient: it.PseudoID, SHA256: it.OutputSHA256, Path: "a/b/c.dcm"}},
		Members: []ethos.DatasetMember{{EntryID: it.OutputUID, InstanceID: it.InstanceID, Subject: it.Subject, Blob: *it.Output}}}
	if err := versions.CreateDatasetVersion(ctx, v); err != nil {
		t.Fatal(err)
	}
	s := ehttp.NewServer()
	s.Logger = slog.New(slog.NewJSONHandler(io.Discard, nil))
	s.Policy, s.Auditor, s.AuditLog, s.AuditDB, s.VerifierKey = policy.Default(), ehttp.LogAuditor{Log: log}, log, auditDB, key.Verifier
	s.Parties, s.Users, s.Tokens, s.Projects, s.DUAs, s.Records = st.Parties, st.Users, tokens, st.Projects, sqlite.NewDUAService(db), sqlite.NewRecordService(db)
	s.ProcessingRuns, s.Datasets = runs, versions
	instances := sqlite.NewInstanceService(db)
	s.DatasetWork = &processing.Service{Projects: st.Projects, Instances: instances, Datasets: &processing.Datasets{Runs: runs, Instances: instances,
		Versions: versions, Auditor: ehttp.LogAuditor{Log: log}, Decider: policy.Default()}}
	work := &fakeWork{jobs: map[string]*ethos.ProcessingJob{}}
	s.ProcessingWork, s.DatasetExport = work, fakeExport{}
	jobs := sqlstore.NewProcessingJobService(db.Store())
	s.ProcessingJobs = jobs
	for i, st := range []ethos.ProcessingJobState{ethos.JobFailed, ethos.JobRunning} {
		j := &ethos.ProcessingJob{ID: "prc_job" + strconv.Itoa(i), ProjectID: prj.ID, StartedBy: steward.ID, Purpose: ethos.PurposeResearch,
			State: ethos.JobRunning, Total: 3, StartedAt: time.Now().UTC().Add(time.Duration(i) * time.Second), RequestID: "req", SpecHash: "h"}
		if err := jobs.CreateProcessingJob(ctx, j); err != nil {
			t.Fatal(err)
		}
		if st == ethos.JobFailed {
			j.State, j.ErrorCode, j.Error = st, ethos.EINTERNAL, "the server stopped"
			if err := jobs.FinishProcessingJob(ctx, j); err != nil {
				t.Fatal(err)
			}
		}
	}
	hs := httptest.NewServer(s.Handler())
	t.Cleanup(func() { hs.Close(); log.Close(); db.Close() })

	stewardToken, clinicianToken := token(steward), token(clinician)
	do := func(t *testing.T, tok, method, path, ctype, body string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(method, hs.URL+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+tok)
		if ctype != "" {
			req.Header.Set("Content-Type", ctype)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	get := func(t *testing.T, tok, path string) (int, string) {
		t.Helper()
		return do(t, tok, "GET", path, "", "")
	}
	base := "/api/v1/projects/" + prj.ID
	t.Run("ListRuns", func(t *testing.T) {
		code, body := get(t, stewardToken, base+"/processing-runs?purpose=research")
		var out struct {
			Items []ethos.ProcessingRun `json:"items"`
			Total int                   `json:"total"`
		}
		json.Unmarshal([]byte(body), &out)
		if code != 200 || out.Total != 1 || out.Items[0].ID != run.ID || out.Items[0].Items != nil {
			t.Errorf("%d %s", code, body)
		}
	})
	t.Run("ListProcessingJobs", func(t *testing.T) {
		code, body := get(t, stewardToken, base+"/processing-jobs?purpose=research")
		var out struct {
			Items []ethos.ProcessingJob `json:"items"`
			Total int                   `json:"total"`
		}
		json.Unmarshal([]byte(body), &out)
		if code != 200 || out.Total != 2 || out.Items[0].ID != "prc_job1" || out.Items[1].State != ethos.JobFailed || out.Items[1].Error != "the server stopped" {
			t.Errorf("%d %s", code, body)
		}
		code, body = get(t, stewardToken, base+"/processing-jobs?purpose=research&state=failed")
		if code != 200 || !strings.Contains(body, `"total":1`) || !strings.Contains(body, "prc_job0") {
			t.Errorf("failed only: %d %s", code, body)
		}
		if code, body := get(t, stewardToken, base+"/processing-jobs?purpose=research&state=lost"); code != 400 {
			t.Errorf("bad state: %d %s", code, body)
		}
		if code, body := get(t, stewardToken, "/api/v1/projects/"+other.ID+"/processing-jobs?purpose=research"); code != 200 || !strings.Contains(body, `"total":0`) {
			t.Errorf("other project: %d %s", code, body)
		}
		if code, body := get(t, clinicianToken, base+"/processing-jobs?purpose=research"); code != 403 {
			t.Errorf("clinician: %d %s", code, body)
		}
	})
	t.Run("GetRunWithItems", func(t *testing.T) {
		code, body := get(t, stewardToken, base+"/processing-runs/"+run.ID+"?purpose=research")
		var got ethos.ProcessingRun
		json.Unmarshal([]byte(body), &got)
		if code != 200 || len(got.Items) != 2 || got.KeyFingerprint != run.KeyFingerprint {
			t.Errorf("%d %s", code, body)
		}
	})
	t.Run("OtherProjectsRunNotFound", func(t *testing.T) {
		if code, body := get(t, stewardToken, base+"/processing-runs/"+otherRun.ID+"?purpose=research"); code != 404 {
			t.Errorf("%d %s", code, body)
		}
	})
	t.Run("VersionWithoutMembers", func(t *testing.T) {
		code, body := get(t, stewardToken, base+"/dataset-versions/"+v.ID+"?purpose=research")
		if code != 200 || !strings.Contains(body, it.OutputUID) || strings.Contains(body, string(it.Subject)) || strings.Contains(body, it.InstanceID) {
			t.Errorf("%d %s", code, body)
		}
		code, body = get(t, stewardToken, base+"/dataset-versions?purpose=research")
		if code != 200 || !strings.Contains(body, `"total":1`) {
			t.Errorf("list: %d %s", code, body)
		}
		code, body = get(t, stewardToken, base+"/dataset-versions/"+v.ID+"/splits?purpose=research")
		if code != 200 || strings.TrimSpace(body) != "[]" {
			t.Errorf("splits: %d %s", code, body)
		}
	})
	t.Run("PurposeRequired", func(t *testing.T) {
		if code, body := get(t, stewardToken, base+"/processing-runs"); code != 400 {
			t.Errorf("%d %s", code, body)
		}
	})
	t.Run("ForbiddenRoleAudited", func(t *testing.T) {
		if code, body := get(t, clinicianToken, base+"/processing-runs?purpose=research"); code != 403 {
			t.Errorf("%d %s", code, body)
		}
		n := log.Size()
		leaves, err := auditDB.Leaves(ctx, n-1, n)
		if err != nil {
			t.Fatal(err)
		}
		if last := string(leaves[0]); !strings.Contains(last, "deny") || !strings.Contains(last, clinician.ID) {
			t.Errorf("last audit event %s", last)
		}
	})
	t.Run("DatasetWork", func(t *testing.T) {
		if err := instances.SetCollectionRules(ctx, &ethos.CollectionRules{ProjectID: prj.ID, Purpose: ethos.PurposeResearch}); err != nil {
			t.Fatal(err)
		}
		// Two stored instances of two subjects and a run that wrote both.
		r2 := storetest.ProcessingRunFixture(prj.ID, time.Now().UTC())
		for i := range r2.Items {
			item := &r2.Items[i]
			in, err := instances.CreateInstance(ctx, &ethos.Instance{ProjectID: prj.ID, SOPInstanceUID: "1.2.3." + strconv.Itoa(i), Subject: item.Subject,
				Status: ethos.InstanceStored, Blob: &ethos.BlobRef{Subject: item.Subject, Digest: strings.Repeat("3", 64)}, Source: "file:x",
				ReceivedAt: time.Now().UTC(), ReceivedBy: steward.ID, ConsentID: "c"})
			if err != nil {
				t.Fatal(err)
			}
			item.InstanceID, item.Status, item.Reasons = in.ID, ethos.ItemWritten, nil
			item.OutputSHA256, item.OutputUID, item.PseudoID = strings.Repeat("2", 64), "2.25.9"+strconv.Itoa(i), "P"+strconv.Itoa(i)
			item.Output = &ethos.BlobRef{Subject: item.Subject, Digest: strings.Repeat("3", 64)}
		}
		r2.Written, r2.Quarantined = 2, 0
		if err := runs.CreateProcessingRun(ctx, r2); err != nil {
			t.Fatal(err)
		}
		code, body := do(t, stewardToken, "POST", base+"/dataset-versions", "application/json", `{"run_id":"`+r2.ID+`","description":"d"}`)
		var built struct {
			Version ethos.DatasetVersion `json:"version"`
		}
		json.Unmarshal([]byte(body), &built)
		if code != 201 || len(built.Version.Entries) != 2 || strings.Contains(body, "members") {
			t.Fatalf("build: %d %s", code, body)
		}
		vid := built.Version.ID
		code, body = do(t, stewardToken, "POST", base+"/dataset-versions/"+vid+"/labels?allowed=pos,neg", "text/csv", "id,label\n2.25.90,pos\nnope,neg\n")
		if code != 400 || !strings.Contains(body, "row 3, column 1: unknown instance") {
			t.Errorf("bad labels: %d %s", code, body)
		}
		code, body = do(t, stewardToken, "POST", base+"/dataset-versions/"+vid+"/labels?allowed=pos,neg", "text/csv", "id,label\n2.25.90,pos\n2.25.91,neg\n")
		var labelled ethos.DatasetVersion
		json.Unmarshal([]byte(body), &labelled)
		if code != 201 || labelled.Parent != vid {
			t.Fatalf("labels: %d %s", code, body)
		}
		code, body = do(t, stewardToken, "POST", base+"/dataset-versions/"+labelled.ID+"/splits", "application/json", `{"parts":[{"name":"train","fraction":0.5},{"name":"test","fraction":0.5}],"stratify_by":["label"],"seed":3}`)
		if code != 201 || !strings.Contains(body, `"verified":true`) {
			t.Errorf("split: %d %s", code, body)
		}
		code, body = get(t, stewardToken, base+"/dataset-versions/"+labelled.ID+"/datasheet?format=md")
		if code != 200 || !strings.Contains(body, "## Motivation") || !strings.Contains(body, "## Maintenance") {
			t.Errorf("datasheet: %d %s", code, body)
		}
		if code, body := do(t, clinicianToken, "POST", base+"/dataset-versions", "application/json", `{"run_id":"`+r2.ID+`"}`); code != 403 {
			t.Errorf("clinician build: %d %s", code, body)
		}
	})
	t.Run("ProcessingRunPolled", func(t *testing.T) {
		code, body := do(t, stewardToken, "POST", base+"/processing-runs", "application/json", `{"options":["retain-uids"],"secret":"a secret of enough length here"}`)
		var started struct {
			Job ethos.ProcessingJob  `json:"job"`
			Run *ethos.ProcessingRun `json:"run"`
		}
		json.Unmarshal([]byte(body), &started)
		if code != 202 || started.Job.State != ethos.JobRunning || started.Run != nil || strings.Contains(body, "secret of enough") {
			t.Fatalf("start: %d %s", code, body)
		}
		if work.last.Threshold != 0.10 || work.last.Confidence != 0.95 || string(work.last.Secret) != "a secret of enough length here" || work.lastWho.UserID != steward.ID {
			t.Errorf("spec %+v by %+v", work.last, work.lastWho)
		}
		code, body = get(t, stewardToken, base+"/processing-runs/"+started.Job.ID+"?purpose=research")
		if code != 202 || !strings.Contains(body, `"state":"running"`) {
			t.Errorf("poll running: %d %s", code, body)
		}
		code, body = get(t, stewardToken, base+"/processing-runs/"+started.Job.ID+"/job?purpose=research")
		if code != 200 || !strings.Contains(body, `"done":1`) {
			t.Errorf("job: %d %s", code, body)
		}
		work.set(started.Job.ID, func(j *ethos.ProcessingJob) {
			j.State, j.ErrorCode, j.Error = ethos.JobFailed, ethos.EINVALID, "project has no stored instances"
		})
		code, body = get(t, stewardToken, base+"/processing-runs/"+started.Job.ID+"?purpose=research")
		if code != 400 || !strings.Contains(body, "no stored instances") {
			t.Errorf("poll failed: %d %s", code, body)
		}
		if code, body := do(t, stewardToken, "POST", base+"/processing-runs", "application/json", `{"options":[]}`); code != 400 || !strings.Contains(body, "secret") {
			t.Errorf("no secret: %d %s", code, body)
		}
	})
	t.Run("ProcessingRunRecordedBetweenReads", func(t *testing.T) {
		// The job finishes, and its record is stored, after the handler
		// looked for the record and before it looked at the job: the
		// poll answers the record, not 404.
		_, body := do(t, stewardToken, "POST", base+"/processing-runs", "application/json", `{"options":[],"secret":"a secret of enough length here"}`)
		var started struct {
			Job ethos.ProcessingJob `json:"job"`
		}
		json.Unmarshal([]byte(body), &started)
		rec := storetest.ProcessingRunFixture(prj.ID, time.Now().UTC())
		rec.ID = started.Job.ID
		work.set(started.Job.ID, func(j *ethos.ProcessingJob) {
			j.State, j.RunID = ethos.JobDone, rec.ID
		})
		work.onLookup = func(id string) {
			if id == rec.ID {
				if err := runs.CreateProcessingRun(ctx, rec); err != nil {
					t.Error(err)
				}
			}
		}
		defer func() { work.onLookup = nil }()
		code, body := get(t, stewardToken, base+"/processing-runs/"+rec.ID+"?purpose=research")
		var got ethos.ProcessingRun
		json.Unmarshal([]byte(body), &got)
		if code != 200 || got.ID != rec.ID {
			t.Errorf("%d %s", code, body)
		}
	})
	t.Run("ExportStreamsTar", func(t *testing.T) {
		res, err := client(t, stewardToken, hs.URL+base+"/dataset-versions/"+strings.Repeat("a", 64)+"/export?split=s1&reweigh=sex,age")
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(res.Body)
		res.Body.Close()
		if err != nil || res.StatusCode != 200 || res.Header.Get("Content-Type") != "application/x-tar" || len(b) != 2048 {
			t.Errorf("export: %d %s, %d bytes, %v", res.StatusCode, res.Header.Get("Content-Type"), len(b), err)
		}
	})
	t.Run("ExportRefusedAnswersJSON", func(t *testing.T) {
		code, body := get(t, stewardToken, base+"/dataset-versions/"+strings.Repeat("f", 64)+"/export")
		if code != 403 || !strings.Contains(body, "agreement") {
			t.Errorf("%d %s", code, body)
		}
	})
	t.Run("ExportFailingMidwayIsCutOff", func(t *testing.T) {
		res, err := client(t, stewardToken, hs.URL+base+"/dataset-versions/"+strings.Repeat("e", 64)+"/export")
		if err != nil {
			t.Fatal(err)
		}
		_, err = io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != 200 || err == nil {
			t.Errorf("status %d, read error %v: want a cut-off stream", res.StatusCode, err)
		}
	})
}

func client(t *testing.T, tok, url string) (*http.Response, error) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	return http.DefaultClient.Do(req)
}

// fakeWork is a processing workflow whose jobs the test moves on.
type fakeWork struct {
	mu      sync.Mutex
	jobs    map[string]*ethos.ProcessingJob
	last    ethos.ProcessingSpec
	lastWho ethos.AccessRequest
	// onLookup, if set, runs when a job is looked up (before the answer).
	onLookup func(id string)
}

func (w *fakeWork) StartProcessingRun(ctx context.Context, who ethos.AccessRequest, projectID string, spec ethos.ProcessingSpec, requestID string) (*ethos.ProcessingJob, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.last, w.lastWho = spec, who
	j := &ethos.ProcessingJob{ID: ethos.NewID("prc"), ProjectID: projectID, Purpose: ethos.PurposeResearch, State: ethos.JobRunning, Done: 1, Total: 3}
	w.jobs[j.ID] = j
	c := *j
	return &c, nil
}

func (w *fakeWork) ProcessingJob(ctx context.Context, projectID, id string) (*ethos.ProcessingJob, error) {
	if w.onLookup != nil {
		w.onLookup(id)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	j, ok := w.jobs[id]
	if !ok || j.ProjectID != projectID {
		return nil, ethos.Errorf(ethos.ENOTFOUND, "no job %s", id)
	}
	c := *j
	return &c, nil
}

func (w *fakeWork) set(id string, f func(*ethos.ProcessingJob)) {
	w.mu.Lock()
	defer w.mu.Unlock()
	f(w.jobs[id])
}

// fakeExport writes 2 KiB for version a…, refuses f…, and fails after
// the first KiB for e….
type fakeExport struct{}

func (fakeExport) ExportDataset(ctx context.Context, who ethos.AccessRequest, projectID, versionID string, o ethos.DatasetExportOptions, w io.Writer, requestID string) error {
	switch versionID[0] {
	case 'f':
		return ethos.Errorf(ethos.EFORBIDDEN, "a limited party needs an active data-use agreement")
	case 'a':
		if o.SplitID != "s1" || len(o.ReweighBy) != 2 {
			return ethos.Errorf(ethos.EINVALID, "options %+v", o)
		}
		_, err := w.Write(make([]byte, 2048))
		return err
	}
	if _, err := w.Write(make([]byte, 1024)); err != nil {
		return err
	}
	return ethos.Errorf(ethos.EINTERNAL, "hash mismatch")
}
