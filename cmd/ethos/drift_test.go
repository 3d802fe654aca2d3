package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/csv"
	"encoding/json"
	"encoding/xml"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/ethos-imaging/ethos"
	"github.com/ethos-imaging/ethos/drift"
	"github.com/ethos-imaging/ethos/internal/testenv"
)

// splitFlchain writes the real flchain table as two files, the blood
// samples taken up to 1995 (reference, plain CSV) and later (current,
// gzip), and returns their paths with the rows of each.
func splitFlchain(t *testing.T) (refPath, curPath string, refRows, curRows [][]string, header []string) {
	t.Helper()
	f, err := os.Open(filepath.Join(testenv.Shared(t), "testdata", "tabular", "flchain.csv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	header = rows[0]
	yr := slicesIndex(header, "sample.yr")
	for _, r := range rows[1:] {
		if y, _ := strconv.Atoi(r[yr]); y <= 1995 {
			refRows = append(refRows, r)
		} else {
			curRows = append(curRows, r)
		}
	}
	dir := t.TempDir()
	refPath, curPath = filepath.Join(dir, "ref.csv"), filepath.Join(dir, "cur.csv.gz")
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	w.Write(header)
	w.WriteAll(refRows)
	if err := os.WriteFile(refPath, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	b.Reset()
	gz := gzip.NewWriter(&b)
	w = csv.NewWriter(gz)
	w.Write(header)
	w.WriteAll(curRows)
	gz.Close()
	if err := os.WriteFile(curPath, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return refPath, curPath, refRows, curRows, header
}

func slicesIndex(s []string, v string) int {
	for i, x := range s {
		if x == v {
			return i
		}
	}
	return -1
}

func runCmd(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out, errb bytes.Buffer
	env := &Env{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb, Getenv: func(string) string { return "" }}
	err := Run(context.Background(), env, args)
	return out.String(), err
}

func floats(rows [][]string, col int) []float64 {
	var x []float64
	for _, r := range rows {
		if v, err := strconv.ParseFloat(r[col], 64); err == nil {
			x = append(x, v)
		}
	}
	return x
}

func TestDriftNumericOnRealData(t *testing.T) {
	ref, cur, refRows, curRows, header := splitFlchain(t)
	chart := filepath.Join(t.TempDir(), "kappa.svg")
	out, err := runCmd(t, "drift", "--ref", ref, "--cur", cur, "--column", "kappa", "--chart", chart)
	if err != nil {
		t.Fatal(err)
	}
	var rep struct {
		Kind      string
		Reference struct{ N, Missing int }
		Current   struct{ N, Missing int }
		KS        struct {
			Statistic float64 `json:"statistic"`
			PValue    float64 `json:"p_value"`
		}
		PSI struct {
			Value float64
			Bins  []struct{ Label string }
		}
		Wasserstein float64
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, out)
	}
	col := slicesIndex(header, "kappa")
	a, b := floats(refRows, col), floats(curRows, col)
	ks, _ := drift.KS(a, b)
	w, _ := drift.Wasserstein(a, b)
	psi, _ := drift.PSI(a, b, drift.DefaultBins, 0)
	if rep.Kind != "numeric" || rep.Reference.N != len(a) || rep.Current.N != len(b) {
		t.Errorf("kind %q sizes %d %d, want numeric %d %d", rep.Kind, rep.Reference.N, rep.Current.N, len(a), len(b))
	}
	if rep.KS.Statistic != ks.Statistic || rep.Wasserstein != w || rep.PSI.Value != psi.PSI || len(rep.PSI.Bins) != len(psi.Bins) {
		t.Errorf("report %+v differs from the engine: KS %v W %v PSI %v", rep, ks.Statistic, w, psi.PSI)
	}
	svg, err := os.ReadFile(chart)
	if err != nil {
		t.Fatal(err)
	}
	dec := xml.NewDecoder(bytes.NewReader(svg))
	for {
		if _, err := dec.Token(); err == io.EOF {
			break
		} else if err != nil {
			t.Fatalf("chart is not well-formed: %v", err)
		}
	}
}

func TestDriftCategoricalOnRealData(t *testing.T) {
	ref, cur, refRows, curRows, header := splitFlchain(t)
	outFile := filepath.Join(t.TempDir(), "chapter.json")
	if _, err := runCmd(t, "drift", "--ref", ref, "--cur", cur, "--column", "chapter", "--categorical", "--out", outFile); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(outFile)
	if err != nil {
		t.Fatal(err)
	}
	var rep struct {
		Reference     struct{ N, Missing int }
		NewCategories []struct{ Category string } `json:"new_categories"`
		ChiSquare     struct{ DoF int }           `json:"chi_square"`
	}
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	col := slicesIndex(header, "chapter")
	seen := map[string]bool{}
	missing := 0
	for _, r := range refRows {
		if r[col] == "" || r[col] == "NA" {
			missing++
			continue
		}
		seen[r[col]] = true
	}
	want := map[string]bool{}
	for _, r := range curRows {
		if c := r[col]; c != "" && c != "NA" && !seen[c] {
			want[c] = true
		}
	}
	if len(rep.NewCategories) != len(want) || len(want) == 0 {
		t.Fatalf("new categories %v, want %v", rep.NewCategories, want)
	}
	for _, n := range rep.NewCategories {
		if !want[n.Category] {
			t.Errorf("unexpected new category %q", n.Category)
		}
	}
	if rep.Reference.Missing != missing {
		t.Errorf("missing %d, want %d", rep.Reference.Missing, missing)
	}
}

func TestDriftErrors(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write("good.csv", "id,score\n1,0.5\n2,0.7\n")
	bad := write("bad.csv", "id,score\n1,0.5\n2,SMITH^JOHN\n")
	empty := write("empty.csv", "")
	blank := write("blank.csv", "id,score\n1,\n")
	tests := []struct {
		name     string
		args     []string
		usage    bool
		contains string
	}{
		{"UsageMissingColumn", []string{"drift", "--ref", good, "--cur", good}, true, "--column"},
		{"UsageBadBins", []string{"drift", "--ref", good, "--cur", good, "--column", "score", "--bins", "0"}, true, "--bins"},
		{"UsageBadEpsilon", []string{"drift", "--ref", good, "--cur", good, "--column", "score", "--epsilon", "2"}, true, "--epsilon"},
		{"InvalidNoSuchColumn", []string{"drift", "--ref", good, "--cur", good, "--column", "age"}, false, `no column "age"`},
		{"InvalidNotANumber", []string{"drift", "--ref", good, "--cur", bad, "--column", "score"}, false, "row 3"},
		{"InvalidEmptyFile", []string{"drift", "--ref", empty, "--cur", good, "--column", "score"}, false, "empty"},
		{"InvalidNoValues", []string{"drift", "--ref", blank, "--cur", good, "--column", "score"}, false, "no values"},
		{"InvalidMissingFile", []string{"drift", "--ref", filepath.Join(dir, "nope.csv"), "--cur", good, "--column", "score"}, false, "cannot open"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := runCmd(t, tc.args...)
			if err == nil {
				t.Fatal("no error")
			}
			_, isUsage := errors.AsType[*usageError](err)
			if isUsage != tc.usage {
				t.Errorf("usage error = %v, want %v (%v)", isUsage, tc.usage, err)
			}
			if !tc.usage && ethos.ErrorCode(err) != ethos.EINVALID {
				t.Errorf("code %q, want invalid (%v)", ethos.ErrorCode(err), err)
			}
			if !strings.Contains(err.Error(), tc.contains) {
				t.Errorf("error %q does not mention %q", err, tc.contains)
			}
			if strings.Contains(err.Error(), "SMITH") {
				t.Errorf("error repeats the cell content: %q", err)
			}
		})
	}
}
