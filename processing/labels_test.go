package processing_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ethos-imaging/ethos/internal/testenv"
	"github.com/ethos-imaging/ethos/processing"
)

func errorsAs[T error](err error) (T, bool) { return errors.AsType[T](err) }

var knownIDs = map[string]bool{"2.25.1": true, "2.25.2": true, "2.25.3": true}

func spec(allowed ...string) processing.LabelSpec {
	return processing.LabelSpec{Known: func(id string) bool { return knownIDs[id] }, Allowed: allowed}
}

func TestParseLabels(t *testing.T) {
	type pos struct{ row, col int }
	tests := []struct {
		name    string
		in      string
		allowed []string
		want    map[string]string
		errs    []pos
	}{
		{"Valid", "id,label\n2.25.1,pos\n2.25.2,neg\n", nil, map[string]string{"2.25.1": "pos", "2.25.2": "neg"}, nil},
		{"ColumnsSwappedBOMAndCRLF", "\ufefflabel,ID\r\npos,2.25.1\r\n", nil, map[string]string{"2.25.1": "pos"}, nil},
		{"QuotedComma", "id,label\n2.25.1,\"a, b\"\n", nil, map[string]string{"2.25.1": "a, b"}, nil},
		{"UnknownInstance", "id,label\n2.25.1,pos\n2.25.9,pos\n", nil, nil, []pos{{3, 1}}},
		{"Duplicate", "id,label\n2.25.1,pos\n2.25.1,neg\n", nil, nil, []pos{{3, 1}}},
		{"BadValueEmpty", "id,label\n2.25.1,\n", nil, nil, []pos{{2, 2}}},
		{"BadValueSpace", "id,label\n2.25.1, pos\n", nil, nil, []pos{{2, 2}}},
		{"BadValueControl", "id,label\n2.25.1,po\x01s\n", nil, nil, []pos{{2, 2}}},
		{"BadValueTooLong", "id,label\n2.25.1," + strings.Repeat("x", 65) + "\n", nil, nil, []pos{{2, 2}}},
		{"BadValueNotAllowed", "id,label\n2.25.1,maybe\n2.25.2,pos\n", []string{"pos", "neg"}, nil, []pos{{2, 2}}},
		{"EveryRowReported", "id,label\n2.25.9,pos\n2.25.1,\n2.25.2,pos\n2.25.2,pos\n", nil, nil, []pos{{2, 1}, {3, 2}, {5, 1}}},
		{"FieldCount", "id,label\n2.25.1,pos,extra\n2.25.2,neg\n", nil, nil, []pos{{2, 0}}},
		{"UnknownColumn", "id,label,notes\n", nil, nil, []pos{{1, 3}}},
		{"MissingColumn", "id\n2.25.1\n", nil, nil, []pos{{1, 0}}},
		{"Empty", "", nil, nil, []pos{{1, 0}}},
		{"HeaderOnly", "id,label\n", nil, nil, []pos{{2, 0}}},
		{"BareQuote", "id,label\n2.25.1,po\"s\n", nil, nil, []pos{{2, 0}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := processing.ParseLabels(strings.NewReader(tt.in), spec(tt.allowed...))
			if tt.errs == nil {
				if err != nil {
					t.Fatal(err)
				}
				if jsonOf(got) != jsonOf(tt.want) {
					t.Errorf("got %v, want %v", got, tt.want)
				}
				return
			}
			if got != nil {
				t.Errorf("labels returned with errors: %v", got)
			}
			le, ok := errorsAs[*processing.LabelErrors](err)
			if !ok || !errors.Is(err, processing.ErrLabels) {
				t.Fatalf("err %v, want label errors", err)
			}
			var ps []pos
			for _, e := range le.Errs {
				ps = append(ps, pos{e.Row, e.Column})
			}
			if jsonOf(ps) != jsonOf(tt.errs) {
				t.Errorf("errors at %v, want %v (%v)", ps, tt.errs, err)
			}
		})
	}
}

func FuzzParseLabels(f *testing.F) {
	f.Add([]byte("id,label\n2.25.1,pos\n2.25.2,neg\n"))
	f.Add([]byte("label,id\r\n\"a,b\",2.25.3\r\n"))
	// The shared tabular corpus: a real CSV with a header and many rows.
	if b, err := os.ReadFile(filepath.Join(testenv.Shared(f), "testdata", "tabular", "flchain.csv")); err == nil {
		f.Add(b[:min(len(b), 4096)])
		lines := strings.SplitN(string(b), "\n", 20)
		f.Add([]byte("id,label\n" + strings.Join(lines[1:min(len(lines), 19)], "\n")))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		got, err := processing.ParseLabels(strings.NewReader(string(in)), spec())
		if err == nil {
			if len(got) == 0 {
				t.Fatal("no error and no labels")
			}
			for id, l := range got {
				if !knownIDs[id] || l == "" || len(l) > processing.MaxLabelLen {
					t.Fatalf("accepted %q -> %q", id, l)
				}
			}
			return
		}
		le, ok := errorsAs[*processing.LabelErrors](err)
		if !ok || len(le.Errs) == 0 || got != nil {
			t.Fatalf("error %v of type %T with %d labels", err, err, len(got))
		}
		for _, e := range le.Errs {
			if e.Row < 0 || e.Column < 0 {
				t.Fatalf("bad position %+v", e)
			}
		}
	})
}
