package evalstat_test

import (
	"bytes"
	"compress/gzip"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ethos-imaging/ethos/evalstat"
	"github.com/ethos-imaging/ethos/internal/testenv"
)

var spec = evalstat.CSVSpec{Label: "y", Score: "p", Groups: []string{"sex"}}

func TestReadCSV(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		spec    evalstat.CSVSpec
		rows    int
		err     error
		row     int
		column  string
		message string
	}{
		{"Plain", "id,y,p,sex\n1,1,0.9,F\n2,0,0.1,M\n", spec, 2, nil, 0, "", ""},
		{"CRLFAndBOM", "\ufeffy,p,sex\r\n1,0.5,F\r\n", spec, 1, nil, 0, "", ""},
		{"QuotedWithComma", "y,p,sex,note\n1,0.5,\"F\",\"a, \"\"b\"\"\nc\"\n0,1,M,x\n", spec, 2, nil, 0, "", ""},
		{"BlankLinesSkipped", "y,p,sex\n1,0.5,F\n\n0,0.5,F\n", spec, 2, nil, 0, "", ""},
		{"LabelAsFloat", "y,p,sex\n1.0,0.5,F\n0.0,1e-3,M\n", spec, 2, nil, 0, "", ""},
		{"ErrNoHeader", "", spec, 0, evalstat.ErrNoHeader, 0, "", "empty input"},
		{"ErrNoRows", "y,p,sex\n", spec, 0, evalstat.ErrNoRows, 0, "", "no data rows"},
		{"ErrMissingColumn", "y,score,sex\n1,0.5,F\n", spec, 0, evalstat.ErrMissingColumn, 0, "p", `column "p"`},
		{"ErrDupColumn", "y,p,p,sex\n1,0.5,0.5,F\n", spec, 0, evalstat.ErrDupColumn, 0, "p", "more than once"},
		{"ErrLabelNotBinary", "y,p,sex\n1,0.5,F\n2,0.5,F\n", spec, 0, evalstat.ErrLabel, 2, "y", `row 2 (line 3), column "y"`},
		{"ErrScoreAboveOne", "y,p,sex\n1,1.5,F\n", spec, 0, evalstat.ErrScore, 1, "p", "above 1"},
		{"ErrScoreNaN", "y,p,sex\n1,NaN,F\n", spec, 0, evalstat.ErrScore, 1, "p", "NaN"},
		{"ErrScoreNegative", "y,p,sex\n1,0.5,F\n0,-0.1,F\n", spec, 0, evalstat.ErrScore, 2, "p", "negative"},
		{"ErrScoreMissing", "y,p,sex\n1,,F\n", spec, 0, evalstat.ErrScore, 1, "p", "empty"},
		{"ErrScoreText", "y,p,sex\n1,NA,F\n", spec, 0, evalstat.ErrScore, 1, "p", "not a number"},
		{"ErrFieldCount", "y,p,sex\n1,0.5\n", spec, 0, evalstat.ErrFieldCount, 1, "", "wrong number of fields"},
		{"ErrUnclosedQuote", "y,p,sex\n1,0.5,\"F\n", spec, 0, evalstat.ErrQuote, 1, "", "not closed"},
		{"ErrQuoteInField", "y,p,sex\n1,0.5,F\"x\n", spec, 0, evalstat.ErrQuote, 1, "", "quote"},
		{"ErrEmptyCluster", "y,p,sex,pid\n1,0.5,F,\n", evalstat.CSVSpec{Label: "y", Score: "p", Groups: []string{"sex"}, Cluster: "pid"}, 0, evalstat.ErrEmptyCluster, 1, "pid", "cluster"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tab, err := evalstat.ReadCSV(strings.NewReader(tc.in), tc.spec)
			if tc.err == nil {
				if err != nil {
					t.Fatal(err)
				}
				if tab.Len() != tc.rows {
					t.Errorf("%d rows, want %d", tab.Len(), tc.rows)
				}
				return
			}
			if !errors.Is(err, tc.err) {
				t.Fatalf("err = %v, want %v", err, tc.err)
			}
			ce, ok := errors.AsType[*evalstat.CSVError](err)
			if !ok {
				t.Fatalf("err %T is not a *CSVError", err)
			}
			if ce.Row != tc.row || ce.Column != tc.column || !strings.Contains(err.Error(), tc.message) {
				t.Errorf("err = %q (row %d column %q), want row %d column %q mentioning %q", err, ce.Row, ce.Column, tc.row, tc.column, tc.message)
			}
		})
	}
}

