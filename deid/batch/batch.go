// Package batch runs a de-identifier over a directory tree: it walks the
// input, processes files on several workers, writes every output
// atomically, keeps a journal so that a re-run finishes an interrupted
// run, and builds the processing record (quality check QC-PRO-1) as a
// JSON report.
//
// It knows nothing of DICOM: a Processor turns one input file into one
// output file or a quarantine decision.
package batch

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Status is the outcome of one file.
type Status string

// The statuses of a file in the report.
const (
	Written     Status = "written"
	Quarantined Status = "quarantined"
	Failed      Status = "failed"
	Skipped     Status = "skipped"
)

// Result is what a Processor reports for one file.
type Result struct {
	// Quarantine, when true, withholds the output; Reasons say why.
	Quarantine bool
	Reasons    []string
	// Skip, when true, means the file is not an instance to process
	// (a DICOMDIR, for example); Reasons say why.
	Skip bool
	// Name is the output path relative to the output directory (slash
	// separated). It must not be derived from identifying data.
	Name string
	// Counts counts the actions applied, by tag then action name.
	Counts map[string]map[string]int
	// InputSHA256 and OutputSHA256, when the processor computes them
	// while it works, spare the runner a second read of each file.
	InputSHA256, OutputSHA256 string
	// Group holds coarse, non-identifying demographic attributes of the
	// instance (sex, age band) so that quarantine and failure rates can be
	// compared between groups (quality check QC-PRO-2).
	Group map[string]string
}

// Processor de-identifies one file. It reads in and writes the output to
// out, a fresh temporary file; out is discarded unless the result says
// the file is written.
type Processor interface {
	Process(ctx context.Context, in *os.File, out *os.File) (Result, error)
}

// ProcessorTo is implemented by a Processor that can make its output
// itself once it knows the output's name. The runner then calls
// ProcessTo instead of Process: create makes the output file in its
// final directory (where ext4 allocates its inode near the directory's,
// as cp's copies are, instead of every output's in the output root),
// and no file is made for an input that is quarantined or skipped.
// create may be called at most once, with the name the Result gives.
type ProcessorTo interface {
	ProcessTo(ctx context.Context, in *os.File, create func(name string) (*os.File, error)) (Result, error)
}

// Options configure a run.
type Options struct {
	In, Out    string // input and output directories
	Quarantine string // where quarantined originals are copied ("" = not copied)
	Workers    int    // 0 = number of CPUs
	Processor  Processor
	Logger     *slog.Logger
	// Progress, when set, is called from one goroutine about every
	// ProgressEvery with the running totals.
	Progress      func(Progress)
	ProgressEvery time.Duration
	// RunKey identifies everything that decides the output (software
	// version, configuration hash, key fingerprint). Journal entries
	// written under another RunKey are not reused.
	RunKey string
	// NoHash leaves the SHA-256 digests out: for runs that keep no
	// processing record (the digests are the record's) and benchmarks.
	// A resumed output is then trusted on its size alone.
	NoHash bool
	// NoRecord says no processing record will be written from the
	// result: the per-file action counts are then neither journalled nor
	// totalled (Result.Counts stays empty). A later run that keeps a
	// record processes such journal entries again.
	NoRecord bool
	// Sync says when outputs reach the disk. Outputs are always renamed
	// into place complete (readers never see a partial file); a run cut by
	// a power failure is finished by a re-run, which checks each
	// journalled output's size and SHA-256 before trusting it.
	Sync SyncMode
	Now  func() time.Time
}

// SyncMode says when outputs are flushed to stable storage.
type SyncMode int

// The sync modes.
const (
	SyncEnd  SyncMode = iota // one syncfs of the output file system before Run returns
	SyncEach                 // fsync of every output before its rename
	SyncNone                 // left to the operating system (benchmarks)
)

// ParseSyncMode reads "end", "each" or "none".
func ParseSyncMode(s string) (SyncMode, error) {
	switch s {
	case "end", "":
		return SyncEnd, nil
	case "each":
		return SyncEach, nil
	case "none":
		return SyncNone, nil
	}
	return 0, fmt.Errorf("batch: sync mode %q: want end, each or none", s)
}

