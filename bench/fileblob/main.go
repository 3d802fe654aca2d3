// Command fileblob-bench measures the encrypted blob store (fileblob) on
// this machine against plain cp of the same files and prints a Markdown
// report: putting and getting the DICOM corpus (replicated under several
// subjects so nothing dedupes), and one large file put and read back in a
// child process whose peak RSS is reported.
//
//	go run ./bench/fileblob > docs/benchmarks-fileblob.md
package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/ethos-imaging/ethos"
	"github.com/ethos-imaging/ethos/fileblob"
)

func main() {
	mode := flag.String("mode", "report", "report, or (internal) put-large|get-large DIR FILE")
	corpus := flag.String("corpus", "../shared/testdata/dicom", "DICOM corpus directory")
	work := flag.String("work", filepath.Join(os.TempDir(), "ethos-bench-fileblob"), "scratch directory")
	copies := flag.Int("copies", 8, "copies of the corpus, one subject each")
	bigMB := flag.Int("big-mb", 512, "size of the large file in MiB")
	rounds := flag.Int("rounds", 5, "rounds per measurement (median and best kept)")
	flag.Parse()
	log.SetFlags(0)
	switch *mode {
	case "put-large", "get-large":
		if err := large(*mode, flag.Arg(0), flag.Arg(1)); err != nil {
			log.Fatal(err)
		}
		return
	}
	if err := report(*corpus, *work, *copies, *bigMB, *rounds); err != nil {
		log.Fatal(err)
	}
}

var master = func() *fileblob.MasterKey {
	// The benchmark's stores live in a scratch directory and are thrown
	// away; the master key is fixed per run so child processes share it.
	if v := os.Getenv("BENCH_MASTER_KEY"); v != "" {
		m, err := fileblob.ParseMasterKey(v)
		if err != nil {
			log.Fatal(err)
		}
		return m
	}
	m := fileblob.GenerateMasterKey()
	os.Setenv("BENCH_MASTER_KEY", m.Encode())
	return m
}()

func openStore(dir string) (*fileblob.Store, error) {
	ks := fileblob.NewFileKeyStore(filepath.Join(dir, "keys.json"))
	if err := ks.Open(); err != nil {
		return nil, err
	}
	s := fileblob.NewStore(filepath.Join(dir, "blobs"), ks, master)
	return s, s.Init()
}

func subject(i int) ethos.SubjectKey {
	k, err := ethos.DeriveSubjectKey(bytes.Repeat([]byte("b"), 32), ethos.PatientIdentifier{Issuer: "bench", Value: fmt.Sprint(i)})
	if err != nil {
		log.Fatal(err)
	}
	return k
}

type sample struct{ times, cpu []time.Duration }

// addCPU records a round's wall time and CPU time (user + system).
func (s *sample) addCPU(wall, cpu time.Duration) {
	s.add(wall)
	s.cpu = append(s.cpu, cpu)
}

// cpuTime is the user + system time of this process and its waited-for
// children (cp, sync) so far.
func cpuTime() time.Duration {
	var self, kids syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &self)
	syscall.Getrusage(syscall.RUSAGE_CHILDREN, &kids)
	tv := func(t syscall.Timeval) time.Duration { return time.Duration(t.Nano()) }
	return tv(self.Utime) + tv(self.Stime) + tv(kids.Utime) + tv(kids.Stime)
}

func (s *sample) add(d time.Duration) { s.times = append(s.times, d) }
func (s *sample) median() time.Duration {
	t := slices.Clone(s.times)
	slices.Sort(t)
	return t[len(t)/2]
}
func (s *sample) best() time.Duration { return slices.Min(s.times) }

func mbps(bytes int64, d time.Duration) float64 { return float64(bytes) / (1 << 20) / d.Seconds() }

func run(name string, args ...string) error {
	cmd := exec.Command(name, args...)
	cmd.Stderr = os.Stderr
	return cmd.Run()
}

