package ethos_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/ethos-imaging/ethos"
)

func TestParseLineageNode(t *testing.T) {
	key := strings.Repeat("0a", 32)
	tests := []struct {
		in   string
		want ethos.LineageNode
		ok   bool
	}{
		{"model-version:mdl_1", ethos.LineageNode{Kind: ethos.LineageModelVersion, ID: "mdl_1"}, true},
		{"dataset-version:sha256:" + key, ethos.LineageNode{Kind: ethos.LineageDatasetVersion, ID: "sha256:" + key}, true},
		{"subject:" + key, ethos.LineageNode{Kind: ethos.LineageSubject, ID: key}, true},
		{"subject:CANARYID000001", ethos.LineageNode{}, false},
		{"model:mdl_1", ethos.LineageNode{}, false},
		{"model-version", ethos.LineageNode{}, false},
		{"model-version:", ethos.LineageNode{}, false},
		{"instance:a b", ethos.LineageNode{}, false},
		{"instance:" + strings.Repeat("x", 129), ethos.LineageNode{}, false},
	}
	for _, tc := range tests {
		got, err := ethos.ParseLineageNode(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("ParseLineageNode(%q) = %v, %v; want %v ok=%t", tc.in, got, err, tc.want, tc.ok)
		}
		if err != nil && ethos.ErrorCode(err) != ethos.EINVALID {
			t.Errorf("%q: code %s", tc.in, ethos.ErrorCode(err))
		}
		if err != nil && strings.Contains(ethos.ErrorMessage(err), "CANARY") {
			t.Errorf("%q: the error repeats a patient identifier given as a subject", tc.in)
		}
	}
}

func FuzzParseLineageNode(f *testing.F) {
	for _, s := range []string{"model-version:mdl_1", "subject:" + strings.Repeat("ab", 32), "dataset-version:sha256:00", "agent:usr_x", ":", "x:y:z"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := ethos.ParseLineageNode(s)
		if err != nil {
			return
		}
		again, err := ethos.ParseLineageNode(n.String())
		if err != nil || again != n {
			t.Fatalf("%q parsed to %v, which does not parse back (%v, %v)", s, n, again, err)
		}
	})
}

func validRun() *ethos.TrainingRun {
	return &ethos.TrainingRun{ProjectID: "prj_1", DatasetVersion: "dsv_1", Split: "train", CodeVersion: "abcdef0", ModelSHA256: strings.Repeat("0", 64), ModelName: "m"}
}

func TestTrainingRunValidate(t *testing.T) {
	tests := map[string]func(r *ethos.TrainingRun){
		"ErrNoProject":       func(r *ethos.TrainingRun) { r.ProjectID = "" },
		"ErrUpperCaseCommit": func(r *ethos.TrainingRun) { r.CodeVersion = "ABCDEF0" },
		"ErrLongCommit":      func(r *ethos.TrainingRun) { r.CodeVersion = strings.Repeat("a", 65) },
		"ErrShortSHA":        func(r *ethos.TrainingRun) { r.ModelSHA256 = "00" },
		"ErrModelName":       func(r *ethos.TrainingRun) { r.ModelName = "" },
		"ErrParamValue":      func(r *ethos.TrainingRun) { r.Parameters = map[string]string{"k": strings.Repeat("v", 1001)} },
		"ErrInfiniteMetric":  func(r *ethos.TrainingRun) { r.Metrics = map[string]float64{"k": 1e301} },
		"ErrTooManyFields": func(r *ethos.TrainingRun) {
			r.Parameters = map[string]string{}
			for i := range 201 {
				r.Parameters[strings.Repeat("p", 1+i%50)+string(rune('a'+i/50))] = "1"
			}
		},
	}
	if err := validRun().Validate(); err != nil {
		t.Fatalf("valid run: %v", err)
	}
	for name, mod := range tests {
		t.Run(name, func(t *testing.T) {
			r := validRun()
			mod(r)
			if err := r.Validate(); ethos.ErrorCode(err) != ethos.EINVALID {
				t.Errorf("err %v, want invalid", err)
			}
		})
	}
}

func TestProvDocumentStable(t *testing.T) {
	ds := ethos.LineageNode{Kind: ethos.LineageDatasetVersion, ID: "dsv_1"}
	run := ethos.LineageNode{Kind: ethos.LineageTrainingRun, ID: "trn_1"}
	model := ethos.LineageNode{Kind: ethos.LineageModelVersion, ID: "mdl_1"}
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	edges := []ethos.LineageEdge{{From: run, Relation: ethos.RelUsed, To: ds, At: at}, {From: model, Relation: ethos.RelWasGeneratedBy, To: run, At: at}}
	a, _ := json.Marshal(ethos.NewProvDocument(nil, edges))
	b, _ := json.Marshal(ethos.NewProvDocument([]ethos.LineageNode{model, ds, run}, edges))
	if string(a) != string(b) {
		t.Errorf("declaring the ends changed the document:\n%s\n%s", a, b)
	}
	want := `{"prefix":{"ethos":"https://ethos-imaging.org/ns/lineage#"},` +
		`"entity":{"ethos:dataset-version/dsv_1":{"prov:label":"dsv_1","prov:type":{"$":"ethos:dataset-version","type":"prov:QUALIFIED_NAME"}},` +
		`"ethos:model-version/mdl_1":{"prov:label":"mdl_1","prov:type":{"$":"ethos:model-version","type":"prov:QUALIFIED_NAME"}}},` +
		`"activity":{"ethos:training-run/trn_1":{"prov:label":"trn_1","prov:type":{"$":"ethos:training-run","type":"prov:QUALIFIED_NAME"}}},` +
		`"used":{"_:u1":{"prov:activity":"ethos:training-run/trn_1","prov:entity":"ethos:dataset-version/dsv_1","prov:time":"2026-01-02T03:04:05Z"}},` +
		`"wasGeneratedBy":{"_:g1":{"prov:activity":"ethos:training-run/trn_1","prov:entity":"ethos:model-version/mdl_1","prov:time":"2026-01-02T03:04:05Z"}}}`
	if string(a) != want {
		t.Errorf("got\n%s\nwant\n%s", a, want)
	}
}
