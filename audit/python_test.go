package audit_test

import (
	"bytes"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ethos-imaging/ethos/audit"
	"github.com/ethos-imaging/ethos/audit/audittest"
	"github.com/ethos-imaging/ethos/internal/testenv"
)

// TestExportVerifiedByIndependentPython runs testdata/verify_export.py, a
// verifier written from docs/audit.md and RFC 6962 in Python (hashlib,
// json, the cryptography package's Ed25519), on exports of this package:
// it must accept a good one with the same root and name the same first bad
// index on tampered ones.
func TestExportVerifiedByIndependentPython(t *testing.T) {
	py := testenv.Tool(t, "python3")
	if err := exec.Command(py, "-c", "import cryptography").Run(); err != nil {
		testenv.Missing(t, "python3-cryptography is not installed (Debian package python3-cryptography)")
	}
	script := filepath.Join("testdata", "verify_export.py")
	k := audittest.TestKey(t)
	s := audit.NewMemStorage()
	l := audittest.Fill(t, s, 77)
	weird := audittest.Event(77)
	weird.Reason = "quote\" nl\n nul\x00 é ✓ \u2028 <&>"
	if _, err := l.Append(t.Context(), weird); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Checkpoint(t.Context()); err != nil {
		t.Fatal(err)
	}
	good := exportOf(t, s)
	rep, err := audit.VerifyExport(bytes.NewReader(good), k.Verifier, audit.VerifyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	run := func(export []byte) string {
		cmd := exec.Command(py, script, k.Verifier)
		cmd.Stdin = bytes.NewReader(export)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, _ := cmd.Output()
		if stderr.Len() > 0 {
			t.Logf("verify_export.py stderr:\n%s", stderr.Bytes())
		}
		return strings.TrimSpace(string(out))
	}
	if got, want := run(good), "ok 78 "+rep.Root.String(); got != want {
		t.Fatalf("python verifier on a good export: %q, want %q", got, want)
	}
	lines := strings.SplitAfter(string(good), "\n")
	tamper := func(f func([]string)) []byte {
		ls := append([]string(nil), lines...)
		f(ls)
		return []byte(strings.Join(ls, ""))
	}
	for _, tc := range []struct {
		name   string
		export []byte
		want   string
	}{
		{"ModifiedEvent", tamper(func(ls []string) { ls[31] = strings.Replace(ls[31], `"stage":"training"`, `"stage":"deployment"`, 1) }), "bad 30 "},
		{"DeletedEvent", tamper(func(ls []string) { ls[12] = "" }), "bad 11 "},
		{"ForgedCheckpoint", tamper(func(ls []string) { ls[0] = strings.Replace(ls[0], `\n78\n`, `\n77\n`, 1) }), "bad -1 "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := run(tc.export); !strings.HasPrefix(got, tc.want) {
				t.Fatalf("python verifier: %q, want prefix %q", got, tc.want)
			}
		})
	}
}