// Progress is a snapshot of a running batch.
type Progress struct {
	Files, TotalFiles int
	Bytes, TotalBytes int64
	Elapsed           time.Duration
	Written           int
	Quarantined       int
	Failed            int
}

// FileRecord is one file's entry in the report.
type FileRecord struct {
	Input       string                    `json:"input"`
	Output      string                    `json:"output,omitempty"`
	Status      Status                    `json:"status"`
	Reasons     []string                  `json:"reasons,omitempty"`
	InputSize   int64                     `json:"inputSize"`
	InputSHA256 string                    `json:"inputSha256,omitempty"`
	OutputSize  int64                     `json:"outputSize,omitempty"`
	OutSHA256   string                    `json:"outputSha256,omitempty"`
	Resumed     bool                      `json:"resumed,omitempty"`
	Group       map[string]string         `json:"group,omitempty"`
	Counts      map[string]map[string]int `json:"-"`
	mtime       int64
}

// Summary totals a run.
type Summary struct {
	Files       int     `json:"files"`
	Written     int     `json:"written"`
	Quarantined int     `json:"quarantined"`
	Failed      int     `json:"failed"`
	Skipped     int     `json:"skipped"`
	Resumed     int     `json:"resumed"`
	InputBytes  int64   `json:"inputBytes"`
	OutputBytes int64   `json:"outputBytes"`
	Seconds     float64 `json:"seconds"`
}

// Outcome is the result of a run: one record per input file in walk
// order, the action counts summed over the files processed in this run
// and in the journal, and totals.
type Outcome struct {
	Files   []FileRecord
	Counts  map[string]map[string]int
	Summary Summary
	Started time.Time
}

// ErrSameTree is returned when input, output and quarantine directories
// overlap.
var ErrSameTree = errors.New("batch: input, output and quarantine directories must not contain one another")

// journalName is the journal kept in the output directory.
const journalName = ".ethos-deid-journal.jsonl"

// tmpPrefix starts every temporary file; leftovers of an interrupted run
// are removed on the next run.
const tmpPrefix = ".ethos-tmp-"

