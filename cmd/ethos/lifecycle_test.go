package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ethos-imaging/ethos"
	"github.com/ethos-imaging/ethos/dicom"
	"github.com/ethos-imaging/ethos/dicom/tag"
	"github.com/ethos-imaging/ethos/evaluation/evaltest"
	"github.com/ethos-imaging/ethos/internal/testenv"
	"github.com/ethos-imaging/ethos/sqlite"
	"github.com/ethos-imaging/ethos/storetest"
)

// serveUntilStopped runs "ethos serve" on dir in this process, as
// serveInProcess does, and returns its URL and a stop function, so that
// the offline commands (process, dataset export) can have the data
// directory to themselves afterwards.
func serveUntilStopped(t *testing.T, dir string) (url string, stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	env := &Env{Stdin: strings.NewReader(""), Stdout: io.Discard, Stderr: pw, Getenv: func(string) string { return "" }}
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, env, []string{"serve", "--data", dir, "--addr", "127.0.0.1:0", "--retention-interval", "0"})
		pw.Close()
	}()
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	}
	t.Cleanup(stop)
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
		return "http://" + a, stop
	case <-time.After(30 * time.Second):
		t.Fatal("server did not start listening")
	}
	return "", stop
}

// lifecycleUsers adds, straight in the store, one user per role the
// lifecycle needs (in the steward's party) and a token for each, the
// steward's included.
func lifecycleUsers(t *testing.T, dir, steward string, roles ...ethos.Role) (ids, tokens map[ethos.Role]string) {
	t.Helper()
	ctx := context.Background()
	db := sqlite.NewDB(dir)
	if err := db.Open(ctx); err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	us, ts := sqlite.NewUserService(db), sqlite.NewTokenService(db)
	st, err := us.FindUserByID(ctx, steward)
	if err != nil {
		t.Fatal(err)
	}
	ids, tokens = map[ethos.Role]string{ethos.RoleDataSteward: steward}, map[ethos.Role]string{}
	for _, role := range roles {
		u := &ethos.User{PartyID: st.PartyID, Name: string(role), Roles: []ethos.Role{role}}
		if err := us.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
		ids[role] = u.ID
	}
	for role, id := range ids {
		secret, hash := ethos.NewTokenSecret()
		if err := ts.CreateToken(ctx, &ethos.Token{UserID: id, Name: "lifecycle", Hash: hash, ExpiresAt: time.Now().Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
		tokens[role] = secret
	}
	return ids, tokens
}

// canaryIdentifiers returns the direct identifiers (name, id, other ids,
// birth date, address) the canary files under dir carry, read with the
// dicom package; "CANARY" comes first, as every name and id holds it.
func canaryIdentifiers(t *testing.T, dir string) []string {
	t.Helper()
	seen := map[string]bool{"CANARY": true}
	out := []string{"CANARY"}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || filepath.Ext(path) != ".dcm" {
			return err
		}
		f, err := dicom.ParseFile(path, dicom.SkipPixelData())
		if err != nil {
			return nil // the canary holds deliberately broken files too
		}
		for _, tg := range []tag.Tag{tag.PatientName, tag.PatientID, tag.PatientBirthDate, tag.PatientAddress} {
			for _, v := range f.Dataset.Texts(tg) {
				if v = strings.TrimSpace(v); len(v) >= 6 && !seen[v] {
					seen[v] = true
					out = append(out, v)
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(out) < 4 {
		t.Fatalf("read only %v from the canary files", out)
	}
	return out
}

// TestLifecycle drives one project through all five stages with the
// commands a hospital would run, on real DICOM files from the shared
// corpus: consent and ingest (collection), de-identification and a
// labelled, split, exported dataset version (processing), a registered and
// signed-off training run (training), a pre-registered evaluation judged,
// signed off and acknowledged (evaluation), a deployment that goes live,
// receives events and is monitored (deployment), and then a consent
// withdrawal that follows the subject's data into the dataset and model
// versions and stops further use. Every step's evidence is checked: the
// audit log verifies, lineage names the subject behind the model, and no
// patient identifier leaves the system.
func TestLifecycle(t *testing.T) {
	dir, steward, project := ingestSetup(t)
	ids, tokens := lifecycleUsers(t, dir, steward, ethos.RoleMLEngineer, ethos.RoleEthicsReviewer, ethos.RolePatientAdvocate, ethos.RoleClinician)
	work := t.TempDir()
	canary := filepath.Join(testenv.DICOMDir(t), "canary")
	consents, err := filepath.Abs("../../collection/testdata/ingest/consents.json")
	if err != nil {
		t.Fatal(err)
	}
	// noIdentifier fails the test when a command's output or a written
	// file holds one of the canary patients' identifiers.
	identifiers := canaryIdentifiers(t, canary)
	noIdentifier := func(args []string, s string) {
		t.Helper()
		for _, id := range identifiers {
			if strings.Contains(s, id) {
				t.Fatalf("ethos %s printed a patient identifier (%d bytes of output)", strings.Join(args, " "), len(s))
			}
		}
	}
	must := func(args ...string) string {
		t.Helper()
		out, stderr, code := runCLI(t, args...)
		noIdentifier(args, out+stderr)
		if code != 0 {
			t.Fatalf("ethos %s: exit %d: %s", strings.Join(args, " "), code, stderr)
		}
		return out
	}
	mustJSON := func(out any, args ...string) {
		t.Helper()
		if err := json.Unmarshal([]byte(must(append(args, "--json")...)), out); err != nil {
			t.Fatalf("ethos %s: %v", strings.Join(args, " "), err)
		}
	}
	offline := func(args ...string) []string {
		return append(args, "--data", dir, "--user", steward, "--project", project)
	}
	verify := func(stage string) {
		t.Helper()
		if out := must("audit", "verify", "--data", dir); !strings.Contains(out, "OK:") {
			t.Fatalf("after %s: audit verify: %s", stage, out)
		}
	}

	// Collection (QC-COL-*): ingest rules, consents, then the files; only
	// consented instances are stored, the rest quarantined.
	must(offline("ingest", "rules", "--purpose", "research", "--modalities", "CT,MR", "--issuer", "urn:oid:2.999.4711.1")...)
	must(append(offline("consent", "import"), consents)...)
	must(append(offline("ingest"), canary)...)
	var listed struct {
		Items []ethos.Instance `json:"instances"`
	}
	mustJSON(&listed, offline("ingest", "list", "--status", "stored")...)
	if len(listed.Items) == 0 {
		t.Fatal("no instance stored")
	}
	subjects := map[ethos.SubjectKey]bool{}
	for _, in := range listed.Items {
		subjects[in.Subject] = true
	}
	if len(subjects) != 1 {
		t.Fatalf("stored instances of %d subjects, want the one consenting canary subject", len(subjects))
	}
	var subject ethos.SubjectKey
	for s := range subjects {
		subject = s
	}
	verify("collection")

	// Processing (QC-PRO-*): de-identification run, dataset version,
	// labels, a patient-level split and the export.
	keyFile := filepath.Join(work, "project.key")
	if err := os.WriteFile(keyFile, []byte("a project secret of enough length\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var prun ethos.ProcessingRun
	mustJSON(&prun, offline("process", "run", "--key-file", keyFile, "--option", "retain-patient-characteristics")...)
	// Every stored instance is either de-identified or quarantined with
	// a reason (QC-PRO-2); none is silently dropped.
	if prun.Written == 0 || prun.Written+prun.Quarantined != len(listed.Items) {
		t.Fatalf("processing run wrote %d and quarantined %d of %d stored instances", prun.Written, prun.Quarantined, len(listed.Items))
	}
	if show := must(offline("process", "show", prun.ID)...); !strings.Contains(show, "QC-PRO-2") || !strings.Contains(show, prun.KeyFingerprint) {
		t.Fatalf("process show lacks the per-group loss (QC-PRO-2) or the key fingerprint:\n%s", show)
	}
	var base ethos.DatasetVersion
	mustJSON(&base, offline("dataset", "create", "--run", prun.ID)...)
	labels := filepath.Join(work, "labels.csv")
	var b strings.Builder
	b.WriteString("id,label\n")
	for i, e := range base.Entries {
		fmt.Fprintf(&b, "%s,%s\n", e.ID, []string{"nodule", "clear"}[i%2])
	}
	if err := os.WriteFile(labels, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	var lab struct {
		Version string `json:"version"`
	}
	mustJSON(&lab, offline("dataset", "labels", "--version", base.ID, "--file", labels, "--allowed", "nodule,clear")...)
	var split ethos.DatasetSplit
	mustJSON(&split, offline("dataset", "split", "--version", lab.Version, "--parts", "train=0.5,test=0.5", "--seed", "7")...)
	if !split.Leakage.Verified {
		t.Fatalf("split leakage check %+v", split.Leakage)
	}
	exportDir := filepath.Join(work, "export")
	must(offline("dataset", "export", "--version", lab.Version, "--out", exportDir, "--split", split.ID)...)
	manifest, err := os.ReadFile(filepath.Join(exportDir, "manifest.csv"))
	if err != nil {
		t.Fatal(err)
	}
	// Nothing exported (manifest, datasheet, de-identified DICOM files)
	// holds a direct identifier of the canary patients (QC-PRO-2).
	filepath.WalkDir(exportDir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		noIdentifier([]string{"dataset export:", filepath.Base(path)}, string(b))
		return nil
	})
	if n := strings.Count(string(manifest), "\n"); n != len(base.Entries)+1 {
		t.Fatalf("manifest.csv has %d lines for %d entries", n, len(base.Entries))
	}
	verify("processing")

	// From here on the server runs; the CLI is its client.
	url, stop := serveUntilStopped(t, dir)
	as := func(role ethos.Role, args ...string) []string {
		return append(args, "--server", url, "--token", tokens[role])
	}

	// Training (QC-TRA-*): registration re-checks consent over every
	// instance of the version; the ethics reviewer signs off.
	model := filepath.Join(work, "model.pt")
	if err := os.WriteFile(model, []byte("weights of the nodule network"), 0o600); err != nil {
		t.Fatal(err)
	}
	register := as(ethos.RoleMLEngineer, "training", "register", "--project", project, "--dataset", lab.Version, "--split", "train",
		"--commit", "9fceb02d0ae598e95dc970b74767f19372d61af8", "--model-name", "ct-nodule", "--model-file", model,
		"--param", "lr=0.001", "--env", "torch=2.4.1", "--metric", "val_auroc=0.87")
	var trun ethos.TrainingRun
	mustJSON(&trun, register...)
	if trun.Coverage.Subjects != 1 || trun.Coverage.Covered != len(base.Entries) || trun.ModelVersion == "" {
		t.Fatalf("training run coverage %+v, model version %q", trun.Coverage, trun.ModelVersion)
	}
	// Quality checks before the sign-off: the unreviewed run fails
	// QC-TRA-1, and the command says so with exit status 3.
	t.Run("ChecksFailUnsignedRun", func(t *testing.T) {
		pc, code, stderr := projectChecksCLI(t, as(ethos.RoleEthicsReviewer, "project", "checks", project, "--json"))
		if code != 3 || !strings.Contains(stderr, "QC-TRA-1") {
			t.Fatalf("project checks before sign-off: exit %d, %s", code, stderr)
		}
		if q := checkOf(t, pc, "QC-TRA-1", ""); q.Status != ethos.CheckFail || !strings.Contains(strings.Join(q.Problems, " "), trun.ID) {
			t.Errorf("QC-TRA-1 before sign-off: %s %v", q.Status, q.Problems)
		}
	})
	if out := must(as(ethos.RoleEthicsReviewer, "training", "signoff", "--project", project, trun.ID, "--decision", "approved", "--note", "data, consent and code reviewed")...); !strings.Contains(out, "signed-off") {
		t.Fatalf("training signoff:\n%s", out)
	}
	if out := must(as(ethos.RoleEthicsReviewer, "lineage", "subjects", "--model", trun.ModelVersion)...); !strings.Contains(out, "1 subjects") || !strings.Contains(out, string(subject)) {
		t.Fatalf("lineage subjects of %s:\n%s", trun.ModelVersion, out)
	}

	// Evaluation (QC-EVA-*): a plan registered before the predictions,
	// the judged upload, ethics review with waivers, the advocate's
	// acknowledgement.
	crit, pred := filepath.Join(work, "criteria.json"), filepath.Join(work, "predictions.csv")
	os.WriteFile(crit, []byte(evaltest.FLChainCriteria), 0o600)
	os.WriteFile(pred, evaltest.FLChainCSV(t), 0o600)
	var plan ethos.EvaluationPlan
	mustJSON(&plan, as(ethos.RoleMLEngineer, "evaluation", "plan", "--project", project, "--model-version", trun.ModelVersion, "--dataset-version", lab.Version,
		"--title", "Held-out test of the nodule model", "--label", "death", "--score", "score", "--patient", "person",
		"--group", "sex", "--group", "age_band", "--prevalence", "0.1", "--criteria", crit, "--bootstrap", "50", "--seed", "1", "--threshold", "0.5")...)
	upload := as(ethos.RoleMLEngineer, "evaluation", "upload", "--plan", plan.ID, "--in", pred, "--json")
	out, stderr, code := runCLI(t, upload...)
	var erun ethos.EvaluationRun
	if code > 1 || json.Unmarshal([]byte(out), &erun) != nil || erun.Rows != evaltest.FLChainRows {
		t.Fatalf("evaluation upload: exit %d: %s %s", code, out, stderr)
	}
	var est ethos.EvaluationStatus
	mustJSON(&est, as(ethos.RoleEthicsReviewer, "evaluation", "signoff", "--run", erun.ID, "--kind", "ethics-review", "--decision", "approved", "--reason", "accepted for a supervised pilot")...)
	waive := as(ethos.RoleEthicsReviewer, "evaluation", "signoff", "--run", erun.ID, "--kind", "waiver", "--reason", "gaps explained by case mix; monitored after deployment")
	n := 0
	for _, bl := range est.Blocking {
		if id, ok := strings.CutPrefix(bl, "criterion "); ok {
			waive, n = append(waive, "--waive", strings.Fields(id)[0]), n+1
		}
	}
	if n > 0 {
		must(waive...)
	}
	must(as(ethos.RolePatientAdvocate, "evaluation", "signoff", "--run", erun.ID, "--kind", "acknowledgement")...)
	if got := strings.TrimSpace(must(as(ethos.RoleMLEngineer, "evaluation", "approved", "--model-version", trun.ModelVersion)...)); got != erun.ID {
		t.Fatalf("approved evaluation of %s: %q, want %s", trun.ModelVersion, got, erun.ID)
	}

	// Deployment (QC-DEP-*): registration behind the evaluation gate, the
	// risk file acknowledged, go-live, events.
	depPlan := filepath.Join(work, "deployment-plan.json")
	os.WriteFile(depPlan, []byte(`{"stakeholder_roles":["clinician","ethics-reviewer"],"log_retention":"365d"}`), 0o600)
	var dep struct {
		ID string `json:"id"`
	}
	mustJSON(&dep, as(ethos.RoleMLEngineer, "deployment", "register", "--project", project, "--model-version", trun.ModelVersion, "--site", "Main radiology",
		"--intended-use", "flag lung nodules for a second read", "--threshold", "0.5", "--responsible", ids[ethos.RoleClinician], "--plan", depPlan)...)
	risk := filepath.Join(work, "register.json")
	rb, _ := json.Marshal(storetest.CompleteRegister())
	os.WriteFile(risk, rb, 0o600)
	must(as(ethos.RoleMLEngineer, "risk", "put", "--deployment", dep.ID, "--register", risk)...)
	must(as(ethos.RoleClinician, "deployment", "ack", dep.ID, "--role", "clinician", "--risk-revision", "1")...)
	must(as(ethos.RoleEthicsReviewer, "deployment", "ack", dep.ID, "--role", "ethics-reviewer", "--risk-revision", "1")...)
	must(as(ethos.RoleEthicsReviewer, "deployment", "golive", dep.ID, "--reason", "evaluation approved, risk file complete", "--expected-effect", "AI second read in use", "--notified", "clinician")...)
	if show := must(as(ethos.RoleClinician, "deployment", "show", dep.ID)...); !strings.Contains(show, "LIVE") {
		t.Fatalf("deployment show after go-live:\n%s", show)
	}

	// Ten days of events: the first five are the monitor's reference, the
	// last two come from a scanner with new software.
	today := time.Now().UTC().Truncate(24 * time.Hour)
	start := today.AddDate(0, 0, -10)
	var ev strings.Builder
	posted := 0
	for d := range 10 {
		for i := range 12 {
			var e map[string]any
			json.Unmarshal(storetest.Event(fmt.Sprintf("ev-%d-%d", d, i), fmt.Sprintf("case-%d-%d", d, i), start.AddDate(0, 0, d).Add(time.Duration(i+1)*time.Hour), float64(i%10)/10), &e)
			if d >= 8 {
				e["acquisition"].(map[string]any)["software_version"] = "VA60"
			}
			line, _ := json.Marshal(e)
			ev.Write(append(line, '\n'))
			posted++
		}
	}
	events := filepath.Join(work, "events.jsonl")
	os.WriteFile(events, []byte(ev.String()), 0o600)
	if out := must(as(ethos.RoleMLEngineer, "events", "post", "--deployment", dep.ID, events)...); !strings.Contains(out, fmt.Sprintf("%d received, %d stored", posted, posted)) {
		t.Fatalf("events post: %s", out)
	}

	// Monitoring (QC-DEP-*): a plan with the reference period, one run
	// over the daily windows; it sees the events and the new software.
	mplan := filepath.Join(work, "monitor-plan.json")
	mb, _ := json.Marshal(map[string]any{
		"project_id": project,
		"window":     map[string]any{"every": "daily", "grace": "1m"},
		"reference":  map[string]any{"from": start, "to": start.AddDate(0, 0, 5)},
		"rules":      []map[string]any{{"id": "new-software", "metric": "new_category", "field": "software_version"}},
		"owners":     []string{"radiology-ai@hospital.example"},
	})
	os.WriteFile(mplan, mb, 0o600)
	must(as(ethos.RoleMLEngineer, "monitor", "plan", "--deployment", dep.ID, "--set", mplan)...)
	var mrun ethos.MonitorRun
	mustJSON(&mrun, as(ethos.RoleMLEngineer, "monitor", "run", "--deployment", dep.ID)...)
	// The five daily windows after the reference, 12 events each; the
	// new software raises one alert.
	if mrun.Error != "" || mrun.Windows != 5 || mrun.Events != 5*12 || mrun.Raised != 1 {
		t.Fatalf("monitor run %+v: want the windows after the reference, holding the posted events", mrun)
	}
	var alerts struct{ Items []ethos.Alert }
	mustJSON(&alerts, as(ethos.RoleMLEngineer, "monitor", "alerts", "--deployment", dep.ID)...)
	if len(alerts.Items) != 1 || alerts.Items[0].Key != "software_version=VA60" {
		t.Fatalf("alerts %+v, want the new software version only", alerts.Items)
	}

	// The data steward records the representation report of the
	// collected files (QC-COL-1) as a collection-stage record.
	reference, repPath := filepath.Join(work, "reference.json"), filepath.Join(work, "representation.json")
	os.WriteFile(reference, []byte(`{"name":"catchment 2025","floor":0.5,"small_group":1,"expected":{"sex":{"F":0.5,"M":0.5}}}`), 0o600)
	repID := strings.TrimSpace(must(as(ethos.RoleDataSteward, "collection", "representation", "--dicom", canary, "--reference", reference,
		"--out", repPath, "--record", "--project", project)...))
	var collected struct{ Records []ethos.StageRecord }
	evalAPI(t, url, tokens[ethos.RoleDataSteward], "GET", "/api/v1/projects/"+project+"/stages/collection/records?purpose=research&limit=1000", nil, &collected)
	var repRecord ethos.StageRecord
	for _, r := range collected.Records {
		if r.ID == repID {
			repRecord = r
		}
	}
	if rep, err := os.ReadFile(repPath); err != nil || repRecord.Kind != "representation-report" || !jsonEqual(rep, repRecord.Body) {
		t.Fatalf("recorded representation report %q: %+v (%v), want the written report as a representation-report record", repID, repRecord, err)
	}

	// Quality checks with every stage run: what the stages recorded
	// answers each check; the compliance checklist waits for
	// attestations.
	t.Run("ChecksAnswered", func(t *testing.T) {
		pc, code, stderr := projectChecksCLI(t, as(ethos.RoleEthicsReviewer, "project", "checks", project, "--json"))
		if code != 0 {
			t.Fatalf("project checks: exit %d: %s", code, stderr)
		}
		scope := "deployment " + dep.ID
		for _, want := range []struct {
			id, scope string
			status    ethos.CheckStatus
		}{
			{"QC-COL-1", "", ethos.CheckPass},
			{"QC-COL-2", "", ethos.CheckPass},
			{"QC-PRO-1", "", ethos.CheckPass},
			{"QC-PRO-2", "", ethos.CheckPass},
			{"QC-TRA-1", "", ethos.CheckPass},
			{"QC-TRA-2", "", ethos.CheckPass},
			{"QC-EVA-1", "", ethos.CheckPass},
			{"QC-EVA-2", "", ethos.CheckPass},
			{"QC-DEP-1", scope, ethos.CheckPass},
			{"QC-DEP-2", scope, ethos.CheckAttestation},
			{"QC-DEP-3", scope, ethos.CheckPass},
		} {
			q := checkOf(t, pc, want.id, want.scope)
			if q.Status != want.status {
				t.Errorf("%s %s: %s, want %s; problems: %v", want.id, want.scope, q.Status, want.status, q.Problems)
			}
		}
		// The evidence names the records an auditor can look up.
		ev := map[string]bool{}
		for _, q := range pc.Checks {
			for _, e := range q.Evidence {
				ev[e.Kind+":"+e.ID], ev[e.Kind] = true, true
			}
		}
		for _, want := range []string{"representation-report:" + repRecord.ID, "data-keys", "audit-log", "consents", "processing-run:" + prun.ID, "training-run:" + trun.ID, "evaluation-plan:" + plan.ID, "plain-report:" + erun.ID, "deployment:" + dep.ID} {
			if !ev[want] {
				t.Errorf("no evidence %s among %v", want, ev)
			}
		}
		table := must(as(ethos.RolePatientAdvocate, "project", "checks", project)...)
		if !strings.Contains(table, "QC-DEP-2") || !strings.Contains(table, "NEEDS-ATTESTATION") {
			t.Errorf("project checks table:\n%s", table)
		}
	})

	// The subject withdraws: obligations open on every dataset version
	// and the model version built from its data.
	var wd ethos.WithdrawalResult
	mustJSON(&wd, as(ethos.RoleDataSteward, "consent", "withdraw", "--project", project, "--subject", string(subject), "--note", "withdrawn at the clinic")...)
	var obl struct {
		Items []ethos.Obligation `json:"items"`
	}
	mustJSON(&obl, as(ethos.RoleMLEngineer, "obligation", "list", "--project", project, "--status", "open")...)
	var targets []string
	for _, o := range obl.Items {
		targets = append(targets, string(o.Target.Kind)+":"+o.Target.ID)
	}
	if wd.Subject != subject || wd.Instances != len(listed.Items) || len(wd.Obligations) != 3 || len(obl.Items) != 3 {
		t.Errorf("withdrawal of %s: %d instances, %d obligations opened, %d open; want %d instances and 3 obligations (two dataset versions, one model version)",
			wd.Subject, wd.Instances, len(wd.Obligations), len(obl.Items), len(listed.Items))
	}
	for _, want := range []string{
		string(ethos.LineageDatasetVersion) + ":" + base.ID,
		string(ethos.LineageDatasetVersion) + ":" + lab.Version,
		string(ethos.LineageModelVersion) + ":" + trun.ModelVersion,
	} {
		if !slices.Contains(targets, want) {
			t.Errorf("open obligations %v lack %s", targets, want)
		}
	}
	// The withdrawal reaches the live deployment of the model version
	// (docs/deployment.md): compliance item GDPR-7-17 fails naming the
	// obligation and the monitoring status lists it as a notice; the
	// deployment stays live (a person decides).
	t.Run("WithdrawalReachesLiveDeployment", func(t *testing.T) {
		var modelObl string
		for _, o := range obl.Items {
			if o.Target.Kind == ethos.LineageModelVersion {
				modelObl = o.ID
			}
		}
		out, _, _ := runCLI(t, as(ethos.RoleEthicsReviewer, "risk", "compliance", "--deployment", dep.ID, "--json")...)
		var results []ethos.ComplianceResult
		if err := json.Unmarshal([]byte(out), &results); err != nil {
			t.Fatalf("risk compliance: %v: %s", err, out)
		}
		i := slices.IndexFunc(results, func(r ethos.ComplianceResult) bool { return r.Item.ID == "GDPR-7-17" })
		if i < 0 || results[i].Outcome != ethos.ComplianceFail || !strings.Contains(results[i].Reason, modelObl) {
			t.Errorf("GDPR-7-17 after the withdrawal: %+v, want fail naming %s", results[i], modelObl)
		}
		var mst ethos.MonitorStatus
		mustJSON(&mst, as(ethos.RoleMLEngineer, "monitor", "status", "--deployment", dep.ID)...)
		if len(mst.Notices) != 1 || mst.Notices[0].ID != modelObl || mst.Notices[0].Kind != ethos.NoticeWithdrawalObligation {
			t.Errorf("monitor status notices %+v, want obligation %s", mst.Notices, modelObl)
		}
		// The change log has the notice at once, to the plan's roles; the
		// deployment is still live.
		var shown struct {
			Deployment ethos.Deployment          `json:"deployment"`
			Changes    []*ethos.DeploymentChange `json:"changes"`
		}
		mustJSON(&shown, as(ethos.RoleClinician, "deployment", "show", dep.ID)...)
		notices := 0
		for _, c := range shown.Changes {
			if c.Kind == ethos.ChangeObligationNotice {
				notices++
				if c.To != modelObl || len(c.Pending) == 0 || strings.Contains(c.Reason, string(subject)) {
					t.Errorf("notice %+v", c)
				}
			}
		}
		if notices != 1 || shown.Deployment.Status != ethos.DeploymentLive {
			t.Errorf("after the withdrawal: %d obligation notices, status %s; want one notice and still live", notices, shown.Deployment.Status)
		}
	})
	t.Run("ErrRegistrationRefused", func(t *testing.T) {
		_, stderr, code := runCLI(t, register...)
		if code != 1 || !strings.Contains(stderr, "open withdrawal obligations") {
			t.Errorf("registration after the withdrawal: exit %d: %s", code, stderr)
		}
	})
	deployAgain := as(ethos.RoleMLEngineer, "deployment", "register", "--project", project, "--model-version", trun.ModelVersion, "--site", "Second site",
		"--intended-use", "flag lung nodules for a second read", "--threshold", "0.5", "--responsible", ids[ethos.RoleClinician], "--plan", depPlan)
	t.Run("ErrNewDeploymentRefused", func(t *testing.T) {
		_, stderr, code := runCLI(t, deployAgain...)
		if code != 1 || !strings.Contains(stderr, "open withdrawal obligations") {
			t.Errorf("deployment of %s after the withdrawal: exit %d: %s", trun.ModelVersion, code, stderr)
		}
	})
	// The governance board retires the model version: it stays out of any
	// new deployment once its obligation is resolved.
	for _, o := range obl.Items {
		if o.Target.Kind == ethos.LineageModelVersion {
			must(as(ethos.RoleEthicsReviewer, "obligation", "resolve", o.ID, "--action", "retire", "--note", "subject withdrew; the model is retired")...)
		}
	}
	t.Run("ErrRetiredModelNotDeployed", func(t *testing.T) {
		_, stderr, code := runCLI(t, deployAgain...)
		if code != 1 || !strings.Contains(stderr, "retired") {
			t.Errorf("deployment of the retired %s: exit %d: %s", trun.ModelVersion, code, stderr)
		}
	})
	// After the withdrawal the two dataset versions' obligations stay
	// open: consent is no longer in place for what the model was trained
	// on (QC-TRA-2 fails until they are resolved).
	t.Run("ChecksFailOpenObligations", func(t *testing.T) {
		pc, code, stderr := projectChecksCLI(t, as(ethos.RoleEthicsReviewer, "project", "checks", project, "--json"))
		if code != 3 || !strings.Contains(stderr, "QC-TRA-2") {
			t.Fatalf("project checks after the withdrawal: exit %d, %s", code, stderr)
		}
		if q := checkOf(t, pc, "QC-TRA-2", ""); q.Status != ethos.CheckFail || !strings.Contains(strings.Join(q.Problems, " "), lab.Version) {
			t.Errorf("QC-TRA-2 after the withdrawal: %s %v", q.Status, q.Problems)
		}
	})
	stop()
	t.Run("ErrExportRefused", func(t *testing.T) {
		_, stderr, code := runCLI(t, offline("dataset", "export", "--version", lab.Version, "--out", filepath.Join(work, "export-again"))...)
		if code != 1 || !strings.Contains(stderr, "obligation") {
			t.Errorf("export after the withdrawal: exit %d: %s", code, stderr)
		}
		if _, err := os.Stat(filepath.Join(work, "export-again")); !os.IsNotExist(err) {
			t.Errorf("refused export left %s behind: %v", filepath.Join(work, "export-again"), err)
		}
	})

	verify("the whole lifecycle")
	export := must("audit", "export", "--data", dir)
	for _, action := range []string{"consent.import", "processing.run", "dataset.create", "dataset.export", "training.register", "training.signoff",
		"evaluation", "deployment", "obligation.open"} {
		if !strings.Contains(export, action) {
			t.Errorf("audit export lacks %s", action)
		}
	}
	noIdentifier([]string{"audit export"}, export)
}

// projectChecksCLI runs "ethos project checks … --json" and decodes its
// output whatever the exit status.
func projectChecksCLI(t *testing.T, args []string) (*ethos.ProjectChecks, int, string) {
	t.Helper()
	out, stderr, code := runCLI(t, args...)
	var pc ethos.ProjectChecks
	if err := json.Unmarshal([]byte(out), &pc); err != nil {
		t.Fatalf("ethos %s: exit %d: %v: %s", strings.Join(args, " "), code, err, stderr)
	}
	return &pc, code, stderr
}

// checkOf returns one check of pc, failing the test when it is missing.
func checkOf(t *testing.T, pc *ethos.ProjectChecks, id, scope string) *ethos.QualityCheck {
	t.Helper()
	for _, q := range pc.Checks {
		if q.ID == id && q.Scope == scope {
			return q
		}
	}
	t.Fatalf("no check %s (scope %q) in %d answers", id, scope, len(pc.Checks))
	return nil
}

// jsonEqual reports whether a and b hold the same JSON value.
func jsonEqual(a, b []byte) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	return reflect.DeepEqual(x, y)
}
