package dicom_test

import (
	"bytes"
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
