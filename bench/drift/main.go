// Command drift-bench times the drift engine against scipy on the same
// seeded samples (10^6 reference and 10^6 current values) and checks that
// both give the same numbers to 1e-9.
//
//	go run ./bench/drift [-repeat 5] [-out bench/out/drift] [-python /usr/bin/python3]
//
// Each statistic is run -repeat times on each side; the best wall time
// and the best CPU time of the process are kept. The Go side includes
// copying and sorting the samples, as scipy's functions do.
package main

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	"github.com/ethos-imaging/ethos/drift"
)

type timing struct {
	Values []float64
	Wall   float64
	CPU    float64
}

func cpuSeconds() float64 {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return float64(ru.Utime.Sec+ru.Stime.Sec) + float64(ru.Utime.Usec+ru.Stime.Usec)/1e6
}

func best(repeat int, fn func() []float64) timing {
	t := timing{Wall: math.Inf(1), CPU: math.Inf(1)}
	for range repeat {
		w0, c0 := time.Now(), cpuSeconds()
		t.Values = fn()
		t.Wall = math.Min(t.Wall, time.Since(w0).Seconds())
		t.CPU = math.Min(t.CPU, cpuSeconds()-c0)
	}
	return t
}

func writeF64(path string, x []float64) error {
	var b bytes.Buffer
	b.Grow(8 * len(x))
	binary.Write(&b, binary.LittleEndian, x)
	return os.WriteFile(path, b.Bytes(), 0o644)
}

func main() {
	repeat := flag.Int("repeat", 5, "runs per statistic (best is kept)")
	out := flag.String("out", filepath.Join("bench", "out", "drift"), "directory for the samples")
	python := flag.String("python", "/usr/bin/python3", "python3 with scipy (Debian python3-scipy)")
	n := flag.Int("n", 1000000, "values per sample")
	flag.Parse()
	if err := run(*repeat, *out, *python, *n); err != nil {
		fmt.Fprintln(os.Stderr, "drift-bench:", err)
		os.Exit(1)
	}
}

func run(repeat int, dir, python string, n int) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	r := rand.New(rand.NewPCG(2026, 11))
	ref := make([]float64, n)
	cur := make([]float64, n)
	for i := range ref {
		ref[i] = r.NormFloat64()
		cur[i] = 0.002 + 1.01*r.NormFloat64()
	}
	const k = 50
	counts := make([]float64, 2*k)
	for i := range k {
		counts[i] = float64(1000 + r.IntN(20000))
		counts[k+i] = math.Round(counts[i] * (0.9 + 0.2*r.Float64()))
	}
	for name, x := range map[string][]float64{"ref": ref, "cur": cur, "counts": counts} {
		if err := writeF64(filepath.Join(dir, name+".f64"), x); err != nil {
			return err
		}
	}

	goRes := map[string]timing{}
	goRes["ks_1e6"] = best(repeat, func() []float64 {
		res, err := drift.KS(ref, cur)
		must(err)
		return []float64{res.Statistic, res.PValue}
	})
	goRes["ks_exact_1e4"] = best(repeat, func() []float64 {
		res, err := drift.KS(ref[:10000], cur[:10000])
		must(err)
		return []float64{res.Statistic, res.PValue}
	})
	goRes["wasserstein_1e6"] = best(repeat, func() []float64 {
		w, err := drift.Wasserstein(ref, cur)
		must(err)
		return []float64{w}
	})
	goRes["psi_1e6"] = best(repeat, func() []float64 {
		p, err := drift.PSI(ref, cur, 10, 1e-4)
		must(err)
		return []float64{p.PSI}
	})
	refPrepared, err := drift.NewReference(ref, 10, 1e-4)
	if err != nil {
		return err
	}
	goRes["window_1e6"] = best(repeat, func() []float64 {
		c, err := refPrepared.Compare(cur)
		must(err)
		return []float64{c.KS.Statistic, c.KS.PValue, c.Wasserstein, c.PSI.PSI}
	})
	goRes["chi2_2x50"] = best(repeat, func() []float64 {
		c, err := drift.ChiSquare([][]float64{counts[:k], counts[k:]}, false)
		must(err)
		return []float64{c.Statistic, c.PValue}
	})
	goRes["js_50"] = best(repeat, func() []float64 {
		j, err := drift.JensenShannon(counts[:k], counts[k:], 2)
		must(err)
		return []float64{j.Distance}
	})

	cmd := exec.Command(python, filepath.Join("bench", "drift", "scipy_bench.py"), dir, fmt.Sprint(repeat))
	cmd.Stderr = os.Stderr
	raw, err := cmd.Output()
	if err != nil {
		return fmt.Errorf("scipy side: %w", err)
	}
	var pyRes map[string]timing
	if err := json.Unmarshal(raw, &pyRes); err != nil {
		return fmt.Errorf("decode scipy output: %w", err)
	}
	fmt.Printf("n = %d per sample, best of %d runs\n\n", n, repeat)
	fmt.Println("| statistic | Go wall ms | scipy wall ms | wall ratio | Go CPU ms | scipy CPU ms | CPU ratio | values agree (1e-9) |")
	fmt.Println("|---|---:|---:|---:|---:|---:|---:|---|")
	ok := true
	for _, name := range []string{"ks_1e6", "ks_exact_1e4", "wasserstein_1e6", "psi_1e6", "window_1e6", "chi2_2x50", "js_50"} {
		g, p := goRes[name], pyRes[name]
		agree := len(g.Values) == len(p.Values)
		for i := range g.Values {
			if agree && math.Abs(g.Values[i]-p.Values[i]) > 1e-9*math.Max(1, math.Abs(p.Values[i])) {
				agree = false
			}
		}
		ok = ok && agree
		fmt.Printf("| %s | %.3f | %.3f | %.1f× | %.3f | %.3f | %.1f× | %v %v |\n", name,
			g.Wall*1e3, p.Wall*1e3, p.Wall/g.Wall, g.CPU*1e3, p.CPU*1e3, p.CPU/math.Max(g.CPU, 1e-6), agree, fmtVals(g.Values))
	}
	if !ok {
		return fmt.Errorf("values differ from scipy")
	}
	return nil
}

func fmtVals(v []float64) string {
	s := ""
	for i, x := range v {
		if i > 0 {
			s += " "
		}
		s += fmt.Sprintf("%.10g", x)
	}
	return s
}

func must(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "drift-bench:", err)
		os.Exit(1)
	}
}
