package dicom_test

import (
	"bytes"
	"encoding/binary"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ethos-imaging/ethos/dicom"
	"github.com/ethos-imaging/ethos/dicom/tag"
	"github.com/ethos-imaging/ethos/dicom/uid"
	"github.com/ethos-imaging/ethos/dicom/vr"
	"github.com/ethos-imaging/ethos/internal/testenv"
)

// tagFor returns a standard, non-retired, single-VR tag of VR v outside the
// meta group, from the generated dictionary.
func tagFor(tb testing.TB, v vr.VR) tag.Tag {
	tb.Helper()
	for _, i := range tag.All() {
		if len(i.VRs) == 1 && i.VRs[0] == v && !i.Retired && i.Mask == ^tag.Tag(0) &&
			i.Tag.Group() > 0x0002 && i.Tag.Group() != 0x7FE0 && i.Tag != tag.SpecificCharacterSet {
			return i.Tag
		}
	}
	tb.Fatalf("no tag of VR %s in the dictionary", v)
	return 0
}

// sample returns an element of VR v with a recognisable value.
func sample(tb testing.TB, v vr.VR) *dicom.Element {
	tb.Helper()
	t := tagFor(tb, v)
	le := binary.LittleEndian
	switch v {
	case vr.US, vr.UL, vr.UV, vr.OW, vr.OL, vr.OV:
		return dicom.NewUints(t, v, 1, 513, 65535)
	case vr.AT:
		return dicom.NewUints(t, v, uint64(tag.PatientName), uint64(tag.New(0x0029, 0x1017)))
	case vr.SS:
		return dicom.NewBytes(t, v, le.AppendUint16(le.AppendUint16(nil, uint16(0xFFFE)), 300))
	case vr.SL:
		return dicom.NewBytes(t, v, le.AppendUint32(nil, uint32(0xFFFFFF00)))
	case vr.SV:
		return dicom.NewBytes(t, v, le.AppendUint64(nil, uint64(1)<<62|7))
	case vr.FL, vr.OF:
		return dicom.NewBytes(t, v, le.AppendUint32(le.AppendUint32(nil, math.Float32bits(1.5)), math.Float32bits(-2.25)))
	case vr.FD, vr.OD:
		return dicom.NewBytes(t, v, le.AppendUint64(nil, math.Float64bits(math.Pi)))
	case vr.OB, vr.UN:
		return dicom.NewBytes(t, v, []byte{0, 1, 2, 0xFE, 0xFF, 0x80, 9})
	case vr.SQ:
		inner, _ := dicom.NewText(tagFor(tb, vr.LO), vr.LO, nil, "inner")
		deep := dicom.NewSequence(t, dicom.NewItem(inner))
		deep.Length = 0 // defined length
		deep.Items[0].Undefined = false
		lo, _ := dicom.NewText(tagFor(tb, vr.SH), vr.SH, nil, "outer")
		return dicom.NewSequence(t, dicom.NewItem(lo, deep), dicom.NewItem())
	}
	vals := map[vr.VR][]string{
		vr.AE: {"ETHOS_AE"}, vr.AS: {"045Y"}, vr.CS: {"ORIGINAL", "PRIMARY"}, vr.DA: {"20240131"},
		vr.DS: {"1.5", "-2e3"}, vr.DT: {"20240131120000.5+0100"}, vr.IS: {"42", "-7"},
		vr.LO: {"long string"}, vr.LT: {`long text with \ backslash`}, vr.PN: {"Doe^Jane"},
		vr.SH: {"short"}, vr.ST: {"short text"}, vr.TM: {"235959.123"}, vr.UC: {"unlimited", "chars"},
		vr.UI: {"1.2.840.10008.1.2.1"}, vr.UR: {"https://example.org/a b"}, vr.UT: {"unlimited text"},
	}[v]
	e, err := dicom.NewText(t, v, nil, vals...)
	if err != nil {
		tb.Fatal(err)
	}
	return e
}

