package audit_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ethos-imaging/ethos/audit"
)

// goldenExport returns the committed export and its signed checkpoint.
func goldenExport(tb testing.TB) (export, checkpoint []byte) {
	export, err := os.ReadFile(filepath.Join("testdata", "export.golden.jsonl"))
	if err != nil {
		tb.Fatal(err)
	}
	first, _, _ := bytes.Cut(export, []byte("\n"))
	var head struct{ Checkpoint string }
	if err := json.Unmarshal(first, &head); err != nil {
		tb.Fatal(err)
	}
	return export, []byte(head.Checkpoint)
}

func FuzzParseCheckpointText(f *testing.F) {
	_, cp := goldenExport(f)
	text, _, _ := bytes.Cut(cp, []byte("\n\n"))
	f.Add(append(text, '\n'))
	f.Add([]byte("o\n0\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n"))
	f.Fuzz(func(t *testing.T, text []byte) {
		c, err := audit.ParseCheckpointText(text)
		if err != nil {
			if !errors.Is(err, audit.ErrCheckpoint) {
				t.Fatalf("error does not wrap ErrCheckpoint: %v", err)
			}
			return
		}
		if !bytes.Equal(c.Text(), text) {
			t.Fatalf("parse → format changed the text:\n in  %q\n out %q", text, c.Text())
		}
	})
}

func FuzzVerifyExport(f *testing.F) {
	export, _ := goldenExport(f)
	f.Add(export)
	lines := strings.SplitAfter(string(export), "\n")
	f.Add([]byte(lines[0] + lines[2]))
	f.Add([]byte(lines[0] + strings.Replace(lines[1], `"index":0`, `"index":-1`, 1)))
	// The golden key's verifier; only the golden export verifies with it.
	_, vk := goldenKey(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		rep, err := audit.VerifyExport(bytes.NewReader(data), vk, audit.VerifyOptions{})
		if err == nil && rep.Size != rep.CheckpointSize {
			t.Fatalf("export verified with %d events against a checkpoint of %d", rep.Size, rep.CheckpointSize)
		}
	})
}
