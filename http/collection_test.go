package http_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/textproto"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ethos-imaging/ethos"
	"github.com/ethos-imaging/ethos/audit"
	"github.com/ethos-imaging/ethos/audit/audittest"
	"github.com/ethos-imaging/ethos/collection"
	"github.com/ethos-imaging/ethos/consent"
	"github.com/ethos-imaging/ethos/fileblob"
	ehttp "github.com/ethos-imaging/ethos/http"
	"github.com/ethos-imaging/ethos/internal/testenv"
	"github.com/ethos-imaging/ethos/policy"
	"github.com/ethos-imaging/ethos/sqlite"
)

type stowFixture struct {
	url, token, project string
	instances           *sqlite.InstanceService
	auditDB             audit.Storage
	log                 *audit.Log
	canary              string
}

func newSTOWFixture(t testing.TB) *stowFixture {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	db := sqlite.NewDB(filepath.Join(dir, "db"))
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
	parties, users, tokens, projects := sqlite.NewPartyService(db), sqlite.NewUserService(db), sqlite.NewTokenService(db), sqlite.NewProjectService(db)
	party := &ethos.Party{Name: "Hospital", Type: ethos.PartyPublic}
	if err := parties.CreateParty(ctx, party); err != nil {
		t.Fatal(err)
	}
	u := &ethos.User{PartyID: party.ID, Name: "steward", Roles: []ethos.Role{ethos.RoleDataSteward}}
	if err := users.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	secret, hash := ethos.NewTokenSecret()
	if err := tokens.CreateToken(ctx, &ethos.Token{UserID: u.ID, Name: "t", Hash: hash, ExpiresAt: time.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	p := &ethos.Project{Name: "CT research", IntendedUse: "nodules", Modality: "CT", ClinicalSetting: "radiology", PartyID: party.ID}
	if err := projects.CreateProject(ctx, p, u.ID); err != nil {
		t.Fatal(err)
	}
	ins, cons := sqlite.NewInstanceService(db), sqlite.NewConsentService(db)
	const issuer = "urn:oid:2.999.4711.1"
	if err := ins.SetCollectionRules(ctx, &ethos.CollectionRules{ProjectID: p.ID, Purpose: ethos.PurposeResearch, Modalities: []string{"CT", "MR"}, Issuer: issuer}); err != nil {
		t.Fatal(err)
	}
	subjectSecret := bytes.Repeat([]byte("s"), 32)
	b, err := os.ReadFile("../collection/testdata/ingest/consents.json")
	if err != nil {
		t.Fatal(err)
	}
	ims, err := consent.ParseFHIR(b)
	if err != nil {
		t.Fatal(err)
	}
	var cs []*ethos.Consent
	for _, im := range ims {
		if im.Consent.Subject, err = ethos.DeriveSubjectKey(subjectSecret, *im.Patient); err != nil {
			t.Fatal(err)
		}
		cs = append(cs, im.Consent)
	}
	if err := cons.ImportConsents(ctx, cs, nil); err != nil {
		t.Fatal(err)
	}
	blobs := newBlobStore(t, dir)
	auditor := ehttp.LogAuditor{Log: log}
	s := ehttp.NewServer()
	s.Logger = slog.New(slog.NewJSONHandler(io.Discard, nil))
	s.Policy, s.Auditor, s.AuditLog, s.AuditDB, s.VerifierKey = policy.Default(), auditor, log, auditDB, key.Verifier
	s.Parties, s.Users, s.Tokens, s.Projects, s.DUAs, s.Records = parties, users, tokens, projects, sqlite.NewDUAService(db), sqlite.NewRecordService(db)
	s.Ingest = &collection.Service{Projects: projects, DUAs: s.DUAs, Ingester: &collection.Ingester{Instances: ins, Consents: cons, Blobs: blobs,
		Auditor: auditor, Decider: policy.Default(), Secret: subjectSecret}}
	linkKey, err := collection.LinkKey(bytes.Repeat([]byte("m"), 32))
	if err != nil {
		t.Fatal(err)
	}
	s.Instances, s.Consents = ins, cons
	s.Collection = &collection.Registry{Consents: cons, Instances: ins, Blobs: blobs, Auditor: auditor, Secret: subjectSecret, LinkKey: linkKey}
	hs := httptest.NewServer(s.Handler())
	t.Cleanup(func() { hs.Close(); log.Close(); db.Close() })
	return &stowFixture{url: hs.URL, token: secret, project: p.ID, instances: ins, auditDB: auditDB, log: log, canary: filepath.Join(testenv.DICOMDir(t), "canary")}
}

// multipartBody builds a multipart/related body of the given parts.
func multipartBody(t testing.TB, partType string, parts ...[]byte) (string, []byte) {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for _, p := range parts {
		pw, err := mw.CreatePart(textproto.MIMEHeader{"Content-Type": {partType}})
		if err != nil {
			t.Fatal(err)
		}
		pw.Write(p)
	}
	mw.Close()
	return fmt.Sprintf(`multipart/related; type="application/dicom"; boundary=%s`, mw.Boundary()), buf.Bytes()
}

func (f *stowFixture) post(t *testing.T, ctype string, body []byte) (int, string, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest("POST", f.url+"/dicomweb/studies?project="+f.project, bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+f.token)
	req.Header.Set("Content-Type", ctype)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var m map[string]any
	json.Unmarshal(b, &m)
	return resp.StatusCode, resp.Header.Get("Content-Type"), m
}

func (f *stowFixture) read(t testing.TB, rel string) []byte {
	b, err := os.ReadFile(filepath.Join(f.canary, rel))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func seqLen(m map[string]any, tag string) int {
	a, _ := m[tag].(map[string]any)
	v, _ := a["Value"].([]any)
	return len(v)
}

func TestSTOW(t *testing.T) {
	f := newSTOWFixture(t)
	count := func() int {
		_, n, err := f.instances.FindInstances(context.Background(), ethos.InstanceFilter{ProjectID: &f.project})
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	t.Run("malformed_requests_store_nothing", func(t *testing.T) {
		ct, good := multipartBody(t, "application/dicom", f.read(t, "shard0/ct_00000.dcm"))
		_, wrongPart := multipartBody(t, "application/json", f.read(t, "shard0/ct_00000.dcm"), []byte("{}"))
		ctWrong, _ := multipartBody(t, "application/json")
		tests := []struct {
			name, ctype string
			body        []byte
		}{
			{"not_multipart", "application/dicom", f.read(t, "shard0/ct_00000.dcm")},
			{"truncated_body", ct, good[:len(good)-40]},
			{"part_not_dicom_type", ct, wrongPart},
			{"no_parts", ctWrong, []byte("--" + strings.Split(ctWrong, "boundary=")[1] + "--\r\n")},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				status, _, m := f.post(t, tt.ctype, tt.body)
				if status != http.StatusBadRequest || m["message"] == nil {
					t.Fatalf("status %d %v, want 400 with a message", status, m)
				}
				if n := count(); n != 0 {
					t.Fatalf("%d instance records after a malformed request", n)
				}
			})
		}
	})
	t.Run("mixed_request_answers_202_with_both_sequences", func(t *testing.T) {
		ct, body := multipartBody(t, "application/dicom", f.read(t, "shard0/ct_00000.dcm"), f.read(t, "shard0/ctsmall_00010.dcm"), []byte("not dicom"))
		status, ctype, m := f.post(t, ct, body)
		if status != http.StatusAccepted || ctype != "application/dicom+json" {
			t.Fatalf("status %d %s: %v", status, ctype, m)
		}
		if seqLen(m, "00081199") != 1 || seqLen(m, "00081198") != 2 {
			t.Fatalf("response %v: want 1 referenced and 2 failed", m)
		}
		failed := m["00081198"].(map[string]any)["Value"].([]any)
		codes, comments := []float64{}, []string{}
		for _, it := range failed {
			codes = append(codes, it.(map[string]any)["00081197"].(map[string]any)["Value"].([]any)[0].(float64))
			comments = append(comments, it.(map[string]any)["00000902"].(map[string]any)["Value"].([]any)[0].(string))
		}
		if codes[0] != 0x0124 || codes[1] != 0xC000 {
			t.Errorf("failure reasons %v, want 0x0124 (no consent) and 0xC000 (not DICOM)", codes)
		}
		if comments[0] != string(ethos.QuarantineNoConsent) || comments[1] != string(ethos.QuarantineUnparsable) {
			t.Errorf("error comments %q, want Ethos's reason codes NO_CONSENT and UNPARSABLE", comments)
		}
	})
	t.Run("all_refused_answers_409", func(t *testing.T) {
		ct, body := multipartBody(t, "application/dicom", f.read(t, "shard0/xa_00006.dcm"))
		if status, _, m := f.post(t, ct, body); status != http.StatusConflict || seqLen(m, "00081198") != 1 {
			t.Fatalf("status %d: %v", status, m)
		}
	})
	t.Run("duplicate_is_success_and_stored_once", func(t *testing.T) {
		ct, body := multipartBody(t, "application/dicom", f.read(t, "shard0/ct_00000.dcm"))
		if status, _, m := f.post(t, ct, body); status != http.StatusOK || seqLen(m, "00081199") != 1 {
			t.Fatalf("status %d: %v", status, m)
		}
		st := ethos.InstanceStored
		if _, n, _ := f.instances.FindInstances(context.Background(), ethos.InstanceFilter{ProjectID: &f.project, Status: &st}); n != 1 {
			t.Fatalf("%d stored, want 1", n)
		}
	})
	t.Run("audit_holds_no_identifier", func(t *testing.T) {
		if _, err := f.log.Checkpoint(context.Background()); err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		if err := audit.Export(context.Background(), f.auditDB, &buf); err != nil {
			t.Fatalf("export: %v", err)
		}
		if strings.Contains(buf.String(), "CANARY") {
			t.Fatal("audit export holds a patient identifier")
		}
		if !strings.Contains(buf.String(), "instance.store") {
			t.Fatal("audit export lacks the ingest decisions")
		}
	})
}

// FuzzSTOW sends arbitrary bodies under a multipart/related content type
// with a fixed boundary: the server answers with a defined status, never
// 500, and a refused request (4xx) leaves no instance record behind.
func FuzzSTOW(f *testing.F) {
	fx := newSTOWFixture(f)
	const boundary = "ethos-fuzz-boundary"
	ctype := `multipart/related; type="application/dicom"; boundary=` + boundary
	wrap := func(parts ...[]byte) []byte {
		var b bytes.Buffer
		for _, p := range parts {
			b.WriteString("--" + boundary + "\r\nContent-Type: application/dicom\r\n\r\n")
			b.Write(p)
			b.WriteString("\r\n")
		}
		b.WriteString("--" + boundary + "--\r\n")
		return b.Bytes()
	}
	ct := fx.read(f, "shard0/ct_00000.dcm")
	f.Add(wrap(ct))
	f.Add(wrap(fx.read(f, "shard0/xa_00006.dcm"), []byte("junk")))
	f.Add(wrap(ct)[:200])
	f.Add(wrap())
	f.Add([]byte("--" + boundary + "\r\nContent-Type: text/plain\r\n\r\nx\r\n--" + boundary + "--\r\n"))
	count := func(t *testing.T) int {
		_, n, err := fx.instances.FindInstances(context.Background(), ethos.InstanceFilter{ProjectID: &fx.project})
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		before := count(t)
		status, _, m := fx.post(t, ctype, body)
		switch status {
		case http.StatusOK, http.StatusAccepted, http.StatusConflict:
			if status == http.StatusConflict && m["00081198"] == nil {
				t.Fatalf("409 without a Failed SOP Sequence: %v", m)
			}
		case http.StatusBadRequest, http.StatusRequestEntityTooLarge:
			if n := count(t); n != before {
				t.Fatalf("refused request (%d) changed the instance records from %d to %d", status, before, n)
			}
		default:
			t.Fatalf("status %d: %v", status, m)
		}
	})
}

// TestCollectionEndpoints checks the answers of the collection API to good
// and bad requests: the status, and for refusals the JSON error naming
// what is wrong.
func TestCollectionEndpoints(t *testing.T) {
	f := newSTOWFixture(t)
	consents, err := os.ReadFile("../collection/testdata/ingest/consents.json")
	if err != nil {
		t.Fatal(err)
	}
	renamed := strings.ReplaceAll(string(consents), `"id": "canary-`, `"id": "copy-`)
	prj := "/api/v1/projects/" + f.project
	tests := []struct {
		name, method, path, ct, body string
		status                       int
		want                         string
	}{
		{"rules_read", "GET", prj + "/collection/rules", "", "", 200, `"purpose":"research"`},
		{"rules_set_with_retention", "PUT", prj + "/collection/rules", "application/json", `{"purpose":"research","modalities":["ct","MR"],"issuer":"urn:oid:2.999.4711.1","retention_days":30}`, 200, `"retention_days":30`},
		{"ErrInvalid_rules_negative_retention", "PUT", prj + "/collection/rules", "application/json", `{"purpose":"research","retention_days":-2}`, 400, "retention_days"},
		{"ErrInvalid_rules_unknown_field", "PUT", prj + "/collection/rules", "application/json", `{"purpose":"research","keep":true}`, 400, "keep"},
		{"ErrNotFound_rules_of_unknown_project", "GET", "/api/v1/projects/prj_nope/collection/rules", "", "", 404, "prj_nope"},
		{"ErrInvalid_import_wrong_content_type", "POST", prj + "/consents", "text/plain", renamed, 400, "application/fhir+json"},
		{"ErrInvalid_import_malformed_names_the_field", "POST", prj + "/consents", "application/fhir+json", strings.Replace(renamed, `"status": "active"`, `"status": "sort-of"`, 1), 400, "status"},
		{"ErrConflict_import_existing_ids", "POST", prj + "/consents", "application/fhir+json", string(consents), 409, "already exists"},
		{"import_all", "POST", prj + "/consents", "application/fhir+json", renamed, 201, `"imported":3`},
		{"consent_as_fhir", "GET", prj + "/consents/copy-1", "", "", 200, `"resourceType": "Consent"`},
		{"ErrNotFound_unknown_consent", "GET", prj + "/consents/nope", "", "", 404, "nope"},
		{"ErrInvalid_withdraw_both_key_and_identifier", "POST", prj + "/withdrawals", "application/json", `{"subject":"` + strings.Repeat("a", 64) + `","issuer":"x","patient_id":"y"}`, 400, "not both"},
		{"ErrInvalid_withdraw_no_subject", "POST", prj + "/withdrawals", "application/json", `{}`, 400, "required"},
		{"ErrNotFound_withdraw_unknown_identifier", "POST", prj + "/withdrawals", "application/json", `{"issuer":"urn:oid:2.999.4711.1","patient_id":"NOSUCHPATIENT7"}`, 404, "no subject is known"},
		{"withdraw_by_identifier", "POST", prj + "/withdrawals", "application/json", `{"issuer":"urn:oid:2.999.4711.1","patient_id":"CANARYID000002","note":"` + withFakePatient("asked by phone") + `"}`, 200, `"consents":["canary-2","copy-2"]`},
		{"ErrInvalid_dispose_subject_and_expired", "POST", prj + "/disposals", "application/json", `{"subject":"` + strings.Repeat("a", 64) + `","expired":true}`, 400, "either"},
		{"rules_body_parts_typed", "PUT", prj + "/collection/rules", "application/json", `{"purpose":"research","body_parts":["CHEST","` + fakePatient[0] + `"]}`, 200, fakePatient[0]},
		{"rules_body_parts_kept", "GET", prj + "/collection/rules", "", "", 200, fakePatient[0]},
		{"ErrInvalid_dispose_reason_with_a_birth_date", "POST", prj + "/disposals", "application/json", `{"subject":"` + strings.Repeat("a", 64) + `","reason":"` + withFakePatient("erasure asked") + `"}`, 400, `"field":"reason"`},
		{"ErrInvalid_dispose_reason_with_a_record_number", "POST", prj + "/disposals", "application/json", `{"subject":"` + strings.Repeat("a", 64) + `","reason":"erasure asked, MRN 004417731"}`, 400, "six or more digits"},
		{"dispose_expired_nothing_yet", "POST", prj + "/disposals", "application/json", `{"expired":true}`, 200, `"instances":0`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(tt.method, f.url+tt.path, strings.NewReader(tt.body))
			req.Header.Set("Authorization", "Bearer "+f.token)
			if tt.ct != "" {
				req.Header.Set("Content-Type", tt.ct)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.status || !strings.Contains(string(b), tt.want) {
				t.Fatalf("%s %s: %d %s; want %d containing %q", tt.method, tt.path, resp.StatusCode, b, tt.status, tt.want)
			}
			if strings.Contains(string(b), "CANARYID") || strings.Contains(string(b), "NOSUCHPATIENT") {
				t.Fatalf("the answer names a patient identifier: %s", b)
			}
		})
	}
	// Typed body parts and the withdrawal's note are on their records,
	// not in the audit log.
	auditClean(t, f.auditDB, f.log.Size())
}

// newBlobStore is an initialised encrypted blob store under dir, with its
// key store closed when the test ends.
func newBlobStore(t testing.TB, dir string) *fileblob.Store {
	t.Helper()
	keys := fileblob.NewFileKeyStore(filepath.Join(dir, "keys.json"))
	if err := keys.Open(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { keys.Close() })
	blobs := fileblob.NewStore(filepath.Join(dir, "blobs"), keys, fileblob.GenerateMasterKey())
	if err := blobs.Init(); err != nil {
		t.Fatal(err)
	}
	return blobs
}