// leValue returns the value of e in little-endian order.
func leValue(e *dicom.Element) []byte {
	b := bytes.Clone(e.Value)
	ws := e.VR.WordSize()
	if e.BigEndian() && ws > 1 {
		for i := 0; i+ws <= len(b); i += ws {
			for j := 0; j < ws/2; j++ {
				b[i+j], b[i+ws-1-j] = b[i+ws-1-j], b[i+j]
			}
		}
	}
	return b
}

func syntax(u string) uid.Syntax { s, _ := uid.LookupSyntax(u); return s }

// build returns a Part 10 file in syntax s holding one element of every VR,
// a private block, a UN-encoded private sequence and, for encapsulated
// syntaxes, pixel data in fragments (one of odd length).
func build(tb testing.TB, s uid.Syntax) *dicom.File {
	tb.Helper()
	f := &dicom.File{}
	f.Preamble = make([]byte, 128)
	f.Syntax = s
	f.Meta = &dicom.Dataset{}
	f.Meta.Set(dicom.NewUints(tag.FileMetaInformationGroupLength, vr.UL, 0))
	f.Meta.Set(dicom.NewBytes(tag.FileMetaInformationVersion, vr.OB, []byte{0, 1}))
	for _, kv := range []struct {
		t tag.Tag
		v string
	}{{tag.MediaStorageSOPClassUID, uid.SecondaryCaptureImageStorage}, {tag.MediaStorageSOPInstanceUID, "2.25.1"}, {tag.TransferSyntaxUID, s.UID}} {
		e, err := dicom.NewText(kv.t, vr.UI, nil, kv.v)
		if err != nil {
			tb.Fatal(err)
		}
		f.Meta.Set(e)
	}
	for _, v := range vr.All() {
		f.Dataset.Set(sample(tb, v))
	}
	creator, _ := dicom.NewText(tag.New(0x0029, 0x0010), vr.LO, nil, "ETHOS TEST")
	f.Dataset.Set(creator)
	priv, _ := dicom.NewText(tag.New(0x0029, 0x1001), vr.LO, nil, "private value")
	f.Dataset.Set(priv)
	inner, _ := dicom.NewText(tag.StudyDescription, vr.LO, nil, "in UN")
	unseq := dicom.NewSequence(tag.New(0x0029, 0x1002), dicom.NewItem(inner))
	unseq.VR = vr.UN
	f.Dataset.Set(unseq)
	if s.Encapsulated {
		f.Dataset.Set(dicom.NewEncapsulated(tag.PixelData, vr.OB, nil, []byte{0xFF, 0xD8, 1, 2}, []byte{3, 4, 0xFF}))
	} else {
		f.Dataset.Set(dicom.NewUints(tag.PixelData, vr.OW, 0, 1, 2, 0xFFFF))
	}
	return f
}

var writeSyntaxes = []string{
	uid.ImplicitVRLittleEndian, uid.ExplicitVRLittleEndian, uid.ExplicitVRBigEndian,
	uid.DeflatedExplicitVRLittleEndian, uid.JPEGBaseline8Bit, uid.RLELossless,
}

// TestWriteThenParse writes every VR in every transfer syntax and reads it
// back: same tags, VRs (explicit syntaxes), values, items and fragments.
func TestWriteThenParse(t *testing.T) {
	for _, u := range writeSyntaxes {
		s := syntax(u)
		t.Run(strings.ReplaceAll(s.Name, " ", ""), func(t *testing.T) {
			want := build(t, s)
			var buf bytes.Buffer
			if err := dicom.Write(&buf, want); err != nil {
				t.Fatal(err)
			}
			got, err := dicom.Parse(bytes.NewReader(buf.Bytes()))
			if err != nil {
				t.Fatal(err)
			}
			if got.Syntax.UID != u || len(got.Warnings) != 0 {
				t.Fatalf("syntax %s warnings %v", got.Syntax.UID, got.Warnings)
			}
			if gl := got.Meta.Get(tag.FileMetaInformationGroupLength).Uints(); len(gl) != 1 || gl[0] == 0 {
				t.Errorf("meta group length not computed: %v", gl)
			}
			compareDatasets(t, "", &want.Dataset, &got.Dataset, s.Implicit)
			// Written again, the parsed file gives the same bytes.
			var again bytes.Buffer
			if err := dicom.Write(&again, got); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(buf.Bytes(), again.Bytes()) {
				t.Errorf("second write differs at byte %d", firstDiff(buf.Bytes(), again.Bytes()))
			}
		})
	}
}

