package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"

	"github.com/ethos-imaging/ethos"
	"github.com/ethos-imaging/ethos/evalstat"
)

const evalUsage = `eval --in predictions.csv[.gz] --label COL --score COL --group COL [--group COL …]
       [--intersect] [--threshold 0.5] [--prevalence P] [--patient COL] [--bootstrap N] [--seed N]
       [--bootstrap-metrics auroc[,sensitivity,…]] [--bootstrap-calibration]
       [--criteria FILE] [--format json|csv|html] [--out FILE] [--fairlearn-compat] [--min-group-size 30]

Evaluates a binary classifier's scores (probabilities in [0, 1]) against 0/1
labels, overall and per group, and judges acceptance criteria. Exit status 1
when a criterion fails.`

// stringList is a repeatable string flag.
type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

// evalOptions are the parsed flags of ethos eval.
type evalOptions struct {
	in, label, score, patient string
	groups                    stringList
	cfg                       evalstat.Config
	criteria, format, out     string
	bootMetrics               string
}

func parseEvalFlags(env *Env, args []string) (*evalOptions, error) {
	fs := newFlagSet(env, "eval", evalUsage)
	o := &evalOptions{cfg: evalstat.DefaultConfig()}
	fs.StringVar(&o.in, "in", "", "predictions `file` (CSV with a header, optionally gzip); - for standard input")
	fs.StringVar(&o.label, "label", "", "`column` with the 0/1 outcome")
	fs.StringVar(&o.score, "score", "", "`column` with the predicted probability in [0, 1]")
	fs.Var(&o.groups, "group", "sensitive attribute `column` (repeatable, at most 4)")
	fs.BoolVar(&o.cfg.Intersect, "intersect", false, "also evaluate every observed combination of the group columns")
	fs.Float64Var(&o.cfg.Threshold, "threshold", 0.5, "operating threshold: predicted positive when score ≥ threshold")
	fs.Float64Var(&o.cfg.Prevalence, "prevalence", 0, "declared target prevalence for transported PPV/NPV (0: none)")
	fs.StringVar(&o.patient, "patient", "", "patient id `column`: bootstrap resamples patients instead of rows")
	fs.IntVar(&o.cfg.Bootstrap, "bootstrap", 0, "number of bootstrap resamples (0: analytic intervals only)")
	fs.Uint64Var(&o.cfg.Seed, "seed", 1, "bootstrap seed")
	fs.IntVar(&o.cfg.Workers, "workers", 0, "bootstrap goroutines (0: all cores); results do not depend on it")
	fs.BoolVar(&o.cfg.BootstrapCalibration, "bootstrap-calibration", false, "also refit calibration intercept and slope in every resample (slow)")
	fs.StringVar(&o.bootMetrics, "bootstrap-metrics", "", "comma-separated `metrics` to resample (default: all); the others keep analytic intervals")
	fs.StringVar(&o.criteria, "criteria", "", "acceptance criteria `file` (JSON list)")
	fs.StringVar(&o.format, "format", "json", "output format: json, csv or html")
	fs.StringVar(&o.out, "out", "", "output `file` (written atomically; default standard output)")
	fs.BoolVar(&o.cfg.ZeroDivision, "fairlearn-compat", false, "report rates with a zero denominator as 0 (scikit-learn/fairlearn zero_division=0)")
	fs.IntVar(&o.cfg.MinGroupSize, "min-group-size", 30, "groups with fewer rows are flagged too small to judge")
	fs.IntVar(&o.cfg.MinClassCount, "min-class-count", 5, "groups with fewer positives or negatives are flagged too small to judge")
	if err := parseFlags(fs, args); err != nil {
		return nil, err
	}
	switch {
	case fs.NArg() > 0:
		return nil, usagef("eval takes no arguments, got %q", fs.Arg(0))
	case o.in == "":
		return nil, usagef("eval: --in is required")
	case o.label == "" || o.score == "":
		return nil, usagef("eval: --label and --score are required")
	case len(o.groups) > evalstat.MaxAttributes:
		return nil, usagef("eval: at most %d --group columns", evalstat.MaxAttributes)
	case math.IsNaN(o.cfg.Threshold) || o.cfg.Threshold < 0 || o.cfg.Threshold > 1:
		return nil, usagef("eval: --threshold must be in [0, 1]")
	case math.IsNaN(o.cfg.Prevalence) || o.cfg.Prevalence < 0 || o.cfg.Prevalence >= 1:
		return nil, usagef("eval: --prevalence must be in (0, 1), or 0 for none")
	case o.cfg.Bootstrap < 0 || o.cfg.Bootstrap > 100000:
		return nil, usagef("eval: --bootstrap must be between 0 and 100000")
	case o.cfg.MinGroupSize < 0 || o.cfg.MinClassCount < 0:
		return nil, usagef("eval: --min-group-size and --min-class-count must not be negative")
	}
	switch o.format {
	case "json", "csv", "html":
	default:
		return nil, usagef("eval: --format must be json, csv or html")
	}
	if o.bootMetrics != "" {
		if o.cfg.Bootstrap == 0 {
			return nil, usagef("eval: --bootstrap-metrics needs --bootstrap N")
		}
		named := map[string]bool{}
		for m := range strings.SplitSeq(o.bootMetrics, ",") {
			m = strings.TrimSpace(m)
			switch {
			case evalstat.MetricIndex(m) < 0:
				return nil, usagef("eval: --bootstrap-metrics: %q is not a metric (see docs/metrics.md)", m)
			case named[m]:
				return nil, usagef("eval: --bootstrap-metrics: %q given twice", m)
			}
			named[m] = true
			o.cfg.BootstrapMetrics = append(o.cfg.BootstrapMetrics, m)
		}
	}
	seen := map[string]bool{}
	for _, g := range o.groups {
		if seen[g] {
			return nil, usagef("eval: --group %q given twice", g)
		}
		seen[g] = true
	}
	return o, nil
}

