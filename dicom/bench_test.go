package dicom_test

import (
	"bytes"
	"io"
	"os"
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
