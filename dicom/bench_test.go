package dicom_test

import (
	"bytes"
	"io"
	"os"
	"runtime"
	"strings"
	"testing"

	"github.com/ethos-imaging/ethos/dicom"
)

func loadAll(b *testing.B) ([][]byte, int64) {
	names, paths := corpus(b)
	var data [][]byte
	var total int64
	for i, p := range paths {
		if names[i] == truncatedFile {
			continue
		}
		in, err := os.ReadFile(p)
		if err != nil {
			b.Fatal(err)
		}
		data = append(data, in)
		total += int64(len(in))
	}
	return data, total
}

// BenchmarkParse parses the whole corpus from memory per iteration.
func BenchmarkParse(b *testing.B) {
	data, total := loadAll(b)
	b.SetBytes(total)
	for b.Loop() {
		for _, in := range data {
			if _, err := dicom.Parse(bytes.NewReader(in)); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// BenchmarkWrite writes the parsed corpus per iteration.
func BenchmarkWrite(b *testing.B) {
	data, total := loadAll(b)
	var files []*dicom.File
	for _, in := range data {
		f, err := dicom.Parse(bytes.NewReader(in))
		if err != nil {
			b.Fatal(err)
		}
		files = append(files, f)
	}
	b.SetBytes(total)
	for b.Loop() {
		for _, f := range files {
			if err := dicom.Write(io.Discard, f); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// TestPooledBuffers: reading and writing a small file must not allocate
// the 64 KiB buffers anew each time (they are pooled).
func TestPooledBuffers(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool keeps only part of its items under the race detector")
	}
	_, paths := corpus(t)
	var in []byte
	for _, p := range paths {
		if strings.HasSuffix(p, "pydicom/CT_small.dcm") {
			in, _ = os.ReadFile(p)
		}
	}
	once := func() {
		f, err := dicom.Parse(bytes.NewReader(in))
		if err != nil {
			t.Fatal(err)
		}
		if err := dicom.Write(io.Discard, f); err != nil {
			t.Fatal(err)
		}
	}
	once()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	const n = 20
	for range n {
		once()
	}
	runtime.ReadMemStats(&after)
	per := (after.TotalAlloc - before.TotalAlloc) / n
	// The parsed file itself costs about 2.3 times its size in elements and
	// values; the 2 × 64 KiB of buffers must not be on top.
	t.Logf("%d bytes per read+write of %d", per, len(in))
	if limit := uint64(len(in))*5/2 + 16<<10; per > limit {
		t.Errorf("read+write of a %d-byte file allocates %d bytes, want < %d", len(in), per, limit)
	}
}

// TestScratchReuse reads every corpus file into one Scratch, reset between
// files: each must read exactly as it does into fresh memory (no value
// or element of an earlier file shows through), and a read into a warm
// Scratch must allocate less than one without.
func TestScratchReuse(t *testing.T) {
	_, paths := corpus(t)
	var s dicom.Scratch
	for _, p := range paths {
		want, wantErr := dicom.ParseFile(p)
		got, gotErr := dicom.ParseFile(p, dicom.WithScratch(&s))
		if (wantErr == nil) != (gotErr == nil) {
			t.Fatalf("%s: error %v with a scratch, %v without", p, gotErr, wantErr)
		}
		if wantErr == nil && !bytes.Equal(canonical(t, got), canonical(t, want)) {
			t.Errorf("%s: read into a reused scratch differs from a fresh read", p)
		}
		s.Reset()
	}
	in, err := os.ReadFile(paths[0])
	if err != nil {
		t.Fatal(err)
	}
	read := func(opts ...dicom.Option) uint64 {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		for range 10 {
			if _, err := dicom.Parse(bytes.NewReader(in), opts...); err != nil {
				t.Fatal(err)
			}
			s.Reset()
		}
		runtime.ReadMemStats(&after)
		return (after.TotalAlloc - before.TotalAlloc) / 10
	}
	fresh, warm := read(), read(dicom.WithScratch(&s))
	t.Logf("%s: %d bytes allocated per read, %d with a warm scratch", paths[0], fresh, warm)
	if warm >= fresh {
		t.Errorf("a read into a warm scratch allocates %d bytes, without one %d", warm, fresh)
	}
}

// countingFile is a seekable input that counts the bytes read from it.
type countingFile struct {
	*bytes.Reader
	n int
}

func (c *countingFile) Read(p []byte) (int, error) {
	n, err := c.Reader.Read(p)
	c.n += n
	return n, err
}

// TestBulkSkipReadsLittlePixelData: a reader that leaves large values in a
// seekable input reads the header and at most a first read's worth of
// what follows it, not its whole 64 KiB buffer of pixel data.
func TestBulkSkipReadsLittlePixelData(t *testing.T) {
	_, paths := corpus(t)
	var in []byte
	for _, p := range paths {
		if strings.HasSuffix(p, "canary/shard0/ct_00000.dcm") {
			in, _ = os.ReadFile(p)
		}
	}
	if in == nil {
		t.Fatal("canary CT not in the corpus")
	}
	src := &countingFile{Reader: bytes.NewReader(in)}
	rd, err := dicom.NewReader(src, dicom.WithBulkThreshold(64<<10))
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	var pixelAt, pixelLen int64
	for {
		el, err := rd.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if el.Bulk != nil {
			pixelAt, pixelLen = el.Bulk.Offset, el.Bulk.Length
		}
	}
	if pixelLen < 64<<10 {
		t.Fatalf("no bulk value found (pixel data %d bytes)", pixelLen)
	}
	rest := int64(len(in)) - pixelAt - pixelLen
	limit := int(pixelAt + 16<<10 + rest)
	t.Logf("read %d of %d bytes (header %d, pixel data %d)", src.n, len(in), pixelAt, pixelLen)
	if src.n > limit {
		t.Errorf("read %d bytes, want at most %d (header, one 16 kB read, the trailing elements)", src.n, limit)
	}
}