func compareDatasets(t *testing.T, path string, want, got *dicom.Dataset, implicit bool) {
	t.Helper()
	if len(want.Elements) != len(got.Elements) {
		t.Errorf("%s: %d elements, want %d", path, len(got.Elements), len(want.Elements))
		return
	}
	for i, w := range want.Elements {
		g := got.Elements[i]
		where := path + w.Tag.String()
		if g.Tag != w.Tag {
			t.Errorf("%s: got tag %s", where, g.Tag)
			continue
		}
		if !implicit && g.VR != w.VR {
			t.Errorf("%s: VR %s, want %s", where, g.VR, w.VR)
		}
		switch {
		case w.IsSequence():
			if !g.IsSequence() || len(g.Items) != len(w.Items) {
				t.Errorf("%s: %d items (sequence %v), want %d", where, len(g.Items), g.IsSequence(), len(w.Items))
				continue
			}
			for j := range w.Items {
				if g.Items[j].Undefined != w.Items[j].Undefined {
					t.Errorf("%s[%d]: undefined length %v", where, j, g.Items[j].Undefined)
				}
				compareDatasets(t, where+"[]", &w.Items[j].Dataset, &g.Items[j].Dataset, implicit && w.VR == vr.SQ)
			}
			if (g.Length == dicom.UndefinedLength) != (w.Length == dicom.UndefinedLength) {
				t.Errorf("%s: undefined length form not kept", where)
			}
		case w.IsEncapsulated():
			if len(g.Fragments) != len(w.Fragments) {
				t.Fatalf("%s: %d fragments, want %d", where, len(g.Fragments), len(w.Fragments))
			}
			for j := range w.Fragments {
				if !bytes.Equal(g.Fragments[j], w.Fragments[j]) {
					t.Errorf("%s: fragment %d differs", where, j)
				}
			}
		default:
			if implicit && w.Tag.IsPrivate() {
				if !bytes.Equal(g.Value, w.Value) {
					t.Errorf("%s: bytes differ", where)
				}
				continue
			}
			if !bytes.Equal(leValue(g), w.Value) {
				t.Errorf("%s: value % x, want % x", where, leValue(g), w.Value)
			}
			if w.VR.IsText() && !equal(g.Texts(), w.Texts()) {
				t.Errorf("%s: texts %q, want %q", where, g.Texts(), w.Texts())
			}
		}
	}
}