// Run processes every regular file below opts.In.
func Run(ctx context.Context, opts Options) (*Outcome, error) {
	if opts.Processor == nil {
		return nil, errors.New("batch: no processor")
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Workers <= 0 {
		opts.Workers = runtime.NumCPU()
	}
	if opts.ProgressEvery <= 0 {
		opts.ProgressEvery = 500 * time.Millisecond
	}
	in, err := filepath.Abs(opts.In)
	if err != nil {
		return nil, err
	}
	// An input given as a symbolic link to a directory is walked (the
	// walk itself follows no link below it), as find -H and cp -r in/ do.
	if r, err := filepath.EvalSymlinks(in); err == nil {
		in = r
	}
	out, err := filepath.Abs(opts.Out)
	if err != nil {
		return nil, err
	}
	dirs := []string{in, out}
	if opts.Quarantine != "" {
		q, err := filepath.Abs(opts.Quarantine)
		if err != nil {
			return nil, err
		}
		opts.Quarantine = q
		dirs = append(dirs, q)
	}
	for i := range dirs {
		for j := range dirs {
			if i != j && within(dirs[i], dirs[j]) {
				return nil, ErrSameTree
			}
		}
	}
	if st, err := os.Stat(in); err != nil {
		return nil, fmt.Errorf("batch: input: %w", err)
	} else if !st.IsDir() {
		return nil, fmt.Errorf("batch: input %s is not a directory", opts.In)
	}
	if _, err := os.Stat(out); errors.Is(err, fs.ErrNotExist) {
		if err := os.MkdirAll(out, 0o755); err != nil {
			return nil, fmt.Errorf("batch: output: %w", err)
		}
		// Studies are unrelated trees: spread them over the file
		// system (see spreadSubdirs). Only on a directory made here.
		spreadSubdirs(out)
	} else if err := os.MkdirAll(out, 0o755); err != nil {
		return nil, fmt.Errorf("batch: output: %w", err)
	}
	removeTemps(out)
	if opts.Quarantine != "" {
		if err := os.MkdirAll(opts.Quarantine, 0o700); err != nil {
			return nil, fmt.Errorf("batch: quarantine: %w", err)
		}
		removeTemps(opts.Quarantine)
	}

	// A run that keeps no record journals without the action counts,
	// under its own key: a later run that keeps one does not reuse those
	// entries, while it may reuse a record-keeping run's.
	jkey, reuse := opts.RunKey, []string(nil)
	if opts.NoRecord {
		jkey, reuse = opts.RunKey+"|no-record", []string{opts.RunKey}
	}
	jr, err := openJournal(filepath.Join(out, journalName), jkey, reuse...)
	if err != nil {
		return nil, err
	}
	defer jr.close()

	res := &Outcome{Started: opts.Now(), Counts: map[string]map[string]int{}}
	var filesMu sync.Mutex
	// setRecord puts a file's record at its place in walk order.
	setRecord := func(idx int, rec FileRecord) {
		filesMu.Lock()
		defer filesMu.Unlock()
		if idx >= len(res.Files) {
			res.Files = append(res.Files, make([]FileRecord, idx+1-len(res.Files))...)
		}
		res.Files[idx] = rec
	}
	var countsMu sync.Mutex
	// addCounts folds one file's action counts into the run's totals and
	// drops them from the record, so memory does not grow with them.
	addCounts := func(rec *FileRecord) {
		countsMu.Lock()
		defer countsMu.Unlock()
		for tag, m := range rec.Counts {
			dst := res.Counts[tag]
			if dst == nil {
				dst = map[string]int{}
				res.Counts[tag] = dst
			}
			for a, n := range m {
				dst[a] += n
			}
		}
		rec.Counts = nil
	}
	start := time.Now()
	var done, doneBytes, nWritten, nQuar, nFail, nFiles, total atomic.Int64
	count := func(s Status) {
		switch s {
		case Written:
			nWritten.Add(1)
		case Quarantined:
			nQuar.Add(1)
		case Failed:
			nFail.Add(1)
		}
	}

	// The walk runs while the workers process what it has found (it used
	// to finish first: tens of milliseconds of one core before any file
	// was processed). Until it ends, the progress totals grow.
	type job struct {
		idx  int
		rel  string
		size int64
		mod  int64
		// skip, when set, is why the entry is not read: it is not a
		// regular file (see notRegular).
		skip string
	}
	found := make(chan job, 256)
	var walkErr error
	walked := make(chan struct{})
	go func() {
		defer close(walked)
		defer close(found)
		n := 0
		walkErr = walkFiles(in, "", func(rel string, d fs.DirEntry) error {
			info, err := d.Info()
			if err != nil {
				return err
			}
			j := job{idx: n, rel: rel, size: info.Size(), mod: info.ModTime().UnixNano(), skip: notRegular(d.Type())}
			if j.skip != "" {
				j.size = 0 // nothing of it is read
			}
			n++
			nFiles.Add(1)
			total.Add(j.size)
			select {
			case found <- j:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		})
	}()

	// Output names claimed in this run: two inputs holding the same
	// instance (same SOP Instance UID, perhaps in two transfer syntaxes)
	// would write the same file; the second is skipped.
	cl := &claims{names: map[string]string{}}

	stopProgress := make(chan struct{})
	var progWG sync.WaitGroup
	snapshot := func() Progress {
		return Progress{Files: int(done.Load()), TotalFiles: int(nFiles.Load()), Bytes: doneBytes.Load(), TotalBytes: total.Load(),
			Elapsed: time.Since(start), Written: int(nWritten.Load()), Quarantined: int(nQuar.Load()), Failed: int(nFail.Load())}
	}
	if opts.Progress != nil {
		progWG.Go(func() {
			t := time.NewTicker(opts.ProgressEvery)
			defer t.Stop()
			for {
				select {
				case <-stopProgress:
					return
				case <-t.C:
					opts.Progress(snapshot())
				}
			}
		})
	}

	ch := make(chan job)
	var wg sync.WaitGroup
	for range opts.Workers {
		wg.Go(func() {
			w := &worker{opts: &opts, in: in, out: out, h1: sha256.New(), h2: sha256.New(), claims: cl}
			for j := range ch {
				var rec FileRecord
				if j.skip != "" {
					rec = FileRecord{Input: j.rel, Status: Skipped, Reasons: []string{j.skip}}
				} else {
					rec = w.one(ctx, j.rel)
				}
				rec.InputSize, rec.mtime = j.size, j.mod
				if opts.NoRecord {
					// Nobody reads the counts: neither journalled nor totalled.
					rec.Counts = nil
				}
				if ctx.Err() == nil || rec.Status != Failed {
					jr.append(rec)
				}
				addCounts(&rec)
				setRecord(j.idx, rec)
				if rec.Status == Failed {
					opts.Logger.Warn("file failed", "file", j.idx+1, "inputSha256", short(rec.InputSHA256), "reason", strings.Join(rec.Reasons, "; "))
				}
				done.Add(1)
				doneBytes.Add(j.size)
				count(rec.Status)
			}
		})
	}
feed:
	for j := range found {
		// Resume: a file whose journal entry matches is not processed
		// again, provided its output (or quarantine copy) is still there
		// and no input processed in this run has taken its output name.
		if rec, ok := jr.lookup(j.rel, j.size, j.mod); ok && outputPresent(out, opts.Quarantine, rec) && (opts.NoHash || hashed(rec) && outputIntact(out, rec)) {
			claimed := true
			if rec.Status == Written {
				_, claimed = cl.claim(rec.Output, rec.Input)
			}
			if claimed {
				rec.Resumed = true
				addCounts(&rec)
				setRecord(j.idx, rec)
				done.Add(1)
				doneBytes.Add(j.size)
				count(rec.Status)
				continue
			}
		}
		select {
		case ch <- j:
		case <-ctx.Done():
			break feed
		}
	}
	close(ch)
	wg.Wait()
	<-walked
	close(stopProgress)
	progWG.Wait()
	if walkErr != nil && ctx.Err() == nil {
		return nil, fmt.Errorf("batch: walk input: %w", walkError(walkErr))
	}
	if n := int(nFiles.Load()); len(res.Files) < n {
		res.Files = append(res.Files, make([]FileRecord, n-len(res.Files))...)
	}
	if opts.Progress != nil {
		opts.Progress(snapshot())
	}
	// SyncNone leaves writeback to the operating system: no syncfs at all
	// (it used to be called and its error ignored, which cost a full
	// flush of the output file system in every "none" run).
	if opts.Sync != SyncNone {
		if err := syncDir(out); err != nil {
			return nil, fmt.Errorf("batch: sync output: %w", err)
		}
	}
	if opts.Quarantine != "" && opts.Sync != SyncNone {
		if err := syncDir(opts.Quarantine); err != nil {
			return nil, fmt.Errorf("batch: sync quarantine: %w", err)
		}
	}
	if err := jr.close(); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("batch: interrupted after %d of %d files (re-run to finish): %w", done.Load(), nFiles.Load(), err)
	}

	for i := range res.Files {
		f := &res.Files[i]
		res.Summary.Files++
		res.Summary.InputBytes += f.InputSize
		switch f.Status {
		case Written:
			res.Summary.Written++
			res.Summary.OutputBytes += f.OutputSize
		case Quarantined:
			res.Summary.Quarantined++
		case Failed:
			res.Summary.Failed++
		case Skipped:
			res.Summary.Skipped++
		}
		if f.Resumed {
			res.Summary.Resumed++
		}
	}
	res.Summary.Seconds = time.Since(start).Seconds()
	return res, nil
}

func short(s string) string {
	if len(s) > 12 {
		return s[:12]
	}
	return s
}

// within reports whether path a is b or inside b.
func within(a, b string) bool {
	rel, err := filepath.Rel(b, a)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator))
}

