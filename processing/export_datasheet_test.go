package processing_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ethos-imaging/ethos"
	"github.com/ethos-imaging/ethos/internal/testenv"
	"github.com/ethos-imaging/ethos/processing"
	"github.com/ethos-imaging/ethos/sqlstore"
	"github.com/ethos-imaging/ethos/storetest"
)

// labelled builds a labelled version with a stored split.
func labelled(t *testing.T, f *fixture) (*ethos.ProcessingRun, *ethos.DatasetVersion, *ethos.DatasetSplit) {
	t.Helper()
	ctx := context.Background()
	run, v := buildVersion(t, f, "retain-patient-characteristics")
	var b strings.Builder
	b.WriteString("id,label\n")
	for i, e := range v.Entries {
		b.WriteString(e.ID + "," + []string{"normal", "abnormal"}[i%2] + "\n")
	}
	lv, _, err := f.datasets().ImportLabels(ctx, f.caller(), v.ID, strings.NewReader(b.String()), nil)
	if err != nil {
		t.Fatal(err)
	}
	sp, err := f.datasets().Split(ctx, f.caller(), lv.ID, processing.SplitSpec{Parts: []ethos.DatasetSplitPart{{Name: "train", Fraction: 0.5}, {Name: "test", Fraction: 0.5}}, StratifyBy: []string{"sex"}, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	return run, lv, sp
}

func TestDatasheet(t *testing.T) {
	ctx := context.Background()
	f := setup(t, writtenFiles...)
	f.project.IntendedUse = "triage of chest CT"
	run, v, sp := labelled(t, f)
	ds, err := f.datasets().Datasheet(ctx, f.caller(), v.ID)
	if err != nil {
		t.Fatal(err)
	}
	var titles []string
	for _, s := range ds.Sections {
		titles = append(titles, s.Title)
	}
	if got := strings.Join(titles, "|"); got != "Motivation|Composition|Collection process|Preprocessing, cleaning, labelling|Uses|Distribution|Maintenance" {
		t.Errorf("sections %s", got)
	}
	patients := map[string]bool{}
	for _, e := range v.Entries {
		patients[e.Patient] = true
	}
	tests := []struct{ key, want string }{
		{"motivation.purpose", "triage of chest CT"},
		{"motivation.declared_purpose", "research"},
		{"motivation.funding", "not recorded"},
		{"composition.instances", itoa(len(v.Entries))},
		{"composition.patients", itoa(len(patients))},
		{"composition.labels", itoa(len(v.Entries)) + " of " + itoa(len(v.Entries)) + " labelled; abnormal: " + itoa(len(v.Entries)/2) + ", normal: " + itoa(len(v.Entries)-len(v.Entries)/2)},
		{"composition.splits", "1 split(s), all at patient level"},
		{"collection.sources", "received by Ethos ingest: file: " + itoa(len(v.Entries))},
		{"collection.timeframe", "2026-11-01 to 2026-11-01"},
		{"collection.consent_coverage", itoa(len(v.Members)) + " of " + itoa(len(v.Members)) + " member instances stored under a recorded consent and still usable; 1 distinct consent(s)"},
		{"preprocessing.key", run.KeyFingerprint},
		{"preprocessing.outcomes", itoa(run.Inputs) + " input(s), " + itoa(run.Written) + " written, " + itoa(run.Quarantined) + " quarantined"},
		{"preprocessing.software", "ethos test"},
		{"preprocessing.labelling", "imported from a validated CSV label file into this version, derived from version " + v.Parent},
		{"distribution.manifest", "sha256:" + v.ID},
		{"maintenance.versions", "2"},
	}
	for _, tt := range tests {
		it := ds.Item(tt.key)
		if it == nil {
			t.Errorf("%s: missing", tt.key)
			continue
		}
		if it.Value != tt.want {
			t.Errorf("%s = %q, want %q", tt.key, it.Value, tt.want)
		}
	}
	if it := ds.Item("composition.splits"); len(it.Values) != 1 || !strings.HasPrefix(it.Values[0], sp.ID+": train 0.50, test 0.50; seed 1; stratified by sex") {
		t.Errorf("splits %q", it.Values)
	}
	if it := ds.Item("composition.attributes"); !strings.Contains(strings.Join(it.Values, ";"), "sex: ") {
		t.Errorf("attributes %q", it.Values)
	}
	if it := ds.Item("distribution.access"); strings.Join(it.Values, ";") != "public: yes;private: limited (only under an active data-use agreement);third_party: yes" {
		t.Errorf("access %q", it.Values)
	}
	if !strings.Contains(ds.Item("preprocessing.profile").Value, run.Profile.Hash) || !strings.Contains(ds.Item("preprocessing.profile").Value, "retain-patient-characteristics") {
		t.Errorf("profile %q", ds.Item("preprocessing.profile").Value)
	}
	t.Run("Renderings", func(t *testing.T) {
		var md, html bytes.Buffer
		if err := ds.WriteMarkdown(&md); err != nil {
			t.Fatal(err)
		}
		if err := ds.WriteHTML(&html); err != nil {
			t.Fatal(err)
		}
		js, _ := json.Marshal(ds)
		for _, sec := range ds.Sections {
			if !strings.Contains(md.String(), "## "+sec.Title+"\n") || !strings.Contains(html.String(), `<section id="`+sec.Key+`">`) {
				t.Errorf("section %s missing from a rendering", sec.Key)
			}
			for _, it := range sec.Items {
				if !strings.Contains(html.String(), `<dt id="`+it.Key+`">`) {
					t.Errorf("item %s.%s missing from HTML", sec.Key, it.Key)
				}
			}
		}
		for _, s := range []string{"CompressedSamples", "2.25.31415926", "phantom"} {
			if strings.Contains(md.String()+html.String()+string(js), s) {
				t.Errorf("datasheet contains %q", s)
			}
		}
	})
}

func TestExport(t *testing.T) {
	ctx := context.Background()
	f := setup(t, writtenFiles...)
	_, v, sp := labelled(t, f)
	ds := f.datasets()
	out := filepath.Join(t.TempDir(), "export")
	res, err := ds.Export(ctx, f.caller(), v.ID, out, processing.ExportOptions{SplitID: sp.ID, ReweighBy: []string{"sex"}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Files != len(v.Entries) {
		t.Fatalf("%d files, want %d", res.Files, len(v.Entries))
	}
	t.Run("ManifestCSV", func(t *testing.T) {
		fh, err := os.Open(filepath.Join(out, "manifest.csv"))
		if err != nil {
			t.Fatal(err)
		}
		defer fh.Close()
		rows, err := csv.NewReader(fh).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		if len(rows) != len(v.Entries)+1 || strings.Join(rows[0][:10], ",") != "id,patient,path,sha256,size,modality,body_part,label,split,weight" {
			t.Fatalf("header %v, %d rows", rows[0], len(rows))
		}
		for _, r := range rows[1:] {
			if r[8] != sp.Assignment[r[0]] || r[9] == "" {
				t.Errorf("row %v: split or weight wrong", r[:10])
			}
		}
	})
	t.Run("PydicomReadsEveryFile", func(t *testing.T) {
		py := "/usr/bin/python3"
		if err := exec.Command(py, "-c", "import pydicom").Run(); err != nil {
			testenv.Missing(t, "python3-pydicom is not installed")
		}
		// A data loader's view: read manifest.json, open every file by its
		// path, check the pseudonyms and the hash.
		script := `
import json, sys, hashlib, pydicom
root = sys.argv[1]
m = json.load(open(root + "/manifest.json"))
for e in m["entries"]:
    p = root + "/" + e["path"]
    assert hashlib.sha256(open(p, "rb").read()).hexdigest() == e["sha256"], p
    ds = pydicom.dcmread(p)
    assert ds.SOPInstanceUID == e["id"], (ds.SOPInstanceUID, e["id"])
    assert ds.PatientID == e["patient"], (ds.PatientID, e["patient"])
    assert e["split"] in ("train", "test") and e["weight"] > 0
print(len(m["entries"]))
`
		outb, err := exec.Command(py, "-c", script, out).CombinedOutput()
		if err != nil {
			t.Fatalf("pydicom: %v\n%s", err, outb)
		}
		if strings.TrimSpace(string(outb)) != itoa(len(v.Entries)) {
			t.Errorf("pydicom read %s entries", outb)
		}
	})
	t.Run("EINVALIDExistingDir", func(t *testing.T) {
		if _, err := ds.Export(ctx, f.caller(), v.ID, out, processing.ExportOptions{}); ethos.ErrorCode(err) != ethos.EINVALID {
			t.Errorf("err %v", err)
		}
	})
	t.Run("GateRefuses", func(t *testing.T) {
		n := len(f.audit.events)
		gate := func(ctx context.Context, id string) error {
			return ethos.Errorf(ethos.ECONSENT, "open withdrawal obligation on %.12s", id)
		}
		dir := filepath.Join(t.TempDir(), "x")
		if _, err := ds.Export(ctx, f.caller(), v.ID, dir, processing.ExportOptions{Gate: gate}); ethos.ErrorCode(err) != ethos.ECONSENT {
			t.Fatalf("err %v", err)
		}
		if _, err := os.Stat(dir); !os.IsNotExist(err) {
			t.Errorf("export directory exists after a refusal")
		}
		if len(f.audit.events) != n+1 || f.audit.events[n].Decision != "deny" || f.audit.events[n].Action != "dataset.export" {
			t.Errorf("refusal not audited: %+v", f.audit.events[n:])
		}
	})
	t.Run("LimitedPartyNeedsDUA", func(t *testing.T) {
		s := storetest.Stores{Parties: sqlstoreParties(f), Users: sqlstore.NewUserService(f.store)}
		vendor := storetest.MustParty(t, s, "Vendor", ethos.PartyPrivate)
		eng := storetest.MustUser(t, s, vendor, ethos.RoleMLEngineer)
		c := f.caller()
		c.Access = ethos.AccessRequest{UserID: eng.ID, PartyID: vendor.ID, PartyType: vendor.Type, Roles: eng.Roles}
		if _, err := ds.Export(ctx, c, v.ID, filepath.Join(t.TempDir(), "x"), processing.ExportOptions{}); ethos.ErrorCode(err) != ethos.EFORBIDDEN {
			t.Fatalf("without a DUA: %v", err)
		}
		c.Access.DUAs = []*ethos.DUA{{ID: "dua-1", PartyID: vendor.ID, ProjectID: f.project.ID, Stages: []ethos.Stage{ethos.StageTraining},
			Purposes: []ethos.Purpose{ethos.PurposeAITraining}, Views: []ethos.View{ethos.ViewDeidentified},
			ExpiresAt: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC), ApprovedBy: "usr-ethics"}}
		res, err := ds.Export(ctx, c, v.ID, filepath.Join(t.TempDir(), "x"), processing.ExportOptions{})
		if err != nil {
			t.Fatalf("with a DUA: %v", err)
		}
		if res.DUAID != "dua-1" {
			t.Errorf("DUA %q", res.DUAID)
		}
	})
	t.Run("ECONSENTAfterWithdrawal", func(t *testing.T) {
		in := f.byFile["pydicom/CT_small.dcm"]
		if _, err := f.instances.SetSubjectStatus(ctx, in.Subject, ethos.InstanceWithdrawn); err != nil {
			t.Fatal(err)
		}
		if _, err := ds.Export(ctx, f.caller(), v.ID, filepath.Join(t.TempDir(), "x"), processing.ExportOptions{}); ethos.ErrorCode(err) != ethos.ECONSENT {
			t.Errorf("err %v", err)
		}
	})
}

func sqlstoreParties(f *fixture) ethos.PartyService { return sqlstore.NewPartyService(f.store) }

func itoa(n int) string { return strconv.Itoa(n) }
