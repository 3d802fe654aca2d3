package http_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ethos-imaging/ethos"
	"github.com/ethos-imaging/ethos/audit"
	"github.com/ethos-imaging/ethos/audit/audittest"
	ehttp "github.com/ethos-imaging/ethos/http"
	"github.com/ethos-imaging/ethos/policy"
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
	hs := httptest.NewServer(s.Handler())
	t.Cleanup(func() { hs.Close(); log.Close(); db.Close() })

	stewardToken, clinicianToken := token(steward), token(clinician)
	get := func(t *testing.T, tok, path string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest("GET", hs.URL+path, nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
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
}