func runEval(ctx context.Context, env *Env, args []string) error {
	o, err := parseEvalFlags(env, args)
	if err != nil {
		return err
	}
	// The evaluation holds a few large pointer-free columns that live to
	// the end; collecting more often keeps the peak memory near their size
	// at little cost (such columns are not scanned).
	gcPercent := debug.SetGCPercent(25)
	defer debug.SetGCPercent(gcPercent)
	var crit []evalstat.Criterion
	if o.criteria != "" {
		f, err := os.Open(o.criteria)
		if err != nil {
			return ethos.Errorf(ethos.EINVALID, "criteria: %v", openError(err))
		}
		crit, err = evalstat.ReadCriteria(f)
		f.Close()
		if err != nil {
			return ethos.Errorf(ethos.EINVALID, "%s: %v", filepath.Base(o.criteria), err)
		}
	}
	rep, err := evaluateFile(ctx, env, o)
	if err != nil {
		return err
	}
	if crit != nil {
		rep.Judge(crit)
	}
	// The large columns are garbage by now: writing the report (a few MB of
	// small allocations) does not need the tight setting, which would
	// collect every megabyte or so: back to the process's own setting.
	debug.SetGCPercent(gcPercent)
	if err := writeEvalOutput(env, o, rep); err != nil {
		return err
	}
	failed := 0
	for _, j := range rep.Criteria {
		if j.Outcome == evalstat.Fail {
			failed++
		}
	}
	if failed > 0 {
		return ethos.Errorf(ethos.EINVALID, "%d of %d acceptance criteria failed", failed, len(rep.Criteria))
	}
	return nil
}

// readPredictions reads the predictions table: evalstat.ReadCSV (a
// variable so that a test can see the collector's setting during the read).
var readPredictions = evalstat.ReadCSV

// readGCLimit is the memory limit under which a plain predictions file of
// size bytes is read with the collector off — twice its size, at least
// 64 MiB — and whether to turn it off at all: only when the limit is at
// most half the machine's memory (physicalMemory; 1 GiB where unknown).
// Above that, the collector stays on: with it off, the heap of a file
// larger than free memory (or whose columns outgrow the estimate) would
// grow to a limit the machine cannot give before anything is collected,
// and the process would be killed for memory instead of reading the
// file with the collector's usual pace.
func readGCLimit(size int64) (limit int64, off bool) {
	limit = max(64<<20, 2*size)
	budget := int64(1 << 30)
	if mem, ok := physicalMemory(); ok {
		budget = mem / 2
	}
	return limit, limit <= budget
}

// physicalMemory is the machine's memory in bytes, from MemTotal in
// /proc/meminfo; false where that cannot be read.
var physicalMemory = func() (int64, bool) {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0, false
	}
	return memTotal(string(b))
}

