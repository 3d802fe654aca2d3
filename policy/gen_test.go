package policy_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ethos-imaging/ethos/internal/testenv"
	"github.com/ethos-imaging/ethos/policy"
)

// TestGeneratedMatrixIsFresh regenerates matrix_gen.go from the shared
// framework file and compares: a changed framework must be followed by
// go generate.
func TestGeneratedMatrixIsFresh(t *testing.T) {
	out := filepath.Join(t.TempDir(), "matrix_gen.go")
	in := filepath.Join(testenv.Shared(t), "framework", "access-matrix.json")
	cmd := exec.Command("go", "run", "gen.go", "-in", in, "-out", out)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("gen.go: %v\n%s", err, b)
	}
	want, _ := os.ReadFile(out)
	got, err := os.ReadFile("matrix_gen.go")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Error("policy/matrix_gen.go is stale: run go generate ./policy")
	}
}

func FuzzLoad(f *testing.F) {
	f.Add(`{"cells":[]}`)
	f.Add(`{"cells":[{"stage":"evaluation","party_type":"private","level":"limited","note":"IRB"}]}`)
	f.Add(`{"cells":[{"stage":"collection","party_type":"public","level":"yes"}]}`)
	if b, err := os.ReadFile(filepath.Join("..", "..", "shared", "framework", "access-matrix.json")); err == nil {
		f.Add(string(b))
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, wider := range []bool{false, true} {
			p, err := policy.Load(strings.NewReader(s), policy.LoadOptions{AllowWider: wider})
			if err != nil {
				continue
			}
			cells := p.Cells()
			if len(cells) != 15 {
				t.Fatalf("%d cells", len(cells))
			}
			for _, c := range cells {
				if c.Level.Rank() < 0 {
					t.Fatalf("cell %+v has an unknown level", c)
				}
				if c.Widened && !wider {
					t.Fatalf("cell %+v widened without AllowWider", c)
				}
			}
		}
	})
}
