// Command dicom-bench measures the dicom codec on this machine and prints a
// Markdown report: in-process parse throughput over the shared corpus,
// `ethos dump` against dcmtk's dcmdump on the same files, and copying a
// large synthetic file (plain and encapsulated pixel data) with the
// streaming reader and writer against cp, dcmconv and gdcmconv, with the
// peak RSS of every process.
//
//	go run ./bench/dicom -big-mb 1024 > docs/benchmarks-dicom.md
package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/ethos-imaging/ethos/dicom"
	"github.com/ethos-imaging/ethos/dicom/tag"
	"github.com/ethos-imaging/ethos/dicom/uid"
	"github.com/ethos-imaging/ethos/dicom/vr"
)

func main() {
	mode := flag.String("mode", "report", "report, or (internal) copy|parse IN OUT")
	corpus := flag.String("corpus", "../shared/testdata/dicom", "DICOM corpus directory")
	work := flag.String("work", filepath.Join(os.TempDir(), "ethos-bench-dicom"), "scratch directory")
	bigMB := flag.Int("big-mb", 1024, "size of the synthetic large file in MiB")
	rounds := flag.Int("rounds", 5, "runs per external measurement (median kept)")
	flag.Parse()
	log.SetFlags(0)
	switch *mode {
	case "copy":
		if err := streamCopy(flag.Arg(0), flag.Arg(1)); err != nil {
			log.Fatal(err)
		}
		return
	case "parse":
		f, err := dicom.ParseFile(flag.Arg(0))
		if err != nil {
			log.Fatal(err)
		}
		if err := dicom.WriteFile(flag.Arg(1), f, 0o644); err != nil {
			log.Fatal(err)
		}
		return
	}
	if err := report(*corpus, *work, *bigMB, *rounds); err != nil {
		log.Fatal(err)
	}
}

// streamCopy copies in to out element by element, values of 1 MiB or more
// moving file to file without passing through this process's buffers.
func streamCopy(in, out string) error {
	src, err := os.Open(in)
	if err != nil {
		return err
	}
	defer src.Close()
	rd, err := dicom.NewReader(src, dicom.WithBulkThreshold(1<<20))
	if err != nil {
		return err
	}
	defer rd.Close()
	dst, err := os.Create(out)
	if err != nil {
		return err
	}
	defer dst.Close()
	w, err := dicom.NewWriter(dst, &rd.Header)
	if err != nil {
		return err
	}
	for {
		e, err := rd.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		if e.Bulk != nil {
			r, err := rd.BulkReader()
			if err != nil {
				return err
			}
			err = w.WriteBulk(e, r)
		} else {
			err = w.WriteElement(e)
		}
		if err != nil {
			return err
		}
	}
	return w.Close()
}

type corpusFile struct {
	path string
	data []byte
}

func loadCorpus(dir string) ([]corpusFile, int64, error) {
	var files []corpusFile
	var total int64
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".dcm") || strings.Contains(p, "MR_truncated") {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		files = append(files, corpusFile{p, b})
		total += int64(len(b))
		return nil
	})
	return files, total, err
}

// inProcess parses every file repeatedly for at least min and returns MB/s.
func inProcess(files []corpusFile, total int64, min time.Duration, opts ...dicom.Option) (float64, error) {
	start := time.Now()
	var n int64
	for time.Since(start) < min {
		for _, f := range files {
			if _, err := dicom.Parse(bytes.NewReader(f.data), opts...); err != nil {
				return 0, fmt.Errorf("%s: %w", f.path, err)
			}
		}
		n += total
	}
	return float64(n) / 1e6 / time.Since(start).Seconds(), nil
}

type run struct {
	wall   time.Duration
	maxRSS int64 // KiB
}

// measure runs cmd rounds times (stdout discarded) and keeps the median
// wall time and the largest peak RSS. The command runs under
// /usr/bin/time, which reports the RSS of the command itself: a child
// forked straight from this (large) process would inherit its high-water
// mark through vfork.
func measure(rounds int, name string, args ...string) (run, error) {
	var runs []run
	rssFile, err := os.CreateTemp("", "rss")
	if err != nil {
		return run{}, err
	}
	rssFile.Close()
	defer os.Remove(rssFile.Name())
	for range rounds {
		c := exec.Command("/usr/bin/time", append([]string{"-f", "%M", "-o", rssFile.Name(), name}, args...)...)
		c.Stdout = io.Discard
		var stderr bytes.Buffer
		c.Stderr = &stderr
		start := time.Now()
		err := c.Run()
		wall := time.Since(start)
		if err != nil {
			return run{}, fmt.Errorf("%s %s: %v: %s", name, strings.Join(args[:min(len(args), 3)], " "), err, tail(stderr.String()))
		}
		b, err := os.ReadFile(rssFile.Name())
		if err != nil {
			return run{}, err
		}
		var kib int64
		if _, err := fmt.Sscan(strings.TrimSpace(string(b)), &kib); err != nil {
			return run{}, fmt.Errorf("peak RSS of %s: %q", name, b)
		}
		runs = append(runs, run{wall, kib})
	}
	slices.SortFunc(runs, func(a, b run) int { return int(a.wall - b.wall) })
	m := runs[len(runs)/2]
	for _, r := range runs {
		m.maxRSS = max(m.maxRSS, r.maxRSS)
	}
	return m, nil
}