func outputPresent(out, quar string, rec FileRecord) bool {
	switch rec.Status {
	case Written:
		st, err := os.Stat(filepath.Join(out, filepath.FromSlash(rec.Output)))
		return err == nil && st.Size() == rec.OutputSize
	case Quarantined:
		if quar == "" {
			return true
		}
		_, err := os.Stat(filepath.Join(quar, filepath.FromSlash(rec.Input)))
		return err == nil
	case Skipped:
		return true
	}
	return false // failed files are retried
}

// hashed reports whether a journal entry carries the digests a record
// needs: an entry from a run without digests is processed again when this
// run keeps them.
func hashed(rec FileRecord) bool {
	return rec.InputSHA256 != "" && (rec.Status != Written || rec.OutSHA256 != "")
}

// outputIntact re-hashes a written output of an earlier run against its
// journalled SHA-256.
func outputIntact(out string, rec FileRecord) bool {
	if rec.Status != Written || rec.OutSHA256 == "" {
		return true
	}
	f, err := os.Open(filepath.Join(out, filepath.FromSlash(rec.Output)))
	if err != nil {
		return false
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return false
	}
	return hex.EncodeToString(h.Sum(nil)) == rec.OutSHA256
}

func removeTemps(dir string) {
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasPrefix(d.Name(), tmpPrefix) {
			os.Remove(p)
		}
		return nil
	})
}