// memTotal reads "MemTotal: N kB" from the text of /proc/meminfo.
func memTotal(meminfo string) (int64, bool) {
	for line := range strings.Lines(meminfo) {
		rest, ok := strings.CutPrefix(line, "MemTotal:")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) != 2 || f[1] != "kB" {
			return 0, false
		}
		n, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil || n <= 0 || n > math.MaxInt64>>10 {
			return 0, false
		}
		return n << 10, true
	}
	return 0, false
}

// evaluateFile reads the predictions and computes the report.
func evaluateFile(ctx context.Context, env *Env, o *evalOptions) (*evalstat.Report, error) {
	var r io.Reader = env.Stdin
	name := "standard input"
	afterRead := func() {}
	if o.in != "-" {
		f, err := os.Open(o.in)
		if err != nil {
			return nil, ethos.Errorf(ethos.EINVALID, "open predictions: %v", openError(err))
		}
		defer f.Close()
		r, name = f, filepath.Base(o.in)
		if fi, err := f.Stat(); err == nil && fi.Mode().IsRegular() && !isGzip(f) {
			// While a plain file of known size is read, the heap only
			// grows: the columns (sized once from the first chunk) and
			// reused chunk buffers. Collecting at every 25 % of growth
			// cost about half of the collector's cycles in a run; instead
			// the collector waits for a memory limit of twice the file's
			// size (at least 64 MiB), which the columns of a table with
			// the shortest rows (about 12 bytes of columns for 13 bytes
			// of text) stay under — unless that limit is more than the
			// machine can give (readGCLimit). (A gzip file's text may be
			// many times its size: it keeps the usual setting.)
			if limit, off := readGCLimit(fi.Size()); off {
				gc := debug.SetGCPercent(-1)
				was := debug.SetMemoryLimit(limit)
				afterRead = func() {
					debug.SetMemoryLimit(was)
					debug.SetGCPercent(gc)
				}
			}
		}
	}
	t, err := readPredictions(ctxReader{ctx, r}, evalstat.CSVSpec{Label: o.label, Score: o.score, Groups: o.groups, Cluster: o.patient})
	afterRead()
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("eval interrupted while reading %s; no report written: %w", name, ctx.Err())
		}
		if ce, ok := errors.AsType[*evalstat.CSVError](err); ok {
			return nil, ethos.Errorf(ethos.EINVALID, "%s: %v", name, ce)
		}
		return nil, ethos.Errorf(ethos.EINVALID, "%s: %v", name, err)
	}
	if o.cfg.Bootstrap > 0 {
		// A long run says what it is doing, and how to stop it.
		fmt.Fprintf(env.Stderr, "ethos: eval: %d rows read; computing the report with %d bootstrap resamples (interrupt to stop)\n", t.Len(), o.cfg.Bootstrap)
	}
	rep, err := evalstat.EvaluateContext(ctx, t, o.cfg)
	if se, ok := errors.AsType[*evalstat.StoppedError](err); ok {
		return nil, stoppedEval(se)
	}
	if err != nil {
		return nil, ethos.Errorf(ethos.EINVALID, "%s: %v", name, err)
	}
	return rep, nil
}

// openError is the error of opening a file, naming the file by its base
// name only: a directory on the way may be named after a patient.
func openError(err error) error {
	if pe, ok := errors.AsType[*fs.PathError](err); ok {
		return fmt.Errorf("%s %s: %w", pe.Op, filepath.Base(pe.Path), pe.Err)
	}
	return err
}

// writeError is the error of writing path, named by its base name only,
// like openError: when the file system's error names a path (the
// temporary file's or path itself), its base name replaces it too.
func writeError(path string, err error) error {
	if le, ok := errors.AsType[*os.LinkError](err); ok {
		err = fmt.Errorf("%s %s: %w", le.Op, filepath.Base(le.Old), le.Err)
	} else {
		err = openError(err)
	}
	return fmt.Errorf("write %s: %w", filepath.Base(path), err)
}

// isGzip reports whether f starts with the gzip magic bytes (read
// without moving f's offset).
func isGzip(f *os.File) bool {
	var magic [2]byte
	n, _ := f.ReadAt(magic[:], 0)
	return n == 2 && magic[0] == 0x1f && magic[1] == 0x8b
}