func tail(s string) string {
	if len(s) > 300 {
		return s[len(s)-300:]
	}
	return s
}

// makeBig writes a file with MR_small's data set and pixel data of size
// bytes: native OW, or encapsulated in 1 MiB fragments under JPEG baseline.
func makeBig(template, path string, size int64, encapsulated bool) error {
	f, err := dicom.ParseFile(template)
	if err != nil {
		return err
	}
	f.Dataset.Delete(tag.PixelData)
	if encapsulated {
		f.Syntax, _ = uid.LookupSyntax(uid.JPEGBaseline8Bit)
		if err := f.Meta.SetText(tag.TransferSyntaxUID, vr.UI, uid.JPEGBaseline8Bit); err != nil {
			return err
		}
	}
	out, err := os.Create(path)
	if err != nil {
		return err
	}
	defer out.Close()
	w, err := dicom.NewWriter(out, &f.Header)
	if err != nil {
		return err
	}
	for _, e := range f.Dataset.Elements {
		if err := w.WriteElement(e); err != nil {
			return err
		}
	}
	chunk := make([]byte, 1<<20)
	for i := range chunk {
		chunk[i] = byte(i*7 + i>>9)
	}
	if !encapsulated {
		px := &dicom.Element{Tag: tag.PixelData, VR: vr.OW, Bulk: &dicom.Bulk{Length: size}}
		if err := w.WriteBulk(px, io.LimitReader(repeat{chunk}, size)); err != nil {
			return err
		}
		if err := w.Close(); err != nil {
			return err
		}
		return out.Sync() // no writeback left to compete with the copies
	}
	var frags [][]byte
	frags = append(frags, nil)
	for range size >> 20 {
		frags = append(frags, chunk)
	}
	if err := w.WriteElement(dicom.NewEncapsulated(tag.PixelData, vr.OB, nil, frags[1:]...)); err != nil {
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	return out.Sync()
}

type repeat struct{ b []byte }

func (r repeat) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		n += copy(p[n:], r.b)
	}
	return n, nil
}