// claims records which input owns each output name.
type claims struct {
	mu    sync.Mutex
	names map[string]string
	dirs  map[string]bool // output directories known to exist
}

// madeDir reports whether dir was created (or found) in this run.
func (c *claims) madeDir(dir string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.dirs[dir]
}

func (c *claims) dirMade(dir string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.dirs == nil {
		c.dirs = map[string]bool{}
	}
	c.dirs[dir] = true
}

// release gives up rel's claim on name (its output was not written).
func (c *claims) release(name, rel string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.names[name] == rel {
		delete(c.names, name)
	}
}

// claim reports whether rel may write name, and the other owner if not.
func (c *claims) claim(name, rel string) (string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if other, ok := c.names[name]; ok && other != rel {
		return other, false
	}
	c.names[name] = rel
	return "", true
}

// worker holds per-goroutine state.
type worker struct {
	opts    *Options
	in, out string
	h1, h2  hash.Hash
	buf     []byte
	claims  *claims
}

func (w *worker) one(ctx context.Context, rel string) (rec FileRecord) {
	rec.Input = rel
	fail := func(err error) FileRecord {
		rec.Status = Failed
		rec.Reasons = []string{err.Error()}
		return rec
	}
	src, err := openInput(joinClean(w.in, rel))
	if err != nil {
		return fail(fmt.Errorf("open input: %w", errors.Unwrap(err)))
	}
	defer src.Close()

	var (
		out     *outFile
		outName string // the name out was created for (ProcessorTo)
		claimed bool
		keep    bool
	)
	defer func() {
		if out != nil && !keep {
			out.discard()
		}
		if claimed && !keep {
			w.claims.release(outName, rel)
		}
	}()
	var r Result
	if pt, ok := w.opts.Processor.(ProcessorTo); ok {
		create := func(name string) (*os.File, error) {
			if out != nil {
				return nil, errors.New("batch: output created twice")
			}
			dst, err := w.claimName(name, rel)
			if err != nil {
				return nil, err
			}
			outName, claimed = name, true
			dir := parentDir(dst)
			if err := w.makeDir(dir); err != nil {
				return nil, fmt.Errorf("create output directory: %w", err)
			}
			o, err := createOutput(dir)
			if err != nil {
				return nil, fmt.Errorf("create output: %w", err)
			}
			out = o
			return o.File, nil
		}
		r, err = pt.ProcessTo(ctx, src, create)
	} else {
		o, cerr := createOutput(w.out)
		if cerr != nil {
			return fail(fmt.Errorf("create output: %w", cerr))
		}
		out = o
		r, err = w.opts.Processor.Process(ctx, src, o.File)
	}
	rec.Counts, rec.Group = r.Counts, r.Group
	rec.InputSHA256 = r.InputSHA256
	if !w.opts.NoHash && rec.InputSHA256 == "" {
		// The processor did not hash the input: read it (again) here.
		if _, serr := src.Seek(0, io.SeekStart); serr != nil {
			return fail(serr)
		}
		sum, herr := w.hashFile(w.h1, src)
		if herr != nil {
			return fail(fmt.Errorf("read input: %w", herr))
		}
		rec.InputSHA256 = sum
	}
	if dup, ok := errors.AsType[*duplicateError](err); ok {
		rec.Status = Skipped
		rec.Reasons = []string{dup.Error()}
		return rec
	}
	if err != nil {
		return fail(err)
	}
	switch {
	case r.Skip:
		rec.Status, rec.Reasons = Skipped, r.Reasons
		return rec
	case r.Quarantine:
		rec.Status, rec.Reasons = Quarantined, r.Reasons
		if w.opts.Quarantine != "" {
			if err := copyAtomic(filepath.Join(w.opts.Quarantine, filepath.FromSlash(rel)), src); err != nil {
				return fail(fmt.Errorf("quarantine copy: %w", err))
			}
		}
		return rec
	}
	if claimed {
		if out == nil || r.Name != outName {
			return fail(errors.New("processor gave an output name other than the one it created"))
		}
	} else {
		if _, err := w.claimName(r.Name, rel); err != nil {
			if dup, ok := errors.AsType[*duplicateError](err); ok {
				rec.Status = Skipped
				rec.Reasons = []string{dup.Error()}
				return rec
			}
			return fail(err)
		}
		outName, claimed = r.Name, true
	}
	tmp := out.File
	osum := r.OutputSHA256
	if !w.opts.NoHash && osum == "" {
		if _, err := tmp.Seek(0, io.SeekStart); err != nil {
			return fail(err)
		}
		if osum, err = w.hashFile(w.h2, tmp); err != nil {
			return fail(fmt.Errorf("read back output: %w", err))
		}
	}
	st, err := tmp.Stat()
	if err != nil {
		return fail(err)
	}
	// Outputs are ordinary files, readable like the copies cp would
	// make, whatever the umask (a named temporary is created 0600).
	if st.Mode().Perm() != 0o644 {
		if err := tmp.Chmod(0o644); err != nil {
			return fail(fmt.Errorf("chmod output: %w", err))
		}
	}
	if w.opts.Sync == SyncEach {
		if err := tmp.Sync(); err != nil {
			return fail(fmt.Errorf("sync output: %w", err))
		}
	}
	dst := joinClean(w.out, r.Name)
	if err := w.makeDir(parentDir(dst)); err != nil {
		return fail(fmt.Errorf("create output directory: %w", err))
	}
	if err := out.publish(dst); err != nil {
		// publish closed the file; a named temporary is left to remove.
		if out.name != "" {
			os.Remove(out.name)
		}
		out = nil
		return fail(err)
	}
	keep = true
	rec.Status, rec.Output, rec.OutSHA256, rec.OutputSize = Written, r.Name, osum, st.Size()
	rec.Reasons = r.Reasons
	return rec
}

