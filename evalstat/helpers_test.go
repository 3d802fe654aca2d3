package evalstat_test

import (
	"bytes"
	"fmt"
	"math"
	"math/rand/v2"
	"os/exec"
	"testing"

	"github.com/ethos-imaging/ethos/evalstat"
	"github.com/ethos-imaging/ethos/internal/testenv"
)

// pythonWithSklearn returns a python3 that can import scikit-learn and
// scipy: the one on PATH, else Debian's /usr/bin/python3.
func pythonWithSklearn(t *testing.T) string {
	t.Helper()
	py := testenv.Tool(t, "python3")
	for _, p := range []string{py, "/usr/bin/python3"} {
		if exec.Command(p, "-c", "import sklearn, scipy, numpy").Run() == nil {
			return p
		}
	}
	testenv.Missing(t, "python3 with scikit-learn, scipy and numpy (Debian python3-sklearn python3-scipy)")
	return ""
}

// row is one synthetic prediction.
type row struct {
	label bool
	score float64
	group string
}

// synthRows returns n seeded rows in groups a, b, c (c is small), with
// scores rounded to 2 decimals so that ties are frequent.
func synthRows(seed uint64, n int) []row {
	rng := rand.New(rand.NewPCG(seed, 7))
	rows := make([]row, n)
	for i := range rows {
		g := "a"
		switch u := rng.Float64(); {
		case u < 0.05:
			g = "c"
		case u < 0.5:
			g = "b"
		}
		x := rng.NormFloat64()
		y := rng.Float64() < 1/(1+math.Exp(-(x-0.5)))
		noise := map[string]float64{"a": 0.5, "b": 1.2, "c": 0.8}[g]
		s := 1 / (1 + math.Exp(-(x + noise*rng.NormFloat64() - 0.3)))
		s = math.Round(s*100) / 100
		rows[i] = row{y, s, g}
	}
	return rows
}

func csvOf(rows []row) []byte {
	var b bytes.Buffer
	b.WriteString("label,score,grp\n")
	for _, r := range rows {
		l := 0
		if r.label {
			l = 1
		}
		fmt.Fprintf(&b, "%d,%v,%s\n", l, r.score, r.group)
	}
	return b.Bytes()
}

// MustTable builds a table grouped by "grp".
func MustTable(tb testing.TB, rows []row) *evalstat.Table {
	tb.Helper()
	t, err := evalstat.NewTable([]string{"grp"}, false)
	if err != nil {
		tb.Fatal(err)
	}
	for _, r := range rows {
		if err := t.Add(r.label, r.score, []string{r.group}, ""); err != nil {
			tb.Fatal(err)
		}
	}
	return t
}

func group(rep *evalstat.Report, name string) *evalstat.GroupResult {
	if name == "overall" {
		return rep.Overall
	}
	for _, gp := range rep.Groupings {
		for _, g := range gp.Groups {
			if g.Name == name {
				return g
			}
		}
	}
	return nil
}

func formatFloat(x float64) string { return fmt.Sprint(x) }
