package collection_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ethos-imaging/ethos"
	"github.com/ethos-imaging/ethos/collection"
	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

func rec(sex string, label ...bool) ethos.InstanceAttributes {
	r := ethos.InstanceAttributes{Attributes: map[string]string{}}
	if sex != "" {
		r.Attributes[ethos.AttrSex] = sex
	}
	if len(label) > 0 {
		r.Label = &label[0]
	}
	return r
}

func repeat(n int, r ethos.InstanceAttributes) []ethos.InstanceAttributes {
	out := make([]ethos.InstanceAttributes, n)
	for i := range out {
		out[i] = r
	}
	return out
}

func sexRef(shares map[string]float64) *ethos.ReferencePopulation {
	return &ethos.ReferencePopulation{Name: "t", Floor: 0.8, SmallGroup: 5, Expected: map[string]map[string]float64{ethos.AttrSex: shares}}
}

func group(t *testing.T, r *collection.Report, key string, values ...string) *collection.Group {
	t.Helper()
	for _, b := range append(append([]*collection.Breakdown(nil), r.Attributes...), r.Intersections...) {
		if b.Key() != key {
			continue
		}
		for _, g := range b.Groups {
			if strings.Join(g.Values, "|") == strings.Join(values, "|") {
				return g
			}
		}
	}
	t.Fatalf("no group %v in breakdown %s", values, key)
	return nil
}

func near(a, b float64) bool { return math.Abs(a-b) < 5e-4 }

