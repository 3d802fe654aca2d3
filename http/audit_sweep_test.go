package http_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/ethos-imaging/ethos"
	"github.com/ethos-imaging/ethos/audit"
	"github.com/ethos-imaging/ethos/collection"
	"github.com/ethos-imaging/ethos/deployment"
	"github.com/ethos-imaging/ethos/deployment/monitor"
	"github.com/ethos-imaging/ethos/deployment/monitor/sim"
	"github.com/ethos-imaging/ethos/evaluation"
	ehttp "github.com/ethos-imaging/ethos/http"
	"github.com/ethos-imaging/ethos/processing"
	"github.com/ethos-imaging/ethos/sqlite"
	"github.com/ethos-imaging/ethos/sqlstore"
	"github.com/ethos-imaging/ethos/storetest"
	"github.com/ethos-imaging/ethos/training"
)

// TestNoTypedTextReachesTheAudit sweeps every operation of the OpenAPI
// document of a server with the foundation, collection, processing (read),
// training, evaluation, deployment and monitoring services wired: each JSON body is built from
// its schema with every string (and every string query parameter) set to
// the fake patient's identity, and sent by a user who holds every role.
// Whatever each endpoint makes of it (most refuse it, some store it), no
// entry of the audit log, read back from storage, may hold any of it, no
// answer may be a server error, and no refusal may quote it.
func TestNoTypedTextReachesTheAudit(t *testing.T) {
	var f *fixture
	f = newFixtureAt(t, time.Now().UTC(), func(f *fixture, s *ehttp.Server) {
		store := f.db.Store()
		dep := sqlstore.NewDeploymentStore(store)
		t.Cleanup(func() { dep.Close() })
		reg := &deployment.Registry{Store: dep, Users: f.users, Evaluations: storetest.Evaluations{"mv-1": "eval-1"}, Now: f.clock.Now}
		s.Deployments, s.Events = reg, reg
		mon := sqlstore.NewMonitorService(store)
		s.Monitor, s.MonitorStore = &monitor.Monitor{Store: mon, Events: sim.NewReader(nil), Auditor: f.auditor, Now: f.clock.Now}, mon
		ev := evaluation.New(sqlstore.NewEvaluationStore(store), f.auditor)
		ev.Now, ev.Projects, ev.Workers = f.clock.Now, f.projects, 1
		s.Evaluations, s.MaxPredictionsBytes = ev, 1<<20
		ins, cons := sqlite.NewInstanceService(f.db), sqlite.NewConsentService(f.db)
		tr := &training.Service{Runs: sqlstore.NewTrainingStore(store), Obligations: sqlstore.NewObligationService(store), Lineage: sqlstore.NewLineageService(store),
			Members: datasetMap{}, Instances: ins, Consents: cons, Auditor: f.auditor, Now: f.clock.Now}
		s.Training, s.TrainingRuns, s.Lineage, s.Obligations = tr, tr.Runs, tr.Lineage, tr.Obligations
		s.ProcessingRuns, s.Datasets = sqlstore.NewProcessingService(store), sqlstore.NewDatasetService(store)
		// Dataset work (build, labels, split, datasheet), as serve wires
		// it: the labels upload takes a CSV body with typed values.
		s.DatasetWork = &processing.Service{Projects: f.projects, Instances: ins, Datasets: &processing.Datasets{Runs: s.ProcessingRuns, Instances: ins,
			Versions: s.Datasets, Lineage: tr.Lineage, Auditor: f.auditor, Decider: s.Policy, Now: f.clock.Now}}
		// The collection stage, as newSTOWFixture wires it.
		blobs := newBlobStore(t, t.TempDir())
		linkKey, err := collection.LinkKey(bytes.Repeat([]byte("m"), 32))
		if err != nil {
			t.Fatal(err)
		}
		secret := bytes.Repeat([]byte("s"), 32)
		s.Instances, s.Consents = ins, cons
		s.Ingest = &collection.Service{Projects: f.projects, DUAs: s.DUAs, Ingester: &collection.Ingester{Instances: ins, Consents: cons, Blobs: blobs,
			Auditor: f.auditor, Decider: s.Policy, Secret: secret}}
		s.Collection = &collection.Registry{Consents: cons, Instances: ins, Blobs: blobs, Auditor: f.auditor, Secret: secret, LinkKey: linkKey}
	})
	all := []ethos.Role{ethos.RoleAdmin, ethos.RoleDataSteward, ethos.RoleResearcher, ethos.RoleMLEngineer, ethos.RoleClinician,
		ethos.RoleEthicsReviewer, ethos.RoleAuditor, ethos.RolePatientAdvocate}
	tok := func() string { return f.user(f.owner, all...) }

	// Real ids for the path parameters, so that requests get past the
	// look-ups to the code that audits.
	ids := map[string]string{}
	var prj ethos.Project
	if code, m := f.do("POST", "/api/v1/projects", f.admin, map[string]string{"name": "Chest triage", "intended_use": "triage", "modality": "DX", "clinical_setting": "ED"}, &prj); code != 201 {
		t.Fatalf("create project: %d %v", code, m)
	}
	ids["projects"] = prj.ID
	if code, m := f.do("PUT", "/api/v1/projects/"+prj.ID+"/collection/rules", tok(), map[string]any{"purpose": "ai-training", "issuer": "urn:oid:2.999.4711.1"}, nil); code != 200 {
		t.Fatalf("collection rules: %d %v", code, m)
	}
	var who struct {
		User  ethos.User  `json:"user"`
		Token ethos.Token `json:"token"`
	}
	f.do("GET", "/api/v1/whoami", tok(), nil, &who)
	ids["users"], ids["tokens"], ids["parties"] = who.User.ID, who.Token.ID, f.owner.ID
	// A dataset version of a processing run, so that the dataset-version
	// operations (the labels upload above all) get past their look-ups.
	run := storetest.ProcessingRunFixture(prj.ID, time.Now().UTC())
	if err := sqlstore.NewProcessingService(f.db.Store()).CreateProcessingRun(context.Background(), run); err != nil {
		t.Fatal(err)
	}
	it := run.Items[0]
	version := &ethos.DatasetVersion{ID: strings.Repeat("e", 64), ProjectID: prj.ID, RunID: run.ID, CreatedAt: time.Now().UTC(), CreatedBy: who.User.ID,
		Entries: []ethos.ManifestEntry{{ID: it.OutputUID, Patient: it.PseudoID, SHA256: it.OutputSHA256, Path: "a/b/c.dcm"}},
		Members: []ethos.DatasetMember{{EntryID: it.OutputUID, InstanceID: it.InstanceID, Subject: it.Subject, Blob: *it.Output}}}
	if err := sqlstore.NewDatasetService(f.db.Store()).CreateDatasetVersion(context.Background(), version); err != nil {
		t.Fatal(err)
	}
	ids["dataset-versions"], labelEntry = version.ID, it.OutputUID
	var d ethos.Deployment
	if code, m := f.do("POST", "/api/v1/deployments", tok(), map[string]any{"project_id": prj.ID, "model_version_id": "mv-1", "site": "Main ED",
		"intended_use": "flag pneumothorax", "threshold": 0.5, "responsible_user_id": who.User.ID, "plan": map[string]any{"stakeholder_roles": []string{"clinician"}}}, &d); code != 201 {
		t.Fatalf("register deployment: %d %v", code, m)
	}
	ids["deployments"] = d.ID
	// A monitoring plan, so that the monitoring endpoints answer past
	// their "no plan" look-up.
	plan, err := os.ReadFile("../deployment/monitor/testdata/plan.json")
	if err != nil {
		t.Fatal(err)
	}
	planBody := strings.NewReplacer(`"project_id": "prj-lung"`, `"project_id": "`+prj.ID+`"`, `"deployment_id": "dep-sim"`, `"deployment_id": "`+d.ID+`"`).Replace(string(plan))
	if code, m := f.do("PUT", "/api/v1/deployments/"+d.ID+"/monitoring/plan", tok(), planBody, nil); code != 200 {
		t.Fatalf("monitoring plan: %d %v", code, m)
	}

	var doc struct {
		Paths      map[string]map[string]json.RawMessage `json:"paths"`
		Components struct {
			Schemas map[string]json.RawMessage `json:"schemas"`
		} `json:"components"`
	}
	if code, m := f.do("GET", "/api/v1/openapi.json", "", nil, &doc); code != 200 {
		t.Fatalf("openapi: %d %v", code, m)
	}
	paths := make([]string, 0, len(doc.Paths))
	for p := range doc.Paths {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	// Two sweeps: the fake patient's identity, which has the shapes the
	// identifier screen refuses, so that most requests are refused; then
	// a name alone, which the screen lets through (it recognises shapes,
	// not names), so that the claim that typed text never reaches an
	// audit entry is tested where the screen does not stand in front.
	// Closed vocabularies and ids get valid values, so that requests get
	// past their checks to the free text.
	fixed := map[string]any{"purpose": "ai-training", "role": "clinician", "roles": []string{"clinician"}, "modality": "CT",
		"stage": "collection", "decision": "approved", "type": "public", "kind": "site", "action": "exemption",
		"project_id": prj.ID, "user_id": who.User.ID, "party_id": f.owner.ID, "responsible_user_id": who.User.ID}
	sweeps := []struct {
		poison string
		parts  []string // none of which may appear in an answer's message or an audit entry
	}{
		{strings.Join(fakePatient, " "), fakePatient},
		{nameOnly, []string{nameOnly}},
	}
	for _, sw := range sweeps {
		before, sent, accepted, labelsStored := f.log.Size(), 0, 0, 0
		sweepOnce(t, f, tok, doc.Paths, doc.Components.Schemas, paths, ids, fixed, sw.poison, sw.parts, &sent, &accepted, &labelsStored)
		for _, h := range auditHolding(t, sqlite.NewAuditStorage(f.db), f.log.Size(), sw.parts) {
			t.Error(h)
		}
		// Most operations refuse the poison before they act; enough of them
		// must get as far as the audit log for the sweep to mean something.
		t.Logf("poison %q: %d requests, %d accepted, %d audit entries written", sw.poison, sent, accepted, f.log.Size()-before)
		if sent < 90 || accepted < 20 || f.log.Size()-before < 45 {
			t.Fatalf("the sweep reached too little: %d requests, %d accepted, %d audit entries", sent, accepted, f.log.Size()-before)
		}
		// The label file with the typed value as a label must be stored
		// (and so audited), or the sweep proves nothing about it.
		if labelsStored != 1 {
			t.Errorf("poison %q: %d label files stored, want 1 (the one with the typed value as a label)", sw.poison, labelsStored)
		}
	}
	f.verify()
}

// nameOnly is a patient's name with no shape the identifier screen
// recognises (no '^', no digits).
const nameOnly = "Janet Quimbly"

// auditFree fails when any of the first size entries of st holds one of
// parts.
func auditFree(t *testing.T, st audit.Storage, size int64, parts []string) {
	t.Helper()
	for _, h := range auditHolding(t, st, size, parts) {
		t.Error(h)
	}
}

// sweepOnce sends every operation of paths once, every string set to
// poison, and counts the requests sent and accepted.
func sweepOnce(t *testing.T, f *fixture, tok func() string, ops map[string]map[string]json.RawMessage, schemas map[string]json.RawMessage,
	paths []string, ids map[string]string, fixed map[string]any, poison string, parts []string, sent, accepted, labelsStored *int) {
	t.Helper()
	for _, path := range paths {
		for method, raw := range ops[path] {
			method = strings.ToUpper(method)
			if method == "GET" && !strings.Contains(path, "{") && !strings.Contains(string(raw), `"in":"query"`) {
				continue // nothing typed reaches it
			}
			var op struct {
				Parameters []struct {
					Name, In string
					Schema   struct{ Type string }
				}
				RequestBody struct {
					Content map[string]struct{ Schema json.RawMessage }
				} `json:"requestBody"`
			}
			if err := json.Unmarshal(raw, &op); err != nil {
				t.Fatalf("%s %s: %v", method, path, err)
			}
			target := sweepPath(path, ids)
			q := url.Values{}
			for _, p := range op.Parameters {
				if p.In == "query" && p.Schema.Type == "string" {
					if x, ok := fixed[p.Name].(string); ok {
						q.Set(p.Name, x)
					} else {
						q.Set(p.Name, poison)
					}
				}
			}
			if len(q) > 0 {
				target += "?" + q.Encode()
			}
			if strings.HasSuffix(path, "/dataset-versions/{version}/labels") {
				// A label file: the typed value as a label of a real
				// entry (allowed, as the query says), then as an id.
				for _, csv := range []string{"id,label\n" + labelEntry + "," + poison + "\n", "id,label\n" + poison + "," + poison + "\n"} {
					code, m := doText(t, f, method, target, tok(), "text/csv", csv)
					checkAnswer(t, method+" "+path+" (CSV)", code, m, parts)
					*sent++
					if code < 300 {
						*accepted++
						*labelsStored++
					}
				}
				continue
			}
			var body any
			if b := sweepBatch(path, poison); b != nil {
				body = b
			} else if c, ok := op.RequestBody.Content["application/json"]; ok {
				body = sweepValue(c.Schema, schemas, poison, fixed, 0)
			} else if method != "GET" && method != "DELETE" {
				body = map[string]string{"reason": poison, "note": poison}
			}
			code, m := f.do(method, target, tok(), body, nil)
			checkAnswer(t, method+" "+path, code, m, parts)
			*sent++
			if code < 300 {
				*accepted++
			}
		}
	}
}

// checkAnswer fails when a refusal quotes the typed value anywhere in its
// answer — its message, or the per-record reasons of a batch (events and
// labels answer 400 with the rejected records) — or when an answer is a
// server error.
func checkAnswer(t *testing.T, op string, code int, m map[string]any, parts []string) {
	t.Helper()
	if code >= 400 {
		answer, _ := json.Marshal(m)
		for _, id := range parts {
			if strings.Contains(string(answer), id) {
				t.Errorf("%s: the refusal quotes the typed value %q: %s", op, id, answer)
			}
		}
	}
	if code >= 500 && code != 501 {
		t.Errorf("%s: %d %v: typed text must be refused, not fail", op, code, m)
	}
}

// labelEntry is the entry id of the sweep's dataset version.
var labelEntry string

// doText sends body with the content type ct, as f.do sends JSON.
func doText(t *testing.T, f *fixture, method, path, token, ct, body string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(method, f.url+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", ct)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var m map[string]any
	json.Unmarshal(b, &m)
	return resp.StatusCode, m
}

// sweepBatch is the body for the deployment's batch endpoints, whose
// records are not in the OpenAPI schema: one record (a JSON array) with
// the poison in every free-text field (the ids must have an id's shape
// to get that far), or nil for other paths.
func sweepBatch(path, poison string) any {
	now := time.Now().UTC().Format(time.RFC3339)
	switch {
	case strings.HasSuffix(path, "/events"):
		return []any{map[string]any{"event_id": "e-sweep-1", "time": now, "case_id": "c-sweep-1", "site": poison, "score": 0.7, "decision": true,
			"sex": "F", "age_band": "65-74", "acquisition": map[string]any{"manufacturer": poison, "model_name": poison,
				"software_version": poison, "body_part": poison, "protocol": poison, "modality": "CT"}}}
	case strings.HasSuffix(path, "/deployments/{id}/labels"):
		return []any{map[string]any{"case_id": "c-sweep-1", "positive": true, "source": "pathology", "at": now}}
	}
	return nil
}

// sweepPath fills the {wildcards} of an OpenAPI path with the id of the
// collection they follow ("/api/v1/projects/{id}" → the project's id),
// and with a well-formed unknown id otherwise.
func sweepPath(path string, ids map[string]string) string {
	segs := strings.Split(path, "/")
	for i, s := range segs {
		if !strings.HasPrefix(s, "{") {
			continue
		}
		segs[i] = "unknown-1"
		if i > 0 {
			if id, ok := ids[segs[i-1]]; ok {
				segs[i] = id
			}
		}
	}
	return strings.Join(segs, "/")
}

// sweepValue builds a JSON value of schema with every string set to
// poison (nested objects and arrays included, $ref resolved), except
// date-times (a valid time) and the properties named in fixed (closed
// vocabularies and ids, whose refusal would stop a request before any
// free text is handled).
func sweepValue(schema json.RawMessage, defs map[string]json.RawMessage, poison string, fixed map[string]any, depth int) any {
	var s struct {
		Ref        string                     `json:"$ref"`
		Type       string                     `json:"type"`
		Format     string                     `json:"format"`
		Properties map[string]json.RawMessage `json:"properties"`
		Items      json.RawMessage            `json:"items"`
	}
	if json.Unmarshal(schema, &s) != nil || depth > 6 {
		return nil
	}
	if s.Ref != "" {
		return sweepValue(defs[strings.TrimPrefix(s.Ref, "#/components/schemas/")], defs, poison, fixed, depth+1)
	}
	switch s.Type {
	case "string":
		if s.Format == "date-time" {
			return "2027-01-31T00:00:00Z"
		}
		return poison
	case "integer", "number":
		return 1
	case "boolean":
		return true
	case "array":
		return []any{sweepValue(s.Items, defs, poison, fixed, depth+1)}
	case "object", "":
		out := map[string]any{}
		for k, v := range s.Properties {
			if x, ok := fixed[k]; ok {
				out[k] = x
				continue
			}
			out[k] = sweepValue(v, defs, poison, fixed, depth+1)
		}
		return out
	}
	return nil
}
