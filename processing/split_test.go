package processing_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/ethos-imaging/ethos"
	"github.com/ethos-imaging/ethos/processing"
)

// synthetic makes a version of n patients with 1–4 instances each, a
// label per patient and a sex attribute, from a fixed generator.
func synthetic(n int) *ethos.DatasetVersion {
	r := rand.New(rand.NewPCG(1, 2))
	v := &ethos.DatasetVersion{ID: "v"}
	for p := range n {
		label := []string{"normal", "abnormal"}[r.IntN(2)]
		sex := []string{"F", "M"}[r.IntN(2)]
		for i := range 1 + r.IntN(4) {
			v.Entries = append(v.Entries, ethos.ManifestEntry{ID: fmt.Sprintf("2.25.%d%02d", p+1, i), Patient: fmt.Sprintf("PAT%04d", p),
				Label: label, Modality: "CT", Attributes: map[string]string{"sex": sex}})
		}
	}
	return v
}

var threeParts = []ethos.DatasetSplitPart{{Name: "train", Fraction: 0.7}, {Name: "val", Fraction: 0.15}, {Name: "test", Fraction: 0.15}}

func TestSplitVersion(t *testing.T) {
	v := synthetic(400)
	sp, err := processing.SplitVersion(v, processing.SplitSpec{Parts: threeParts, StratifyBy: []string{"label", "sex"}, Seed: 42})
	if err != nil {
		t.Fatal(err)
	}
	t.Run("NoLeakage", func(t *testing.T) {
		if !sp.Leakage.Verified || sp.Leakage.Patients != 400 || len(sp.Leakage.Leaked) != 0 {
			t.Fatalf("leakage %+v", sp.Leakage)
		}
		part := map[string]string{}
		for _, e := range v.Entries {
			p := sp.Assignment[e.ID]
			if q, ok := part[e.Patient]; ok && q != p {
				t.Fatalf("patient %s in %s and %s", e.Patient, p, q)
			}
			part[e.Patient] = p
		}
	})
	t.Run("LeakDetected", func(t *testing.T) {
		a := map[string]string{}
		for k, p := range sp.Assignment {
			a[k] = p
		}
		// Move one instance of a patient with several into another part.
		for i := 1; i < len(v.Entries); i++ {
			if v.Entries[i].Patient == v.Entries[i-1].Patient {
				a[v.Entries[i].ID] = map[string]string{"train": "test", "val": "train", "test": "train"}[a[v.Entries[i].ID]]
				l := processing.CheckLeakage(v, a)
				if l.Verified || len(l.Leaked) != 1 || l.Leaked[0] != v.Entries[i].Patient {
					t.Errorf("leak not found: %+v", l)
				}
				return
			}
		}
		t.Fatal("no patient with two instances")
	})
	t.Run("StratifiedProportions", func(t *testing.T) {
		// Patients per part within each (label, sex) stratum: within one
		// patient of the target.
		type key struct{ label, sex, part string }
		n, total := map[key]int{}, map[[2]string]int{}
		seen := map[string]bool{}
		for _, e := range v.Entries {
			if seen[e.Patient] {
				continue
			}
			seen[e.Patient] = true
			n[key{e.Label, e.Attributes["sex"], sp.Assignment[e.ID]}]++
			total[[2]string{e.Label, e.Attributes["sex"]}]++
		}
		for s, tot := range total {
			for _, p := range threeParts {
				got, want := float64(n[key{s[0], s[1], p.Name}]), p.Fraction*float64(tot)
				if math.Abs(got-want) > 1 {
					t.Errorf("stratum %v part %s: %g patients, target %.2f", s, p.Name, got, want)
				}
			}
		}
	})
	t.Run("DeterministicBySeed", func(t *testing.T) {
		again, _ := processing.SplitVersion(v, processing.SplitSpec{Parts: threeParts, StratifyBy: []string{"label", "sex"}, Seed: 42})
		if jsonOf(again.Assignment) != jsonOf(sp.Assignment) {
			t.Error("same seed, other assignment")
		}
		other, _ := processing.SplitVersion(v, processing.SplitSpec{Parts: threeParts, StratifyBy: []string{"label", "sex"}, Seed: 43})
		if jsonOf(other.Assignment) == jsonOf(sp.Assignment) {
			t.Error("other seed, same assignment")
		}
	})
	t.Run("BalanceTable", func(t *testing.T) {
		var labelRows, sexRows int
		for _, r := range sp.Balance {
			sum := 0
			for _, c := range r.Counts {
				sum += c
			}
			want := 0
			for _, e := range v.Entries {
				if (r.Attribute == "label" && e.Label == r.Value) || (r.Attribute == "sex" && e.Attributes["sex"] == r.Value) {
					want++
				}
			}
			if sum != want {
				t.Errorf("%s=%s: %d counted, %d in the version", r.Attribute, r.Value, sum, want)
			}
			switch r.Attribute {
			case "label":
				labelRows++
			case "sex":
				sexRows++
			}
		}
		if labelRows != 2 || sexRows != 2 {
			t.Errorf("%d label rows, %d sex rows", labelRows, sexRows)
		}
	})
}

