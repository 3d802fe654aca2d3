package dicom_test

import (
	"bytes"
	"io"
	"os"
	"testing"

	"github.com/ethos-imaging/ethos/dicom"
)

// FuzzParse asserts read → write → read: whatever parses writes without
// error, and the written bytes parse again and write back identically.
// Seeds: every corpus file up to 64 KiB, and the first 4 KiB of the others
// (small seeds keep minimisation fast).
func FuzzParse(f *testing.F) {
	_, paths := corpus(f)
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		if len(b) > 64<<10 {
			b = b[:4<<10]
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		file, err := dicom.Parse(bytes.NewReader(in), dicom.WithMaxDepth(16))
		if err != nil {
			return
		}
		var first bytes.Buffer
		if err := dicom.Write(&first, file); err != nil {
			t.Fatalf("parsed but cannot write: %v", err)
		}
		again, err := dicom.Parse(bytes.NewReader(first.Bytes()), dicom.WithMaxDepth(16))
		if err != nil {
			t.Fatalf("cannot read what was written: %v", err)
		}
		var second bytes.Buffer
		if err := dicom.Write(&second, again); err != nil {
			t.Fatalf("second write: %v", err)
		}
		if !bytes.Equal(first.Bytes(), second.Bytes()) {
			t.Fatalf("read → write → read → write differs at byte %d", firstDiff(first.Bytes(), second.Bytes()))
		}
		if len(file.Dataset.Elements) != len(again.Dataset.Elements) {
			t.Fatalf("%d elements, then %d", len(file.Dataset.Elements), len(again.Dataset.Elements))
		}
	})
}

// FuzzStreamCopy asserts that the streaming reader and writer, with every
// value left in the source and copied back (from a seekable input and from
// a stream), produce the file that Parse and Write produce.
func FuzzStreamCopy(f *testing.F) {
	_, paths := corpus(f)
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		if len(b) > 64<<10 {
			b = b[:4<<10]
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		file, err := dicom.Parse(bytes.NewReader(in), dicom.WithMaxDepth(16))
		if err != nil || file.Syntax.Deflated {
			return
		}
		var want bytes.Buffer
		if err := dicom.Write(&want, file); err != nil {
			t.Fatalf("parsed but cannot write: %v", err)
		}
		for _, src := range []io.Reader{bytes.NewReader(in), onlyReader{bytes.NewReader(in)}} {
			streamCopyMatches(t, src, want.Bytes())
		}
	})
}

// streamCopyMatches copies src with the streaming reader and writer, every
// value left in the source, and compares the result with want.
func streamCopyMatches(t *testing.T, src io.Reader, want []byte) {
	t.Helper()
	rd, err := dicom.NewReader(src, dicom.WithMaxDepth(16), dicom.WithBulkThreshold(2))
	if err != nil {
		t.Fatalf("Parse accepted the header, NewReader did not: %v", err)
	}
	var got bytes.Buffer
	w, err := dicom.NewWriter(&got, &rd.Header)
	if err != nil {
		t.Fatal(err)
	}
	for {
		el, err := rd.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("Parse read the file, the streaming reader failed: %v", err)
		}
		if el.Bulk != nil {
			r, err := rd.BulkReader()
			if err != nil {
				t.Fatal(err)
			}
			err = w.WriteBulk(el, r)
		} else {
			err = w.WriteElement(el)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	// Values copied raw skip the normalisation Parse+Write applies to
	// what it parses (delimiter lengths inside a UN value read as items),
	// so compare after one more Parse+Write.
	again, err := dicom.Parse(bytes.NewReader(got.Bytes()), dicom.WithMaxDepth(16))
	if err != nil {
		t.Fatalf("cannot read the streaming copy: %v", err)
	}
	var norm bytes.Buffer
	if err := dicom.Write(&norm, again); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(want, norm.Bytes()) {
		t.Fatalf("streaming copy differs from Parse+Write at byte %d", firstDiff(want, norm.Bytes()))
	}
}