func TestRepresent(t *testing.T) {
	t.Run("UnderFloorWithinNoise", func(t *testing.T) {
		recs := append(repeat(3, rec("F")), repeat(7, rec("M"))...)
		r, err := collection.Represent(recs, sexRef(map[string]float64{"F": 0.5, "M": 0.5}))
		if err != nil {
			t.Fatal(err)
		}
		f := group(t, r, "sex", "F")
		// Wilson 95 % for 3/10, worked by hand: 0.1078 – 0.6032.
		if f.Count != 3 || !near(f.Share, 0.3) || !near(*f.Ratio, 0.6) || !near(f.ShareCI.Lower, 0.1078) || !near(f.ShareCI.Upper, 0.6032) {
			t.Fatalf("F: %+v ci %+v", f, f.ShareCI)
		}
		if !f.UnderFloor || f.Shortfall || !f.Small || f.Absent {
			t.Fatalf("F flags: under %v shortfall %v small %v absent %v", f.UnderFloor, f.Shortfall, f.Small, f.Absent)
		}
		m := group(t, r, "sex", "M")
		if !near(*m.Ratio, 1.4) || m.UnderFloor || m.Small {
			t.Fatalf("M: %+v", m)
		}
		if len(r.Findings) != 1 || r.Findings[0].Kind != collection.FindingUnderFloor || r.Findings[0].Group != "F" {
			t.Fatalf("findings %+v", r.Findings)
		}
		if r.Unit != "instance" || r.Units != 10 {
			t.Fatalf("unit %s ×%d", r.Unit, r.Units)
		}
	})
	t.Run("ShortfallBeyondNoise", func(t *testing.T) {
		recs := append(repeat(10, rec("F")), repeat(90, rec("M"))...)
		r, err := collection.Represent(recs, sexRef(map[string]float64{"F": 0.5, "M": 0.5}))
		if err != nil {
			t.Fatal(err)
		}
		f := group(t, r, "sex", "F")
		// Wilson upper end for 10/100 is 0.1744, under 0.8 × 0.5.
		if !f.UnderFloor || !f.Shortfall || !near(f.ShareCI.Upper, 0.1744) {
			t.Fatalf("F: %+v", f)
		}
	})
	t.Run("AbsentAndNotInReference", func(t *testing.T) {
		recs := append(append(repeat(10, rec("F")), repeat(10, rec("M"))...), rec("X"))
		r, err := collection.Represent(recs, sexRef(map[string]float64{"F": 0.49, "M": 0.49, "O": 0.02}))
		if err != nil {
			t.Fatal(err)
		}
		o := group(t, r, "sex", "O")
		if !o.Absent || !o.UnderFloor || o.Count != 0 || *o.Ratio != 0 {
			t.Fatalf("O: %+v", o)
		}
		x := group(t, r, "sex", "X")
		if !x.NotInReference || x.Expected != nil || x.Ratio != nil {
			t.Fatalf("X: %+v", x)
		}
		kinds := []string{}
		for _, f := range r.Findings {
			kinds = append(kinds, f.Kind+":"+f.Group)
		}
		// Absent before small; the small X also is not in the reference,
		// and small wins (one finding per group).
		if diff := cmp.Diff([]string{"absent:O", "small_group:X"}, kinds); diff != "" {
			t.Fatalf("findings (-want +got):\n%s", diff)
		}
	})
	t.Run("MissingValues", func(t *testing.T) {
		recs := append(append(repeat(6, rec("F")), repeat(6, rec("M"))...), repeat(4, rec(""))...)
		r, err := collection.Represent(recs, sexRef(map[string]float64{"F": 0.5, "M": 0.5}))
		if err != nil {
			t.Fatal(err)
		}
		b := r.Attributes[0]
		if b.Known != 12 || b.Missing != 4 || !near(b.MissingShare, 0.25) || !near(group(t, r, "sex", "F").Share, 0.5) {
			t.Fatalf("breakdown %+v", b)
		}
		if len(r.Findings) != 1 || r.Findings[0].Kind != collection.FindingMissing {
			t.Fatalf("findings %+v", r.Findings)
		}
	})
	t.Run("LabelPrevalence", func(t *testing.T) {
		recs := append(append(repeat(3, rec("F", true)), repeat(5, rec("F", false))...), append(repeat(2, rec("F")), repeat(10, rec("M", false))...)...)
		r, err := collection.Represent(recs, sexRef(map[string]float64{"F": 0.5, "M": 0.5}))
		if err != nil {
			t.Fatal(err)
		}
		f := group(t, r, "sex", "F")
		if f.Labelled != 8 || f.Positives != 3 || !near(*f.Prevalence, 0.375) || f.PrevalenceCI == nil {
			t.Fatalf("F: %+v", f)
		}
		m := group(t, r, "sex", "M")
		if *m.Prevalence != 0 || r.Labelled != 18 || r.Positives != 3 {
			t.Fatalf("M: %+v, report %d/%d", m, r.Positives, r.Labelled)
		}
	})
	t.Run("SubjectsCountedOnce", func(t *testing.T) {
		a := ethos.SubjectKey(strings.Repeat("a", 64))
		b := ethos.SubjectKey(strings.Repeat("b", 64))
		yes := true
		recs := []ethos.InstanceAttributes{
			{Subject: a, Attributes: map[string]string{"sex": "F"}},
			{Subject: a, Attributes: map[string]string{"sex": "F", "age_band": "40-49"}, Label: &yes},
			{Subject: b, Attributes: map[string]string{"sex": "M"}},
			{Subject: b, Attributes: map[string]string{"sex": "F"}},
		}
		r, err := collection.Represent(recs, sexRef(map[string]float64{"F": 0.5, "M": 0.5}))
		if err != nil {
			t.Fatal(err)
		}
		if r.Unit != "subject" || r.Units != 2 || r.Records != 4 || r.Conflicts != 1 || r.Labelled != 1 {
			t.Fatalf("report %+v", r)
		}
		if g := group(t, r, "age_band", "40-49"); g.Count != 1 {
			t.Fatalf("attribute from the second record: %+v", g)
		}
	})
	t.Run("IntersectionExpectedFromMarginals", func(t *testing.T) {
		var recs []ethos.InstanceAttributes
		for i := range 40 {
			r := rec([]string{"F", "M"}[i%2])
			r.Attributes[ethos.AttrAgeBand] = []string{"10-19", "2-9"}[i/20]
			recs = append(recs, r)
		}
		ref := sexRef(map[string]float64{"F": 0.5, "M": 0.5})
		ref.Expected[ethos.AttrAgeBand] = map[string]float64{"2-9": 0.4, "10-19": 0.6}
		r, err := collection.Represent(recs, ref)
		if err != nil {
			t.Fatal(err)
		}
		if len(r.Intersections) != 1 || r.Intersections[0].Reference != "independence" {
			t.Fatalf("intersections %+v", r.Intersections)
		}
		g := group(t, r, "sex×age_band", "F", "2-9")
		if !near(*g.Expected, 0.2) || !near(g.Share, 0.25) {
			t.Fatalf("F×2-9: %+v", g)
		}
		var order []string
		for _, g := range r.Intersections[0].Groups {
			order = append(order, g.Label())
		}
		if diff := cmp.Diff([]string{"F × 2-9", "F × 10-19", "M × 2-9", "M × 10-19"}, order); diff != "" {
			t.Fatalf("natural order (-want +got):\n%s", diff)
		}
	})
	t.Run("Deterministic", func(t *testing.T) {
		recs, ref := mustInputs(t)
		var first []byte
		for range 5 {
			r, err := collection.Represent(recs, ref)
			if err != nil {
				t.Fatal(err)
			}
			var b bytes.Buffer
			r.WriteJSON(&b)
			if first == nil {
				first = b.Bytes()
			} else if !bytes.Equal(first, b.Bytes()) {
				t.Fatal("two runs render different JSON")
			}
		}
	})
}