func report(corpusDir, work string, bigMB, rounds int) error {
	if err := os.MkdirAll(work, 0o755); err != nil {
		return err
	}
	files, total, err := loadCorpus(corpusDir)
	if err != nil {
		return err
	}
	cpu := "unknown"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(l, "model name") {
				cpu = strings.TrimSpace(strings.SplitN(l, ":", 2)[1])
				break
			}
		}
	}
	fmt.Printf("Measured %s on %s, %d CPUs (%s), %s. Files are in the page cache (warm);\n", time.Now().UTC().Format("2006-01-02 15:04 UTC"), runtime.GOOS+"/"+runtime.GOARCH, runtime.NumCPU(), cpu, runtime.Version())
	fmt.Printf("the machine is shared with other jobs, so expect ±20%% between runs. External commands: median of %d runs, peak RSS the largest seen.\n\n", rounds)

	fmt.Printf("## Parsing the corpus in process\n\n%d files, %.1f MB (MR_truncated.dcm left out), parsed from memory for ≥ 3 s.\n\n", len(files), float64(total)/1e6)
	fmt.Println("| what | MB/s |\n|---|---:|")
	for _, c := range []struct {
		name string
		opts []dicom.Option
	}{{"dicom.Parse (all values loaded)", nil}, {"dicom.Parse with SkipPixelData()", []dicom.Option{dicom.SkipPixelData()}}} {
		mbs, err := inProcess(files, total, 3*time.Second, c.opts...)
		if err != nil {
			return err
		}
		fmt.Printf("| %s | %.0f |\n", c.name, mbs)
	}

	ethos := filepath.Join(work, "ethos")
	if out, err := exec.Command("go", "build", "-o", ethos, "./cmd/ethos").CombinedOutput(); err != nil {
		return fmt.Errorf("build ethos: %v: %s", err, out)
	}
	// Both dumpers get the files dcmdump can read (it rejects no_meta.dcm,
	// whose data set starts after a stray byte).
	var paths, rejected []string
	var dumpBytes int64
	dcmdump, _ := exec.LookPath("dcmdump")
	for _, f := range files {
		if dcmdump != "" && exec.Command(dcmdump, "-q", f.path).Run() != nil {
			rejected = append(rejected, filepath.Base(f.path))
			continue
		}
		paths = append(paths, f.path)
		dumpBytes += int64(len(f.data))
	}
	fmt.Printf("\n## Dumping the corpus: `ethos dump` against dcmtk `dcmdump`\n\nOne process over %d files (%.1f MB; left out because dcmdump fails on them: %s), output to /dev/null.\n\n", len(paths), float64(dumpBytes)/1e6, strings.Join(rejected, ", "))
	fmt.Println("| command | wall | MB/s | peak RSS |\n|---|---:|---:|---:|")
	cmds := [][]string{append([]string{ethos, "dump"}, paths...)}
	if dcmdump != "" {
		cmds = append(cmds, append([]string{dcmdump, "-q"}, paths...))
	}
	for _, c := range cmds {
		r, err := measure(rounds, c[0], c[1:]...)
		if err != nil {
			return err
		}
		fmt.Printf("| `%s %s` | %s | %.0f | %.1f MB |\n", filepath.Base(c[0]), c[1], r.wall.Round(time.Millisecond), float64(dumpBytes)/1e6/r.wall.Seconds(), float64(r.maxRSS)/1024)
	}

	self, err := os.Executable()
	if err != nil {
		return err
	}
	size := int64(bigMB) << 20
	template := filepath.Join(corpusDir, "pydicom", "MR_small.dcm")
	for _, kind := range []string{"native", "encapsulated"} {
		big := filepath.Join(work, "big-"+kind+".dcm")
		if err := makeBig(template, big, size, kind == "encapsulated"); err != nil {
			return err
		}
		fi, _ := os.Stat(big)
		out := filepath.Join(work, "out.dcm")
		fmt.Printf("\n## Copying a %d MiB file (%s pixel data)\n\n", bigMB, kind)
		if kind == "native" {
			fmt.Println("MR_small.dcm's data set with one OW Pixel Data value of the full size.")
		} else {
			fmt.Printf("MR_small.dcm's data set as JPEG baseline with %d fragments of 1 MiB.\n", size>>20)
		}
		fmt.Println("\n| command | wall | MB/s | peak RSS | output identical |\n|---|---:|---:|---:|---|")
		copies := [][]string{
			{"cp", big, out},
			{self, "-mode", "copy", big, out},
			{self, "-mode", "parse", big, out},
		}
		names := []string{"cp (floor)", "ethos streaming copy (Reader → Writer, WriteBulk)", "ethos Parse + Write (all in memory)"}
		if p, err := exec.LookPath("dcmconv"); err == nil {
			copies = append(copies, []string{p, big, out})
			names = append(names, "dcmtk dcmconv")
		}
		if p, err := exec.LookPath("gdcmconv"); err == nil {
			copies = append(copies, []string{p, "-i", big, "-o", out})
			names = append(names, "GDCM gdcmconv")
		}
		for i, c := range copies {
			os.Remove(out)
			r, err := measure(rounds, c[0], c[1:]...)
			if err != nil {
				fmt.Printf("| %s | failed: %v | | | |\n", names[i], err)
				continue
			}
			same, err := sameFile(big, out)
			if err != nil {
				return err
			}
			fmt.Printf("| %s | %s | %.0f | %.1f MB | %v |\n", names[i], r.wall.Round(time.Millisecond), float64(fi.Size())/1e6/r.wall.Seconds(), float64(r.maxRSS)/1024, same)
		}
		os.Remove(out)
		os.Remove(big)
	}
	return nil
}

func sameFile(a, b string) (bool, error) {
	fa, err := os.Open(a)
	if err != nil {
		return false, err
	}
	defer fa.Close()
	fb, err := os.Open(b)
	if err != nil {
		return false, err
	}
	defer fb.Close()
	ba, bb := make([]byte, 1<<20), make([]byte, 1<<20)
	for {
		na, ea := io.ReadFull(fa, ba)
		nb, eb := io.ReadFull(fb, bb)
		if na != nb || !bytes.Equal(ba[:na], bb[:nb]) {
			return false, nil
		}
		if errors.Is(ea, io.EOF) || errors.Is(ea, io.ErrUnexpectedEOF) {
			return errors.Is(eb, io.EOF) || errors.Is(eb, io.ErrUnexpectedEOF), nil
		}
	}
}
