package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/ethos-imaging/ethos/evalstat"
	"github.com/ethos-imaging/ethos/internal/testenv"
)

// encoderIndent is what json.Encoder with SetIndent("", "  ") writes.
func encoderIndent(t *testing.T, v any) []byte {
	t.Helper()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestIndentJSONMatchesEncoder checks the report indenter against
// encoding/json's on a real report (flchain, every group, curves and
// bootstrap) and on values whose strings hold brackets, commas, colons,
// quotes and backslashes, with empty and nested objects and arrays.
func TestIndentJSONMatchesEncoder(t *testing.T) {
	f, err := os.Open(filepath.Join(testenv.Shared(t), "testdata", "tabular", "flchain.csv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tab, err := evalstat.ReadCSV(f, evalstat.CSVSpec{Label: "death", Score: "mgus", Groups: []string{"sex", "chapter"}})
	if err != nil {
		t.Fatal(err)
	}
	cfg := evalstat.DefaultConfig()
	cfg.Intersect, cfg.Bootstrap = true, 20
	rep, err := evalstat.Evaluate(tab, cfg)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		v    any
	}{
		{"SameOnFlchainReport", rep},
		{"SameOnAwkwardStrings", map[string]any{
			"a{b":   []any{"x,y", "p:q", `quote " and \ backslash`, "[]{}", "\u2028<&>", map[string]any{}, []any{}},
			"empty": map[string]any{"": []any{[]any{}, map[string]any{"k": nil}}},
			"n":     []float64{1e-300, 0.5, 3},
		}},
		{"SameOnEmptyObject", map[string]any{}},
		{"SameOnEmptyArray", []any{}},
		{"SameOnScalar", "just a string"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			want := encoderIndent(t, tc.v)
			b, err := json.Marshal(tc.v)
			if err != nil {
				t.Fatal(err)
			}
			if got := indentJSON(b); !bytes.Equal(got, want) {
				i := 0
				for i < min(len(got), len(want)) && got[i] == want[i] {
					i++
				}
				t.Fatalf("differs at byte %d: got %q, want %q", i, got[max(0, i-40):min(len(got), i+40)], want[max(0, i-40):min(len(want), i+40)])
			}
		})
	}
}