func TestRepresentErrors(t *testing.T) {
	good := map[string]float64{"F": 0.5, "M": 0.5}
	for _, tc := range []struct {
		name string
		recs []ethos.InstanceAttributes
		ref  *ethos.ReferencePopulation
		want string
	}{
		{"ErrInvalidSharesOverOne", nil, sexRef(map[string]float64{"F": 0.7, "M": 0.5}), "sum to 1.2"},
		{"ErrInvalidZeroShare", nil, sexRef(map[string]float64{"F": 0}), `expected.sex["F"]`},
		{"ErrInvalidFloor", nil, &ethos.ReferencePopulation{Name: "t", Floor: 1.5, Expected: map[string]map[string]float64{"sex": good}}, "floor"},
		{"ErrInvalidName", nil, &ethos.ReferencePopulation{Floor: 0.8, Expected: map[string]map[string]float64{"sex": good}}, "name"},
		{"ErrInvalidAttributeName", nil, &ethos.ReferencePopulation{Name: "t", Floor: 0.8, Expected: map[string]map[string]float64{"Sex": good}}, `"Sex"`},
		{"ErrInvalidMixedSubjects", []ethos.InstanceAttributes{{Subject: ethos.SubjectKey(strings.Repeat("a", 64))}, {}}, sexRef(good), "record 2 has no subject"},
		{"ErrInvalidRecordAttribute", []ethos.InstanceAttributes{{Attributes: map[string]string{"bad name": "x"}}}, sexRef(good), "record 1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := collection.Represent(tc.recs, tc.ref)
			if ethos.ErrorCode(err) != ethos.EINVALID || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want EINVALID mentioning %q", err, tc.want)
			}
		})
	}
}

func mustInputs(tb testing.TB) ([]ethos.InstanceAttributes, *ethos.ReferencePopulation) {
	tb.Helper()
	f, err := os.Open(filepath.Join("testdata", "instances.csv"))
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	recs, err := collection.ReadInstancesCSV(f)
	if err != nil {
		tb.Fatal(err)
	}
	rf, err := os.Open(filepath.Join("testdata", "reference.json"))
	if err != nil {
		tb.Fatal(err)
	}
	defer rf.Close()
	ref, err := collection.ReadReference(rf)
	if err != nil {
		tb.Fatal(err)
	}
	return recs, ref
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	p := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(p, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("%v (run with -update to create)", err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Fatalf("%s differs (-want +got):\n%s", name, diff)
	}
}

func TestRenderings(t *testing.T) {
	recs, ref := mustInputs(t)
	r, err := collection.Represent(recs, ref)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		render func(*bytes.Buffer) error
	}{
		{"report.golden.json", func(b *bytes.Buffer) error { return r.WriteJSON(b) }},
		{"report.golden.csv", func(b *bytes.Buffer) error { return r.WriteCSV(b) }},
		{"report.golden.html", func(b *bytes.Buffer) error { return r.WriteHTML(b) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b bytes.Buffer
			if err := tc.render(&b); err != nil {
				t.Fatal(err)
			}
			golden(t, tc.name, b.Bytes())
		})
	}
	t.Run("JSONRoundTrip", func(t *testing.T) {
		var b bytes.Buffer
		r.WriteJSON(&b)
		var back collection.Report
		dec := json.NewDecoder(&b)
		dec.DisallowUnknownFields()
		if err := dec.Decode(&back); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(r, &back); diff != "" {
			t.Fatalf("JSON round trip (-want +got):\n%s", diff)
		}
	})
	t.Run("NoSubjectInOutput", func(t *testing.T) {
		for _, render := range []func(*bytes.Buffer) error{
			func(b *bytes.Buffer) error { return r.WriteJSON(b) },
			func(b *bytes.Buffer) error { return r.WriteCSV(b) },
			func(b *bytes.Buffer) error { return r.WriteHTML(b) },
		} {
			var b bytes.Buffer
			render(&b)
			for _, rc := range recs {
				if bytes.Contains(b.Bytes(), []byte(rc.Subject)) || bytes.Contains(b.Bytes(), []byte(rc.Instance)) {
					t.Fatal("a subject key or instance UID appears in the report")
				}
			}
		}
	})
	t.Run("CSVFormulaEscaped", func(t *testing.T) {
		recs := []ethos.InstanceAttributes{{Attributes: map[string]string{"sex": "F", "model": "=HYPERLINK(\"x\")"}}}
		r, err := collection.Represent(recs, sexRef(map[string]float64{"F": 1}))
		if err != nil {
			t.Fatal(err)
		}
		var b bytes.Buffer
		r.WriteCSV(&b)
		if !strings.Contains(b.String(), `'=HYPERLINK`) {
			t.Fatalf("formula not escaped:\n%s", b.String())
		}
	})
}