func report(corpus, work string, copies, bigMB, rounds int) error {
	ctx := context.Background()
	os.RemoveAll(work)
	if err := os.MkdirAll(work, 0o700); err != nil {
		return err
	}
	defer os.RemoveAll(work)

	// The input: the corpus's DICOM files, copies times (one subject per
	// copy), laid out as a directory tree for cp.
	type file struct {
		path string
		data []byte
	}
	var files []file
	err := filepath.WalkDir(corpus, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() || !strings.HasSuffix(p, ".dcm") {
			return err
		}
		b, err := os.ReadFile(p)
		files = append(files, file{p, b})
		return err
	})
	if err != nil {
		return err
	}
	src := filepath.Join(work, "src")
	var total int64
	for c := range copies {
		for i, f := range files {
			dst := filepath.Join(src, fmt.Sprint(c), fmt.Sprintf("%03d.dcm", i))
			os.MkdirAll(filepath.Dir(dst), 0o755)
			if err := os.WriteFile(dst, f.data, 0o644); err != nil {
				return err
			}
			total += int64(len(f.data))
		}
	}
	n := copies * len(files)
	run("sync")
	// putFile puts copy c of corpus file i, read from src, with put.
	putFile := func(put func(context.Context, ethos.SubjectKey, io.Reader) (ethos.BlobRef, error), c, i int) (ethos.BlobRef, error) {
		in, err := os.Open(filepath.Join(src, fmt.Sprint(c), fmt.Sprintf("%03d.dcm", i)))
		if err != nil {
			return ethos.BlobRef{}, err
		}
		defer in.Close()
		return put(ctx, subject(c), in)
	}

	var cp, cpSync, put, parPut, get, getDiscard, deferred, deferredBuf sample
	for r := range rounds {
		dst := filepath.Join(work, fmt.Sprint("cp", r))
		t0, c0 := time.Now(), cpuTime()
		if err := run("cp", "-r", src, dst); err != nil {
			return err
		}
		cp.addCPU(time.Since(t0), cpuTime()-c0)
		os.RemoveAll(dst)
		run("sync")

		t0, c0 = time.Now(), cpuTime()
		if err := run("cp", "-r", src, dst); err != nil {
			return err
		}
		if err := run("sync", "-f", dst); err != nil {
			return err
		}
		cpSync.addCPU(time.Since(t0), cpuTime()-c0)
		os.RemoveAll(dst)
		run("sync")

		sdir := filepath.Join(work, fmt.Sprint("store", r))
		os.MkdirAll(sdir, 0o700)
		s, err := openStore(sdir)
		if err != nil {
			return err
		}
		refs := make([]ethos.BlobRef, 0, n)
		t0, c0 = time.Now(), cpuTime()
		for c := range copies {
			for i := range files {
				ref, err := putFile(s.Put, c, i)
				if err != nil {
					return err
				}
				refs = append(refs, ref)
			}
		}
		put.addCPU(time.Since(t0), cpuTime()-c0)
		run("sync")

		// Group commit: every blob with PutDeferred, then one Flush
		// (syncfs), through the default direct I/O and through the page
		// cache (BufferedIO).
		for _, buffered := range []bool{false, true} {
			ddir := filepath.Join(work, fmt.Sprint("dstore", r, buffered))
			os.MkdirAll(ddir, 0o700)
			ds, err := openStore(ddir)
			if err != nil {
				return err
			}
			ds.BufferedIO = buffered
			t0, c0 = time.Now(), cpuTime()
			for c := range copies {
				for i := range files {
					if _, err := putFile(ds.PutDeferred, c, i); err != nil {
						return err
					}
				}
			}
			if err := ds.Flush(ctx); err != nil {
				return err
			}
			if buffered {
				deferredBuf.addCPU(time.Since(t0), cpuTime()-c0)
			} else {
				deferred.addCPU(time.Since(t0), cpuTime()-c0)
			}
			os.RemoveAll(ddir)
			run("sync")
		}

		// The same puts from 8 goroutines (an ingest pipeline's shape):
		// the fsyncs of concurrent puts overlap.
		pdir := filepath.Join(work, fmt.Sprint("pstore", r))
		os.MkdirAll(pdir, 0o700)
		ps, err := openStore(pdir)
		if err != nil {
			return err
		}
		jobs := make(chan [2]int)
		errs := make(chan error, 8)
		t0, c0 = time.Now(), cpuTime()
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				for j := range jobs {
					if _, err := putFile(ps.Put, j[0], j[1]); err != nil {
						select {
						case errs <- err:
						default:
						}
					}
				}
			})
		}
		for c := range copies {
			for i := range files {
				jobs <- [2]int{c, i}
			}
		}
		close(jobs)
		wg.Wait()
		parPut.addCPU(time.Since(t0), cpuTime()-c0)
		select {
		case err := <-errs:
			return err
		default:
		}
		os.RemoveAll(pdir)
		run("sync")

		out := filepath.Join(work, fmt.Sprint("get", r))
		os.MkdirAll(out, 0o755)
		t0, c0 = time.Now(), cpuTime()
		for i, ref := range refs {
			rc, err := s.Open(ctx, ref)
			if err != nil {
				return err
			}
			w, err := os.Create(filepath.Join(out, fmt.Sprintf("%04d.dcm", i)))
			if err != nil {
				return err
			}
			_, err = io.Copy(w, rc)
			rc.Close()
			if cerr := w.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return err
			}
		}
		get.addCPU(time.Since(t0), cpuTime()-c0)
		// Verify one round's output byte for byte against the input.
		if r == 0 {
			for i := range refs {
				want, _ := os.ReadFile(filepath.Join(src, fmt.Sprint(i/len(files)), fmt.Sprintf("%03d.dcm", i%len(files))))
				got, _ := os.ReadFile(filepath.Join(out, fmt.Sprintf("%04d.dcm", i)))
				if !bytes.Equal(want, got) {
					return fmt.Errorf("file %d read back differs", i)
				}
			}
		}
		os.RemoveAll(out)
		t0, c0 = time.Now(), cpuTime()
		for _, ref := range refs {
			rc, err := s.Open(ctx, ref)
			if err != nil {
				return err
			}
			_, err = io.Copy(io.Discard, rc)
			rc.Close()
			if err != nil {
				return err
			}
		}
		getDiscard.addCPU(time.Since(t0), cpuTime()-c0)
		os.RemoveAll(sdir)
		run("sync")
	}

	// One large file, in child processes so that peak RSS is theirs alone.
	big := filepath.Join(work, "large.bin")
	if err := writeRandom(big, int64(bigMB)<<20); err != nil {
		return err
	}
	run("sync")
	self, err := os.Executable()
	if err != nil {
		return err
	}
	// Peak RSS comes from GNU time (%M, KiB): the rusage a Go parent sees
	// for a child can include the parent's own pages at fork time.
	timed := func(args ...string) (time.Duration, int64, error) {
		cmd := exec.Command("/usr/bin/time", append([]string{"-f", "%M"}, args...)...)
		var errb bytes.Buffer
		cmd.Stderr = &errb
		t0 := time.Now()
		if err := cmd.Run(); err != nil {
			return 0, 0, fmt.Errorf("%v: %v\n%s", args, err, errb.String())
		}
		d := time.Since(t0)
		lines := strings.Split(strings.TrimSpace(errb.String()), "\n")
		kb, err := strconv.ParseInt(lines[len(lines)-1], 10, 64)
		if err != nil {
			return 0, 0, fmt.Errorf("peak RSS of %v: %q", args, errb.String())
		}
		return d, kb, nil
	}
	child := func(args ...string) (time.Duration, int64, error) {
		return timed(append([]string{self}, args...)...)
	}
	var bigCp, bigPut, bigGet sample
	var cpRSS, putRSS, getRSS int64
	for r := range 3 {
		dst := filepath.Join(work, "large.cp")
		t0 := time.Now()
		_, rss, err := timed("cp", big, dst)
		if err != nil {
			return err
		}
		if err := run("sync", "-f", dst); err != nil {
			return err
		}
		bigCp.add(time.Since(t0))
		cpRSS = max(cpRSS, rss)
		os.Remove(dst)
		sdir := filepath.Join(work, fmt.Sprint("bigstore", r))
		os.MkdirAll(sdir, 0o700)
		d, rss, err := child("-mode", "put-large", sdir, big)
		if err != nil {
			return err
		}
		bigPut.add(d)
		putRSS = max(putRSS, rss)
		d, rss, err = child("-mode", "get-large", sdir, big)
		if err != nil {
			return err
		}
		bigGet.add(d)
		getRSS = max(getRSS, rss)
		os.RemoveAll(sdir)
		run("sync")
	}

	w := os.Stdout
	fmt.Fprintf(w, "# Benchmarks: fileblob (encrypted image store)\n\n")
	fmt.Fprintf(w, "Measured by `go run ./bench/fileblob` on %s/%s, %d CPUs, %s, %s.\n",
		runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), runtime.Version(), time.Now().UTC().Format("2006-01-02 15:04 UTC"))
	fmt.Fprintf(w, "Load average at the start: %s.\n", loadavg())
	fmt.Fprintf(w, "The machine is shared with other work, so every operation runs %d rounds, interleaved with the others;\n", rounds)
	fmt.Fprintf(w, "throughput and ratios use each operation's best round (the least disturbed), the median is shown beside it.\n\n")
	fmt.Fprintf(w, "## DICOM corpus: %d files, %.1f MiB (%d copies of the %d corpus files, one subject per copy)\n\n", n, float64(total)/(1<<20), copies, len(files))
	fmt.Fprintf(w, "| operation | best | MiB/s | files/s | median | throughput vs `cp -r` | least CPU (user+sys) |\n|---|---|---|---|---|---|---|\n")
	row := func(name string, s *sample, ref *sample) {
		fmt.Fprintf(w, "| %s | %.3f s | %.0f | %.0f | %.3f s | %.2f× | %.3f s |\n", name, s.best().Seconds(), mbps(total, s.best()), float64(n)/s.best().Seconds(), s.median().Seconds(), ref.best().Seconds()/s.best().Seconds(), slices.Min(s.cpu).Seconds())
	}
	row("`cp -r` (page cache, no fsync)", &cp, &cp)
	row("`cp -r` + `sync -f` (durable)", &cpSync, &cp)
	row("fileblob Put (encrypt, fsync file + dir per blob)", &put, &cp)
	row("fileblob Put, 8 goroutines", &parPut, &cp)
	row("fileblob PutDeferred each + one Flush (direct I/O, the default)", &deferred, &cp)
	row("fileblob PutDeferred each + one Flush (BufferedIO: page cache)", &deferredBuf, &cp)
	row("fileblob Open + copy to files (decrypt, verify)", &get, &cp)
	row("fileblob Open to io.Discard (decrypt, verify)", &getDiscard, &cp)
	fmt.Fprintf(w, "\nAgainst the durable copy (`cp -r` + `sync -f`): Put %.2f× its throughput, Put from 8 goroutines %.2f×.\n\n",
		cpSync.best().Seconds()/put.best().Seconds(), cpSync.best().Seconds()/parPut.best().Seconds())
	fmt.Fprintf(w, "## One %d MiB file (random bytes)\n\n", bigMB)
	fmt.Fprintf(w, "| operation | best | MiB/s | median | peak RSS |\n|---|---|---|---|---|\n")
	bigRow := func(name string, s *sample, rss int64) {
		fmt.Fprintf(w, "| %s | %.2f s | %.0f | %.2f s | %.1f MiB |\n", name, s.best().Seconds(), mbps(int64(bigMB)<<20, s.best()), s.median().Seconds(), float64(rss)/1024)
	}
	bigRow("`cp` + `sync -f`", &bigCp, cpRSS)
	bigRow("fileblob Put (child process)", &bigPut, putRSS)
	bigRow("fileblob Open to io.Discard (child process)", &bigGet, getRSS)
	return nil
}

