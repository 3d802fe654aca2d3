package audit_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ethos-imaging/ethos/audit"
	"github.com/ethos-imaging/ethos/audit/audittest"
	"github.com/ethos-imaging/ethos/internal/testenv"
	"github.com/google/go-cmp/cmp"
)

func TestMarshalCanonical(t *testing.T) {
	base := audit.Event{
		Time:      time.Date(2026, 3, 4, 5, 6, 7, 80, time.FixedZone("CET", 3600)),
		Actor:     "u1",
		Party:     "p1",
		Action:    "access.decide",
		Resource:  "project/p1",
		Stage:     "training",
		Purpose:   "ai-training",
		Decision:  audit.Deny,
		Reason:    "matrix:training/third_party=no",
		RequestID: "r-1",
	}
	with := func(f func(*audit.Event)) audit.Event { e := base; f(&e); return e }
	tests := []struct {
		name string
		ev   audit.Event
		want string
	}{
		{"AllMembersSortedUTCNanoseconds", base,
			`{"action":"access.decide","actor":"u1","decision":"deny","party":"p1","purpose":"ai-training","reason":"matrix:training/third_party=no","request_id":"r-1","resource":"project/p1","stage":"training","time":"2026-03-04T04:06:07.000000080Z","v":1}`},
		{"EmptyMembersKept", audit.Event{Time: time.Unix(0, 0), Actor: "system", Action: "project.create"},
			`{"action":"project.create","actor":"system","decision":"","party":"","purpose":"","reason":"","request_id":"","resource":"","stage":"","time":"1970-01-01T00:00:00.000000000Z","v":1}`},
		{"ShortEscapes", with(func(e *audit.Event) { e.Reason = "a\"b\\c\b\f\n\r\t" }),
			`"reason":"a\"b\\c\b\f\n\r\t"`},
		{"OtherControlsAsLowercaseHex", with(func(e *audit.Event) { e.Reason = "\x00\x01\x1f\x7f" }),
			`"reason":"\u0000\u0001\u001f` + "\x7f" + `"`},
		{"NoHTMLOrUnicodeEscaping", with(func(e *audit.Event) { e.Reason = "<a>&é\u2028✓" }),
			`"reason":"<a>&é` + "\u2028" + `✓"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.ev.MarshalCanonical()
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Contains(got, []byte(tc.want)) {
				t.Fatalf("got  %s\nwant it to contain %s", got, tc.want)
			}
			// Independent reading: encoding/json must see the same values.
			var m map[string]any
			if err := json.Unmarshal(got, &m); err != nil {
				t.Fatalf("canonical form is not JSON: %v", err)
			}
			if m["reason"] != tc.ev.Reason || m["actor"] != tc.ev.Actor || m["v"] != float64(1) {
				t.Fatalf("encoding/json reads reason %q actor %q v %v", m["reason"], m["actor"], m["v"])
			}
			back, err := audit.DecodeEvent(got)
			if err != nil {
				t.Fatal(err)
			}
			want := tc.ev
			want.Time = want.Time.UTC()
			if diff := cmp.Diff(want, back); diff != "" {
				t.Fatalf("decode(encode(e)) differs (-want +got):\n%s", diff)
			}
		})
	}
}

func TestMarshalCanonicalRefuses(t *testing.T) {
	ok := audittest.Event(1)
	tests := []struct {
		name  string
		edit  func(*audit.Event)
		field string
	}{
		{"ErrEmptyActor", func(e *audit.Event) { e.Actor = "" }, "actor"},
		{"ErrEmptyAction", func(e *audit.Event) { e.Action = "" }, "action"},
		{"ErrUnknownDecision", func(e *audit.Event) { e.Decision = "maybe" }, "decision"},
		{"ErrInvalidUTF8", func(e *audit.Event) { e.Resource = "project/\xff" }, "resource"},
		{"ErrYearOutOfRange", func(e *audit.Event) { e.Time = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC) }, "time"},
		{"ErrTooLarge", func(e *audit.Event) { e.Reason = strings.Repeat("x", audit.MaxLeafSize) }, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := ok
			tc.edit(&e)
			_, err := e.MarshalCanonical()
			ee, isEE := errors.AsType[*audit.EventError](err)
			if !isEE {
				t.Fatalf("err = %v, want *audit.EventError", err)
			}
			if ee.Field != tc.field {
				t.Fatalf("field = %q, want %q", ee.Field, tc.field)
			}
			if strings.Contains(err.Error(), "\xff") || len(err.Error()) > 200 {
				t.Fatalf("error quotes the value: %q", err)
			}
		})
	}
}

func TestDecodeEventRefusesNonCanonical(t *testing.T) {
	e := audittest.Event(3)
	good, err := e.MarshalCanonical()
	if err != nil {
		t.Fatal(err)
	}
	s := string(good)
	tests := []struct {
		name string
		leaf string
	}{
		{"ErrWhitespace", strings.Replace(s, `,"actor"`, `, "actor"`, 1)},
		{"ErrTrailingNewline", s + "\n"},
		{"ErrMembersSwapped", strings.Replace(strings.Replace(s, `"action":"access.decide","actor":"user-3"`, `"actor":"user-3","action":"access.decide"`, 1), "", "", 0)},
		{"ErrMissingMember", strings.Replace(s, `"stage":"training",`, "", 1)},
		{"ErrExtraMember", strings.Replace(s, `"v":1}`, `"v":1,"x":""}`, 1)},
		{"ErrUnknownVersion", strings.Replace(s, `"v":1}`, `"v":2}`, 1)},
		{"ErrNeedlessUnicodeEscape", strings.Replace(s, `"stage":"training"`, `"stage":"tr\u0061ining"`, 1)},
		{"ErrUppercaseHexEscape", strings.Replace(s, `"stage":"training"`, `"stage":"\u001F"`, 1)},
		{"ErrLongFormOfShortEscape", strings.Replace(s, `"stage":"training"`, `"stage":"\u000a"`, 1)},
		{"ErrSolidusEscape", strings.Replace(s, `"resource":"project/p3"`, `"resource":"project\/p3"`, 1)},
		{"ErrRawControl", strings.Replace(s, `"stage":"training"`, "\"stage\":\"a\tb\"", 1)},
		{"ErrInvalidUTF8", strings.Replace(s, `"stage":"training"`, "\"stage\":\"\xc3\"", 1)},
		{"ErrTimeWithoutNanoseconds", strings.Replace(s, ".003003000Z", "Z", 1)},
		{"ErrTimeNotUTC", strings.Replace(s, ".003003000Z", ".003003000+01:00", 1)},
		{"ErrBadDecision", strings.Replace(s, `"decision":"deny"`, `"decision":"DENY"`, 1)},
		{"ErrTruncated", s[:len(s)-5]},
		{"ErrEmpty", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.leaf == s {
				t.Fatal("test case did not change the leaf")
			}
			_, err := audit.DecodeEvent([]byte(tc.leaf))
			if _, ok := errors.AsType[*audit.DecodeError](err); !ok {
				t.Fatalf("DecodeEvent(%q): err = %v, want *audit.DecodeError", tc.leaf, err)
			}
		})
	}
}

// TestCanonicalMatchesPythonJSON checks the canonical form against an
// independent implementation: Python's json.dumps with sorted keys, no
// spaces and raw non-ASCII writes the RFC 8785 form for these members.
func TestCanonicalMatchesPythonJSON(t *testing.T) {
	py := testenv.Tool(t, "python3")
	var events []audit.Event
	for i := range 20 {
		events = append(events, audittest.Event(i))
	}
	weird := audittest.Event(99)
	weird.Reason = "quote\" back\\ nl\n tab\t nul\x00 us\x1f del\x7f é ✓ \u2028 <&> 𝄞"
	weird.Decision = ""
	events = append(events, weird)
	var in bytes.Buffer
	for _, e := range events {
		b, err := e.MarshalCanonical()
		if err != nil {
			t.Fatal(err)
		}
		in.Write(b)
		in.WriteByte('\n')
	}
	script := `import sys, json