// duplicateError says that another input of the run already wrote the
// output name (the same SOP Instance UID, perhaps in another transfer
// syntax).
type duplicateError struct{ other string }

func (e *duplicateError) Error() string {
	return "duplicate instance: " + e.other + " has the same SOP Instance UID and was written"
}

// claimName checks a processor's output name and claims it for rel; it
// returns the output path.
func (w *worker) claimName(name, rel string) (string, error) {
	if name == "" || strings.Contains(name, "..") || filepath.IsAbs(name) || strings.HasPrefix(name, "/") {
		return "", errors.New("processor gave an invalid output name")
	}
	if other, ok := w.claims.claim(name, rel); !ok {
		return "", &duplicateError{other: other}
	}
	return joinClean(w.out, name), nil
}

// joinClean is filepath.Join(dir, filepath.FromSlash(rel)) for a clean
// dir; when rel is clean too (slash separated, no empty, "." or ".."
// element: the walk's and the engine's names are), it is a
// concatenation, without Join's cleaning (a few per file, which showed
// in profiles).
func joinClean(dir, rel string) string {
	if filepath.Separator != '/' || !cleanRel(rel) || dir == "" {
		return filepath.Join(dir, filepath.FromSlash(rel))
	}
	if dir[len(dir)-1] == '/' {
		return dir + rel
	}
	return dir + "/" + rel
}

// cleanRel reports whether rel is a relative slash-separated path that
// path.Clean leaves as it is (and is not ".").
func cleanRel(rel string) bool {
	if rel == "" || rel[0] == '/' {
		return false
	}
	start := 0
	for i := 0; i <= len(rel); i++ {
		if i < len(rel) && rel[i] != '/' {
			continue
		}
		if el := rel[start:i]; el == "" || el == "." || el == ".." {
			return false
		}
		start = i + 1
	}
	return true
}