func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

func writeRandom(path string, size int64) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	buf := make([]byte, 1<<20)
	for size > 0 {
		rand.Read(buf)
		k := min(int64(len(buf)), size)
		if _, err := f.Write(buf[:k]); err != nil {
			f.Close()
			return err
		}
		size -= k
	}
	return f.Close()
}

// large puts FILE into the store under DIR (put-large), or reads back the
// blob that put-large stored and checks its size (get-large).
func large(mode, dir, path string) error {
	ctx := context.Background()
	s, err := openStore(dir)
	if err != nil {
		return err
	}
	refFile := filepath.Join(dir, "ref")
	if mode == "put-large" {
		in, err := os.Open(path)
		if err != nil {
			return err
		}
		defer in.Close()
		ref, err := s.Put(ctx, subject(0), in)
		if err != nil {
			return err
		}
		return os.WriteFile(refFile, fmt.Appendf(nil, "%s %d", ref.Digest, ref.Size), 0o600)
	}
	b, err := os.ReadFile(refFile)
	if err != nil {
		return err
	}
	var ref ethos.BlobRef
	if _, err := fmt.Sscanf(string(b), "%s %d", &ref.Digest, &ref.Size); err != nil {
		return err
	}
	ref.Subject = subject(0)
	rc, err := s.Open(ctx, ref)
	if err != nil {
		return err
	}
	defer rc.Close()
	n, err := io.Copy(io.Discard, rc)
	if err != nil {
		return err
	}
	if n != ref.Size {
		return fmt.Errorf("read %d bytes, want %d", n, ref.Size)
	}
	return nil
}