// TestDcmdumpReadsOutput has dcmtk's dcmdump read what the writer produces
// for every transfer syntax and for rewritten corpus files.
func TestDcmdumpReadsOutput(t *testing.T) {
	dcmdump := testenv.Tool(t, "dcmdump")
	dir := t.TempDir()
	var files []string
	for _, u := range writeSyntaxes {
		s := syntax(u)
		p := filepath.Join(dir, strings.ReplaceAll(s.Name, " ", "")+".dcm")
		if err := dicom.WriteFile(p, build(t, s), 0o644); err != nil {
			t.Fatal(err)
		}
		files = append(files, p)
	}
	// Corpus files converted to other syntaxes: big endian to little, and
	// the deflated one re-deflated after a change.
	src := filepath.Join(testenv.DICOMDir(t), "pydicom")
	for _, c := range []struct{ in, to string }{
		{"MR_small_bigendian.dcm", uid.ExplicitVRLittleEndian},
		{"MR_small.dcm", uid.ExplicitVRBigEndian},
		{"image_dfl.dcm", uid.DeflatedExplicitVRLittleEndian},
	} {
		f := MustParse(t, filepath.Join(src, c.in))
		f.Syntax = syntax(c.to)
		if err := f.Meta.SetText(tag.TransferSyntaxUID, vr.UI, c.to); err != nil {
			t.Fatal(err)
		}
		if err := f.Dataset.SetText(tag.StudyDescription, vr.LO, "changed"); err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, "conv_"+c.in)
		if err := dicom.WriteFile(p, f, 0o644); err != nil {
			t.Fatal(err)
		}
		files = append(files, p)
	}
	for _, p := range files {
		t.Run(filepath.Base(p), func(t *testing.T) {
			out, err := exec.Command(dcmdump, "-dc", "+L", p).CombinedOutput()
			if err != nil {
				t.Fatalf("dcmdump: %v\n%s", err, out)
			}
			if bytes.Contains(out, []byte("E: ")) {
				t.Fatalf("dcmdump reports errors:\n%s", out)
			}
			for _, want := range []string{"(0002,0010)", "(7fe0,0010)"} {
				if !bytes.Contains(out, []byte(want)) {
					t.Errorf("dcmdump output lacks %s:\n%s", want, out)
				}
			}
			if strings.HasPrefix(filepath.Base(p), "conv_") && !bytes.Contains(out, []byte("[changed")) {
				t.Errorf("dcmdump does not show the changed StudyDescription:\n%s", out)
			}
		})
	}
	// Sanity: the converted big endian file decodes to the values of its
	// little endian original.
	a := MustParse(t, filepath.Join(src, "MR_small.dcm"))
	b := MustParse(t, filepath.Join(dir, "conv_MR_small.dcm"))
	if x, y := a.Dataset.Get(tag.PixelData).Uints(), b.Dataset.Get(tag.PixelData).Uints(); !equal(x, y) {
		t.Error("pixel values change when written big endian")
	}
	_ = os.Remove
}

// TestEditedForms checks that what an element holds decides how it is
// written, whatever it was read as: items given to a UN element are a
// sequence, an encapsulated value replaced by bytes is written as bytes,
// and a value declared big endian is swapped for a little endian output.
func TestEditedForms(t *testing.T) {
	f := MustParse(t, filepath.Join(testenv.DICOMDir(t), "pydicom", "JPEG2000.dcm"))
	inner, _ := dicom.NewText(tag.PatientID, vr.LO, nil, "X")
	f.Dataset.Set(&dicom.Element{Tag: tag.New(0x0029, 0x1010), VR: vr.UN, Items: []*dicom.Item{dicom.NewItem(inner)}, Length: dicom.UndefinedLength})
	px := f.Dataset.Get(tag.PixelData)
	px.Fragments, px.Value = nil, []byte{1, 2, 3, 4}
	be := dicom.NewBytes(tag.Rows, vr.US, []byte{0x01, 0x02})
	be.SetBigEndian(true)
	f.Dataset.Set(be)
	var buf bytes.Buffer
	if err := dicom.Write(&buf, f); err != nil {
		t.Fatal(err)
	}
	got, err := dicom.Parse(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	if un := got.Dataset.Get(tag.New(0x0029, 0x1010)); !un.IsSequence() || un.Items[0].Text(tag.PatientID) != "X" {
		t.Errorf("UN sequence not written as items")
	}
	if p := got.Dataset.Get(tag.PixelData); p.IsEncapsulated() || !bytes.Equal(p.Value, []byte{1, 2, 3, 4}) {
		t.Errorf("replaced pixel data: encapsulated %v value % x", p.IsEncapsulated(), p.Value)
	}
	if r := got.Dataset.Get(tag.Rows).Uints(); len(r) != 1 || r[0] != 0x0102 {
		t.Errorf("Rows = %v, want 258", r)
	}
}