for line in sys.stdin.buffer.read().decode("utf-8").split("\n")[:-1]:
    sys.stdout.buffer.write(json.dumps(json.loads(line), sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8") + b"\n")
`
	cmd := exec.Command(py, "-c", script)
	cmd.Stdin = bytes.NewReader(in.Bytes())
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("python3: %v", err)
	}
	if diff := cmp.Diff(in.String(), string(out)); diff != "" {
		t.Fatalf("python re-encoding differs (-ours +python):\n%s", diff)
	}
}

// fuzzSeeds returns canonical events built from the shared framework
// (stage names, check ids and questions as reasons), the closest real
// corpus for audit events.
func fuzzSeeds(tb testing.TB) [][]byte {
	var qc struct {
		Checks []struct {
			ID, Stage, Question string
		}
	}
	raw, err := os.ReadFile(filepath.Join(testenv.Shared(tb), "framework", "quality-checks.json"))
	if err != nil {
		tb.Fatal(err)
	}
	if err := json.Unmarshal(raw, &qc); err != nil {
		tb.Fatal(err)
	}
	var seeds [][]byte
	for i, c := range qc.Checks {
		e := audittest.Event(i)
		e.Stage, e.Reason, e.Action = c.Stage, c.ID+": "+c.Question, "check.evaluate"
		b, err := e.MarshalCanonical()
		if err != nil {
			tb.Fatal(err)
		}
		seeds = append(seeds, b)
	}
	return seeds
}

func FuzzDecodeEvent(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s)
	}
	f.Add([]byte(`{"action":"a","actor":"b","decision":"","party":"\u0000\n","purpose":"","reason":"","request_id":"","resource":"","stage":"","time":"0001-01-01T00:00:00.000000000Z","v":1}`))
	f.Fuzz(func(t *testing.T, leaf []byte) {
		e, err := audit.DecodeEvent(leaf)
		if err != nil {
			if _, ok := errors.AsType[*audit.DecodeError](err); !ok {
				t.Fatalf("error is not a *DecodeError: %v", err)
			}
			return
		}
		again, err := e.MarshalCanonical()
		if err != nil {
			t.Fatalf("decoded event does not encode: %v", err)
		}
		if !bytes.Equal(again, leaf) {
			t.Fatalf("decode → encode changed the leaf:\n in  %q\n out %q", leaf, again)
		}
		e2, err := audit.DecodeEvent(again)
		if err != nil || !e2.Time.Equal(e.Time) || e2.Reason != e.Reason {
			t.Fatalf("decode → encode → decode differs: %v", err)
		}
	})
}