// stoppedEval is the error of an evaluation stopped by a signal (or another
// cancellation) before its report was complete: nothing is written.
func stoppedEval(se *evalstat.StoppedError) error {
	why := "interrupted"
	if errors.Is(se.Err, context.DeadlineExceeded) {
		why = "timed out"
	}
	if se.Total > 0 {
		return fmt.Errorf("eval %s after %d of %d bootstrap resamples; no report written: %w", why, se.Done, se.Total, se.Err)
	}
	return fmt.Errorf("eval %s; no report written: %w", why, se.Err)
}

// ctxReader stops reading when the context is cancelled.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

// Stat forwards to the underlying file, so the reader can size its columns
// from the file's length.
func (c ctxReader) Stat() (os.FileInfo, error) {
	if f, ok := c.r.(*os.File); ok {
		return f.Stat()
	}
	return nil, errors.New("not a file")
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// writeEvalOutput renders the report and writes it to --out atomically, or
// to standard output.
func writeEvalOutput(env *Env, o *evalOptions, rep *evalstat.Report) error {
	var render func(io.Writer) error
	switch o.format {
	case "json":
		render = func(w io.Writer) error {
			b, err := json.Marshal(rep)
			if err != nil {
				return err
			}
			_, err = w.Write(indentJSON(b))
			return err
		}
	case "csv":
		render = func(w io.Writer) error { return writeEvalCSV(w, rep) }
	case "html":
		render = func(w io.Writer) error { return writeEvalHTML(w, rep, o) }
	}
	if o.out == "" {
		return render(env.Stdout)
	}
	return writeFileAtomic(o.out, render)
}

// indentJSON returns the valid compact JSON b indented by two spaces per
// level, with a final line break: byte for byte what json.Encoder with
// SetIndent("", "  ") writes, without the general indenter's validating
// scanner (a third of the time of writing a large report went there). Empty
// objects and arrays stay {} and []; string contents are copied as they
// are, escapes included. Runs of bytes that need no change (numbers,
// literals, string contents) are copied whole.
func indentJSON(b []byte) []byte {
	out := make([]byte, 0, len(b)+len(b)/2)
	depth := 0
	newline := func() {
		out = append(out, '\n')
		for range depth {
			out = append(out, ' ', ' ')
		}
	}
	for i := 0; i < len(b); i++ {
		c := b[i]
		if !jsonStructural[c] {
			j := i + 1
			for j < len(b) && !jsonStructural[b[j]] {
				j++
			}
			out = append(out, b[i:j]...)
			i = j - 1
			continue
		}
		switch c {
		case '"':
			j := i + 1
			for j < len(b) && b[j] != '"' {
				if b[j] == '\\' {
					j++
				}
				j++
			}
			out = append(out, b[i:min(j+1, len(b))]...)
			i = j
		case '{', '[':
			out = append(out, c)
			if i+1 < len(b) && (b[i+1] == '}' || b[i+1] == ']') {
				out = append(out, b[i+1])
				i++
				continue
			}
			depth++
			newline()
		case '}', ']':
			depth--
			newline()
			out = append(out, c)
		case ',':
			out = append(out, c)
			newline()
		case ':':
			out = append(out, ':', ' ')
		}
	}
	return append(out, '\n')
}

// jsonStructural marks the bytes indentJSON acts on: a string's opening
// quote and the punctuation outside strings.
var jsonStructural = [256]bool{'"': true, '{': true, '[': true, '}': true, ']': true, ',': true, ':': true}

// writeFileAtomic writes path through a temporary file in the same
// directory, synced and renamed, so a reader never sees a partial file.
func writeFileAtomic(path string, render func(io.Writer) error) (err error) {
	if special(path) {
		return writeSpecial(path, render)
	}
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return writeError(path, err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if err = render(f); err != nil {
		return writeError(path, err)
	}
	if err = f.Sync(); err != nil {
		return writeError(path, err)
	}
	if err = f.Close(); err != nil {
		return writeError(path, err)
	}
	if err = os.Chmod(f.Name(), 0o644); err != nil {
		return writeError(path, err)
	}
	if err = os.Rename(f.Name(), path); err != nil {
		return writeError(path, err)
	}
	return nil
}

// special reports whether path exists and is not a regular file: a device
// such as /dev/null or /dev/stdout, or a named pipe. Those are written in
// place; renaming a temporary file over them would replace the device.
func special(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && !fi.Mode().IsRegular()
}

// writeSpecial writes to a device or pipe in place.
func writeSpecial(path string, render func(io.Writer) error) error {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return writeError(path, err)
	}
	if err := render(f); err != nil {
		f.Close()
		return writeError(path, err)
	}
	return f.Close()
}