// walkFiles calls visit for every regular file below root/rel (rel is
// "" at the top), in the order of filepath.WalkDir (names sorted,
// directories entered where they sort, symbolic links not followed),
// with its slash-separated path relative to root. It stops at the first
// error, from reading a directory or from visit. The paths are joined
// by concatenation: WalkDir's Join cleaned each one.
func walkFiles(root, rel string, visit func(rel string, d fs.DirEntry) error) error {
	dir := root
	if rel != "" {
		dir = joinClean(root, rel)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, d := range entries {
		r := d.Name()
		if rel != "" {
			r = rel + "/" + r
		}
		switch {
		case d.IsDir():
			err = walkFiles(root, r, visit)
		default:
			// Regular files, and entries that are not (symbolic links,
			// which are not followed below the input, pipes, sockets,
			// devices): the visitor records the latter as skipped, so
			// that every entry of the tree is accounted for.
			err = visit(r, d)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// notRegular says why an entry of the input tree of type t is skipped
// without being opened, or "" for a regular file. Links are not followed
// below the input: a link may lead out of the tree (or round in a loop),
// and a pipe would block the worker that opened it.
func notRegular(t fs.FileMode) string {
	switch {
	case t.IsRegular():
		return ""
	case t&fs.ModeSymlink != 0:
		return "symbolic link, not followed (only the input directory itself may be a link)"
	case t&fs.ModeNamedPipe != 0:
		return "named pipe, not a regular file"
	case t&fs.ModeSocket != 0:
		return "socket, not a regular file"
	case t&fs.ModeDevice != 0:
		return "device, not a regular file"
	}
	return "not a regular file"
}

// walkError is err from the walk without the path it names: folder
// names below the input may hold patient names, and the error reaches
// the command's output (as an input's open error does, the cause stays).
func walkError(err error) error {
	if pe, ok := errors.AsType[*fs.PathError](err); ok {
		return fmt.Errorf("%s a file or directory below the input: %w", pe.Op, pe.Err)
	}
	return err
}

// parentDir is filepath.Dir for a path made by joinClean below a clean
// root: the part before the last separator.
func parentDir(p string) string {
	if i := strings.LastIndexByte(p, filepath.Separator); i > 0 {
		return p[:i]
	}
	return filepath.Dir(p)
}

// makeDir makes the output directory dir (below the output root) and
// its missing parents, remembering those made or found in this run so
// that each is made once, without the stat calls of os.MkdirAll.
func (w *worker) makeDir(dir string) error {
	if dir == w.out || w.claims.madeDir(dir) {
		return nil
	}
	if !within(dir, w.out) {
		return fmt.Errorf("%s is outside the output directory", dir)
	}
	if err := w.makeDir(parentDir(dir)); err != nil {
		return err
	}
	err := os.Mkdir(dir, 0o755)
	if errors.Is(err, fs.ErrExist) {
		// Made by another worker, or by an earlier run.
		var st os.FileInfo
		if st, err = os.Stat(dir); err == nil && !st.IsDir() {
			err = fmt.Errorf("%s exists and is not a directory", dir)
		}
	}
	if err != nil {
		return err
	}
	w.claims.dirMade(dir)
	return nil
}

func (w *worker) hashFile(h hash.Hash, f *os.File) (string, error) {
	if w.buf == nil {
		w.buf = make([]byte, 256<<10)
	}
	h.Reset()
	for {
		n, err := f.Read(w.buf)
		h.Write(w.buf[:n])
		if err == io.EOF {
			break
		}
		if err != nil {
			return "", err
		}
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// copyAtomic copies src (from its start) to dst through a temporary file.
func copyAtomic(dst string, src *os.File) error {
	if _, err := src.Seek(0, io.SeekStart); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(dst), tmpPrefix+"*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := io.Copy(tmp, src); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), dst)
}

// SortedTags returns the tags of counts in order.
func SortedTags(counts map[string]map[string]int) []string {
	tags := make([]string, 0, len(counts))
	for t := range counts {
		tags = append(tags, t)
	}
	slices.SortFunc(tags, func(a, b string) int { return cmp.Compare(a, b) })
	return tags
}