func TestReadCSVNeverEchoesValues(t *testing.T) {
	_, err := evalstat.ReadCSV(strings.NewReader("y,p,sex\nJOHN SMITH,0.5,F\n"), spec)
	if err == nil || strings.Contains(err.Error(), "JOHN") {
		t.Errorf("err = %v", err)
	}
	_, err = evalstat.ReadCSV(strings.NewReader("y,p,sex\n1,1234567,F\n"), spec)
	if err == nil || strings.Contains(err.Error(), "1234567") {
		t.Errorf("err = %v", err)
	}
}

func TestReadCSVGzip(t *testing.T) {
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	zw.Write([]byte("y,p,sex\n1,0.25,F\n0,0.75,M\n"))
	zw.Close()
	tab, err := evalstat.ReadCSV(&b, spec)
	if err != nil {
		t.Fatal(err)
	}
	if tab.Len() != 2 {
		t.Errorf("%d rows", tab.Len())
	}
}

// FuzzReadCSV checks that any input either fails with an error or reads
// into a table that writes back and reads again to the same rows.
func FuzzReadCSV(f *testing.F) {
	flc, err := os.ReadFile(filepath.Join(testenv.Shared(f), "testdata", "tabular", "flchain.csv"))
	if err != nil {
		f.Fatal(err)
	}
	lines := strings.SplitAfter(string(flc), "\n")
	// Real rows from flchain: death as the label, the 0/1 mgus column as a
	// score, sex and the cause-of-death chapter (often empty) as groups.
	f.Add([]byte(strings.Join(lines[:40], "")))
	f.Add([]byte(strings.Join(append(lines[:1], lines[3000:3030]...), "")))
	f.Add([]byte("\"death\",\"mgus\",\"sex\",\"chapter\"\n1,0.5,\"F\",\"a\"\"b\"\n0,1e-1,M,\"x\ny\"\r\n"))
	f.Add(csvOf(synthRows(1, 20)))
	fspec := evalstat.CSVSpec{Label: "death", Score: "mgus", Groups: []string{"sex", "chapter"}}
	f.Fuzz(func(t *testing.T, data []byte) {
		tab, err := evalstat.ReadCSV(bytes.NewReader(data), fspec)
		if err != nil {
			if _, ok := errors.AsType[*evalstat.CSVError](err); !ok && !strings.Contains(err.Error(), "evalstat") && !strings.Contains(err.Error(), "gzip") {
				t.Fatalf("error %q is neither a CSVError nor an evalstat error", err)
			}
			return
		}
		var out bytes.Buffer
		if err := tab.WriteCSV(&out, fspec); err != nil {
			t.Fatal(err)
		}
		tab2, err := evalstat.ReadCSV(bytes.NewReader(out.Bytes()), fspec)
		if err != nil {
			t.Fatalf("re-read: %v\n%s", err, out.Bytes())
		}
		if tab.Len() != tab2.Len() {
			t.Fatalf("%d rows, then %d", tab.Len(), tab2.Len())
		}
		for i := range tab.Len() {
			l1, s1, g1, _ := tab.Row(i)
			l2, s2, g2, _ := tab2.Row(i)
			if l1 != l2 || s1 != s2 || strings.Join(g1, "\x00") != strings.Join(g2, "\x00") {
				t.Fatalf("row %d: %v %v %q, then %v %v %q", i, l1, s1, g1, l2, s2, g2)
			}
		}
	})
}
