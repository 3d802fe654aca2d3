package main

import (
	"bytes"
	"compress/gzip"
	"io"
	"os"
	"path/filepath"
	"runtime/debug"
	"testing"

	"github.com/ethos-imaging/ethos/evalstat"
)

func TestReadGCLimit(t *testing.T) {
	const MiB, GiB = int64(1 << 20), int64(1 << 30)
	cases := []struct {
		name      string
		mem       int64 // 0: unknown
		size      int64
		wantLimit int64
		wantOff   bool
	}{
		{"small_file_off_at_64MiB", 16 * GiB, 1 * MiB, 64 * MiB, true},
		{"large_file_off_at_twice_its_size", 16 * GiB, 3 * GiB, 6 * GiB, true},
		{"file_beyond_half_the_memory_keeps_gc", 16 * GiB, 5 * GiB, 10 * GiB, false},
		{"file_larger_than_memory_keeps_gc", 4 * GiB, 6 * GiB, 12 * GiB, false},
		{"tiny_machine_keeps_gc", 100 * MiB, 1 << 10, 64 * MiB, false},
		{"unknown_memory_small_file_off", 0, 100 * MiB, 200 * MiB, true},
		{"unknown_memory_large_file_keeps_gc", 0, 600 * MiB, 1200 * MiB, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			fakeMemory(t, c.mem)
			limit, off := readGCLimit(c.size)
			if limit != c.wantLimit || off != c.wantOff {
				t.Errorf("readGCLimit(%d) = %d, %v; want %d, %v", c.size, limit, off, c.wantLimit, c.wantOff)
			}
		})
	}
}

func TestMemTotal(t *testing.T) {
	cases := []struct {
		name, text string
		want       int64
		ok         bool
	}{
		{"linux", "MemTotal:       16318312 kB\nMemFree:         1234 kB\n", 16318312 << 10, true},
		{"not_first_line", "Foo: 1 kB\nMemTotal: 2048 kB\n", 2048 << 10, true},
		{"missing", "MemFree: 1 kB\n", 0, false},
		{"other_unit", "MemTotal: 2048 MB\n", 0, false},
		{"garbage", "MemTotal: lots kB\n", 0, false},
		{"overflow", "MemTotal: 99999999999999999 kB\n", 0, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got, ok := memTotal(c.text); got != c.want || ok != c.ok {
				t.Errorf("memTotal = %d, %v; want %d, %v", got, ok, c.want, c.ok)
			}
		})
	}
}

// fakeMemory makes physicalMemory report mem bytes (0: unknown) for the
// rest of the test.
func fakeMemory(t *testing.T, mem int64) {
	old := physicalMemory
	physicalMemory = func() (int64, bool) { return mem, mem > 0 }
	t.Cleanup(func() { physicalMemory = old })
}

// TestEvalReadGCSetting runs ethos eval and looks at the collector while
// the predictions are read: off for a small plain file on a machine with
// memory to spare, on (the command's 25 %) for a gzip file and for a
// file whose limit the machine could not give; back as it was after.
func TestEvalReadGCSetting(t *testing.T) {
	plain := evalRows(t, 200)
	b, err := os.ReadFile(plain)
	if err != nil {
		t.Fatal(err)
	}
	var z bytes.Buffer
	zw := gzip.NewWriter(&z)
	zw.Write(b)
	zw.Close()
	gz := filepath.Join(t.TempDir(), "pred.csv.gz")
	if err := os.WriteFile(gz, z.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	const GiB = int64(1 << 30)
	cases := []struct {
		name    string
		in      string
		mem     int64
		wantOff bool
	}{
		{"small_plain_file_gc_off", plain, 16 * GiB, true},
		{"gzip_file_gc_on", gz, 16 * GiB, false},
		{"machine_too_small_gc_on", plain, 64 << 20, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			fakeMemory(t, c.mem)
			var during int
			var limit int64
			old := readPredictions
			readPredictions = func(r io.Reader, spec evalstat.CSVSpec) (*evalstat.Table, error) {
				during = debug.SetGCPercent(-1)
				debug.SetGCPercent(during)
				limit = debug.SetMemoryLimit(-1)
				return old(r, spec)
			}
			t.Cleanup(func() { readPredictions = old })
			before := debug.SetGCPercent(100)
			debug.SetGCPercent(before)
			beforeLimit := debug.SetMemoryLimit(-1)
			if _, stderr, code := runCLI(t, "eval", "--in", c.in, "--label", "label", "--score", "score", "--group", "sex"); code != 0 {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			if off := during < 0; off != c.wantOff {
				t.Errorf("GC percent %d while reading, want off %v", during, c.wantOff)
			}
			if c.wantOff && limit < 64<<20 {
				t.Errorf("memory limit %d while reading, want at least 64 MiB", limit)
			}
			after := debug.SetGCPercent(before)
			if after != before || debug.SetMemoryLimit(-1) != beforeLimit {
				t.Errorf("GC percent %d after the command, want %d as before (or the memory limit changed)", after, before)
			}
		})
	}
}