func TestReadInputs(t *testing.T) {
	t.Run("ReferenceCSVMatchesJSON", func(t *testing.T) {
		f, err := os.Open(filepath.Join("testdata", "reference.csv"))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		ref, err := collection.ReadReferenceCSV(f, "csv", 0.8, 20)
		if err != nil {
			t.Fatal(err)
		}
		if ref.Expected["ethnicity"]["black"] != 0.15 || len(ref.Expected["sex"]) != 2 {
			t.Fatalf("ref %+v", ref)
		}
	})
	t.Run("AgeToBand", func(t *testing.T) {
		recs, err := collection.ReadInstancesCSV(strings.NewReader("sex,age,label\nF,45,yes\nM,,\n,90,0\n"))
		if err != nil {
			t.Fatal(err)
		}
		want := []map[string]string{{"sex": "F", "age_band": "40-49"}, {"sex": "M"}, {"age_band": "90+"}}
		for i, w := range want {
			if diff := cmp.Diff(w, recs[i].Attributes); diff != "" {
				t.Fatalf("row %d (-want +got):\n%s", i+2, diff)
			}
		}
		if *recs[0].Label != true || recs[1].Label != nil || *recs[2].Label != false {
			t.Fatal("labels")
		}
	})
	for _, tc := range []struct {
		name, csv, want string
	}{
		{"ErrInvalidEmpty", "", "empty"},
		{"ErrInvalidHeader", "Sex Name\nF\n", "line 1, column 1"},
		{"ErrInvalidDuplicateColumn", "sex,sex\nF,F\n", `column "sex" twice`},
		{"ErrInvalidLabel", "sex,label\nF,maybe\n", "line 2, column label"},
		{"ErrInvalidAge", "sex,age\nF,old\n", "line 2, column age"},
		{"ErrInvalidFieldCount", "sex,age\nF\n", "wrong number of fields"},
		{"ErrInvalidLongValue", "sex\n" + strings.Repeat("x", 300) + "\n", "longer than"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := collection.ReadInstancesCSV(strings.NewReader(tc.csv))
			if ethos.ErrorCode(err) != ethos.EINVALID || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want EINVALID mentioning %q", err, tc.want)
			}
		})
	}
	for _, tc := range []struct {
		name, json, want string
	}{
		{"ErrInvalidUnknownField", `{"name":"x","floor":0.8,"expected":{"sex":{"F":1}},"extra":1}`, "unknown field"},
		{"ErrInvalidSyntax", `{"name":`, "reference"},
		{"ErrInvalidType", `{"name":"x","floor":"high"}`, "field floor"},
		{"ErrInvalidTrailing", `{"name":"x","floor":0.8,"expected":{"sex":{"F":1}}} {}`, "after the JSON"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := collection.ReadReference(strings.NewReader(tc.json))
			if ethos.ErrorCode(err) != ethos.EINVALID || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want EINVALID mentioning %q", err, tc.want)
			}
		})
	}
}
