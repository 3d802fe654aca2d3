package consent_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ethos-imaging/ethos/consent"
	"github.com/google/go-cmp/cmp"
)

// reference decodes data with encoding/json the way decodeTree should.
func reference(data []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if !json.Valid(data) {
		return nil, errors.New("invalid")
	}
	return v, nil
}

func TestDecodeTree(t *testing.T) {
	tests := []struct {
		name, in string
		path     string // for errors
		problem  string
	}{
		{"OKNested", `{"a": [1, -2.5e3, "x\u00e9\ud83d\ude00", true, false, null, {}], "b": {"c": []}}`, "", ""},
		{"OKEscapes", `["\"\\\/\b\f\n\r\t", "\ud800", "\udc00\ud800x"]`, "", ""},
		{"OKInvalidUTF8Replaced", "[\"a\xffb\"]", "", ""},
		{"ErrDuplicateKey", `{"a": {"b": 1, "b": 2}}`, "a.b", "duplicate key"},
		{"ErrTrailing", `{} {}`, "", "trailing data"},
		{"ErrTrailingComma", `{"a": [1, 2,]}`, "a[2]", "unexpected character"},
		{"ErrUnterminated", `{"a": "x`, "a", "unterminated string"},
		{"ErrControlChar", "[\"a\tb\"]", "[0]", "control character"},
		{"ErrBadEscape", `["\x41"]`, "[0]", "invalid escape"},
		{"ErrBadNumber", `[01]`, "", "want ',' or ']'"},
		{"ErrBadFraction", `[1.]`, "[0]", "invalid number"},
		{"ErrBadLiteral", `[tru]`, "[0]", "invalid literal"},
		{"ErrEmpty", ``, "", "unexpected end"},
		{"ErrTooDeep", strings.Repeat("[", 65) + strings.Repeat("]", 65), "[0]" + strings.Repeat("[0]", 63), "nested deeper"},
		{"ErrKeyNotString", `{1: 2}`, "", "want an object key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := consent.DecodeTree([]byte(tt.in))
			if tt.problem == "" {
				if err != nil {
					t.Fatal(err)
				}
				want, rerr := reference([]byte(tt.in))
				if rerr != nil {
					t.Fatal(rerr)
				}
				if diff := cmp.Diff(want, got); diff != "" {
					t.Errorf("differs from encoding/json (-want +got):\n%s", diff)
				}
				return
			}
			fe, ok := errors.AsType[*consent.FHIRError](err)
			if !ok {
				t.Fatalf("err = %v, want *FHIRError", err)
			}
			if fe.Path != tt.path || !strings.Contains(fe.Problem, tt.problem) {
				t.Errorf("error at %q: %q; want at %q containing %q", fe.Path, fe.Problem, tt.path, tt.problem)
			}
		})
	}
}

// FuzzDecodeTree checks the hand-written JSON decoder against encoding/json:
// it accepts exactly the valid documents without duplicate keys or deep
// nesting, and decodes them to the same values.
func FuzzDecodeTree(f *testing.F) {
	for _, name := range examples {
		if b, err := os.ReadFile(filepath.Join("testdata", name+".json")); err == nil {
			f.Add(b)
		}
	}
	for _, s := range []string{`{"a":"\ud83d\ude00\u00e9"}`, `[1,-0.5e+7,true,null]`, "\"\xff\"", `{"a":1,"a":2}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := consent.DecodeTree(data)
		want, rerr := reference(data)
		if err == nil {
			if rerr != nil {
				t.Fatalf("accepted what encoding/json rejects (%v): %q", rerr, data)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Fatalf("differs from encoding/json for %q:\n%s", data, diff)
			}
			return
		}
		if _, ok := errors.AsType[*consent.FHIRError](err); !ok {
			t.Fatalf("error is not a *FHIRError: %v", err)
		}
		if rerr == nil {
			// Valid JSON may only be refused for a duplicate key or depth.
			if !strings.Contains(err.Error(), "duplicate key") && !strings.Contains(err.Error(), "nested deeper") {
				t.Fatalf("refused valid JSON %q: %v", data, err)
			}
		}
	})
}