func TestSplitSpecEINVALID(t *testing.T) {
	v := synthetic(10)
	half := func(a, b string) []ethos.DatasetSplitPart {
		return []ethos.DatasetSplitPart{{Name: a, Fraction: 0.5}, {Name: b, Fraction: 0.5}}
	}
	for name, spec := range map[string]processing.SplitSpec{
		"SumNotOne":          {Parts: []ethos.DatasetSplitPart{{Name: "train", Fraction: 0.5}, {Name: "test", Fraction: 0.2}}},
		"DuplicateName":      {Parts: half("a", "a")},
		"ZeroFraction":       {Parts: []ethos.DatasetSplitPart{{Name: "a", Fraction: 1}, {Name: "b", Fraction: 0}}},
		"None":               {},
		"NameWithSpace":      {Parts: half("train", "Janet Quimbly")},
		"NameAllDigits":      {Parts: half("train", "4455667")},
		"NameIsDate":         {Parts: half("1961-04-12", "test")},
		"NameWithComma":      {Parts: half("train,x", "test")},
		"UnknownAttribute":   {Parts: threeParts, StratifyBy: []string{"sex", "Janet Quimbly"}},
		"EmptyAttribute":     {Parts: threeParts, StratifyBy: []string{""}},
		"AttributeNotInData": {Parts: threeParts, StratifyBy: []string{"age"}},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := processing.SplitVersion(v, spec)
			if ethos.ErrorCode(err) != ethos.EINVALID {
				t.Fatalf("err %v", err)
			}
			// Typed names are never quoted back.
			for _, p := range spec.Parts {
				if poison := strings.ContainsAny(p.Name, " 0123456789,"); poison && strings.Contains(err.Error(), p.Name) {
					t.Errorf("error quotes the part name: %v", err)
				}
			}
			for _, a := range spec.StratifyBy {
				if a != "" && a != "sex" && strings.Contains(err.Error(), a) {
					t.Errorf("error quotes the attribute: %v", err)
				}
			}
		})
	}
}

func TestReweigh(t *testing.T) {
	// 6 F (4 abnormal, 2 normal), 4 M (1 abnormal, 3 normal); N = 10.
	v := &ethos.DatasetVersion{}
	add := func(sex, label string, k int) {
		for range k {
			v.Entries = append(v.Entries, ethos.ManifestEntry{ID: fmt.Sprint(len(v.Entries)), Patient: fmt.Sprint(len(v.Entries)), Label: label, Attributes: map[string]string{"sex": sex}})
		}
	}
	add("F", "abnormal", 4)
	add("F", "normal", 2)
	add("M", "abnormal", 1)
	add("M", "normal", 3)
	ws, err := processing.Reweigh(v, []string{"sex"})
	if err != nil {
		t.Fatal(err)
	}
	// w = n_g * n_l / (N * n_gl)
	want := map[[2]string]float64{
		{"F", "abnormal"}: 6.0 * 5 / (10 * 4), {"F", "normal"}: 6.0 * 5 / (10 * 2),
		{"M", "abnormal"}: 4.0 * 5 / (10 * 1), {"M", "normal"}: 4.0 * 5 / (10 * 3),
	}
	if len(ws) != len(want) {
		t.Fatalf("%d weights", len(ws))
	}
	weighted := map[string]float64{}
	for _, w := range ws {
		if math.Abs(w.Weight-want[[2]string{w.Group, w.Label}]) > 1e-12 {
			t.Errorf("%s/%s: %g, want %g", w.Group, w.Label, w.Weight, want[[2]string{w.Group, w.Label}])
		}
		weighted[w.Group+"/"+w.Label] = w.Weight * float64(w.Count)
	}
	// After reweighing, the abnormal rate is the same in both groups.
	f := weighted["F/abnormal"] / (weighted["F/abnormal"] + weighted["F/normal"])
	m := weighted["M/abnormal"] / (weighted["M/abnormal"] + weighted["M/normal"])
	if math.Abs(f-m) > 1e-12 {
		t.Errorf("weighted abnormal rate F %g, M %g", f, m)
	}
	if _, err := processing.Reweigh(v, nil); ethos.ErrorCode(err) != ethos.EINVALID {
		t.Errorf("no attributes: %v", err)
	}
}
