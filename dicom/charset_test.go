package dicom_test

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ethos-imaging/ethos/dicom"
	"github.com/ethos-imaging/ethos/dicom/tag"
	"github.com/ethos-imaging/ethos/dicom/vr"
	"github.com/ethos-imaging/ethos/internal/testenv"
)

func TestDecodeText(t *testing.T) {
	tests := []struct {
		name     string
		charsets []string
		in       string
		want     string
		ok       bool
	}{
		{"DefaultASCII", nil, "Doe^Jane", "Doe^Jane", true},
		{"Latin1", []string{"ISO_IR 100"}, "Mu\xf1oz^Jos\xe9", "Muñoz^José", true},
		{"Latin1ISO2022", []string{"ISO 2022 IR 100"}, "\xc4", "Ä", true},
		{"UTF8", []string{"ISO_IR 192"}, "王^小東", "王^小東", true},
		{"CyrillicKeptAsBytes", []string{"ISO_IR 144"}, "\xbb\xee", "\xbb\xee", false},
		{"JapaneseKeptAsBytes", []string{"", "ISO 2022 IR 87"}, "\x1b$B;3\x1b(B", "\x1b$B;3\x1b(B", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := dicom.DecodeText(tc.charsets, []byte(tc.in))
			if got != tc.want || ok != tc.ok {
				t.Errorf("DecodeText = %q %v, want %q %v", got, ok, tc.want, tc.ok)
			}
			if !tc.ok {
				return
			}
			back, err := dicom.EncodeText(tc.charsets, got)
			if err != nil || string(back) != tc.in {
				t.Errorf("EncodeText = %q %v, want %q", back, err, tc.in)
			}
		})
	}
	if _, err := dicom.EncodeText([]string{"ISO_IR 100"}, "王"); !errors.Is(err, dicom.ErrBadCharset) {
		t.Errorf("Latin-1 encode of a CJK rune: %v", err)
	}
	if _, err := dicom.EncodeText(nil, "é"); !errors.Is(err, dicom.ErrBadCharset) {
		t.Errorf("default repertoire encode of é: %v", err)
	}
}

func TestCharsetCorpus(t *testing.T) {
	dir := filepath.Join(testenv.DICOMDir(t), "pydicom")
	if got := MustParse(t, filepath.Join(dir, "chrX1.dcm")).Dataset.Text(tag.PatientName); got != "Wang^XiaoDong=王^小東=" {
		t.Errorf("chrX1 PatientName = %q", got)
	}
	f := MustParse(t, filepath.Join(dir, "chrSQEncoding.dcm"))
	if cs := f.Dataset.CharacterSets(); len(cs) != 1 || cs[0] != "ISO_IR 192" {
		t.Errorf("top-level character set %q", cs)
	}
	item := f.Dataset.Get(tag.RequestedProcedureCodeSequence).Items[0]
	if cs := item.CharacterSets(); len(cs) != 2 || cs[1] != "ISO 2022 IR 87" {
		t.Errorf("item character set %q, want its own", cs)
	}
	if _, ok := dicom.DecodeText(item.Get(tag.PatientName).CharacterSets(), item.Get(tag.PatientName).Value); ok {
		t.Error("ISO 2022 IR 87 reported as decoded")
	}
	// A Latin-1 file: setting a value encodes it in the file's set.
	ct := MustParse(t, filepath.Join(dir, "CT_small.dcm"))
	if err := ct.Dataset.SetText(tag.InstitutionName, vr.LO, "Hôpital"); err != nil {
		t.Fatal(err)
	}
	e := ct.Dataset.Get(tag.InstitutionName)
	if string(e.Value) != "H\xf4pital " || e.Text() != "Hôpital" {
		t.Errorf("Latin-1 value % x decodes to %q", e.Value, e.Text())
	}
}

func TestDatasetEditing(t *testing.T) {
	ds := &dicom.Dataset{}
	for _, tg := range []tag.Tag{tag.PatientID, tag.Modality, tag.PatientName} {
		if err := ds.SetText(tg, 0, "x"); err != nil {
			t.Fatal(err)
		}
	}
	var order []tag.Tag
	for _, e := range ds.Elements {
		order = append(order, e.Tag)
	}
	if !equal(order, []tag.Tag{tag.Modality, tag.PatientName, tag.PatientID}) {
		t.Errorf("Set order %v", order)
	}
	if err := ds.SetText(tag.PatientName, 0, "Doe^John"); err != nil || ds.Text(tag.PatientName) != "Doe^John" || len(ds.Elements) != 3 {
		t.Errorf("replace: %v %q %d", err, ds.Text(tag.PatientName), len(ds.Elements))
	}
	if e := ds.Get(tag.PatientName); e.VR != vr.PN || len(e.Value)%2 != 0 {
		t.Errorf("VR %s, length %d", e.VR, len(e.Value))
	}
	if !ds.Delete(tag.Modality) || ds.Delete(tag.Modality) || ds.Has(tag.Modality) {
		t.Error("Delete")
	}
	seq := dicom.NewSequence(tag.OtherPatientIDsSequence, dicom.NewItem(dicom.NewBytes(tag.PatientID, vr.LO, []byte("ID2 "))))
	ds.Set(seq)
	var paths []string
	ds.Walk(func(p dicom.Path, e *dicom.Element) error {
		paths = append(paths, p.String()+e.Tag.String())
		return nil
	})
	want := []string{"(0010,0010)", "(0010,0020)", "(0010,1002)", "(0010,1002)[0](0010,0020)"}
	if !equal(paths, want) {
		t.Errorf("Walk = %q, want %q", paths, want)
	}
	if n := ds.DeleteFunc(func(e *dicom.Element) bool { return e.IsSequence() }); n != 1 {
		t.Errorf("DeleteFunc removed %d", n)
	}
}

func TestCloneAndPrivateCreator(t *testing.T) {
	f := MustParse(t, filepath.Join(testenv.DICOMDir(t), "pydicom", "CT_small.dcm"))
	var priv tag.Tag
	for _, e := range f.Dataset.Elements {
		if _, ok := e.Tag.PrivateCreator(); ok {
			priv = e.Tag
			break
		}
	}
	if creator, ok := f.Dataset.PrivateCreator(priv); !ok || !strings.HasPrefix(creator, "GEMS_") {
		t.Errorf("PrivateCreator(%s) = %q %v, want a GEMS_ creator", priv, creator, ok)
	}
	if _, ok := f.Dataset.PrivateCreator(tag.PatientName); ok {
		t.Error("standard tag has a private creator")
	}
	c := f.Dataset.Clone()
	c.Get(tag.PatientName).Value[0] = 'X'
	c.Get(tag.OtherPatientIDsSequence).Items[0].Elements[0].Value[0] = 'X'
	c.Delete(tag.Modality)
	if f.Dataset.Text(tag.PatientName)[0] == 'X' || f.Dataset.Get(tag.OtherPatientIDsSequence).Items[0].Elements[0].Value[0] == 'X' || !f.Dataset.Has(tag.Modality) {
		t.Error("changing the clone changed the original")
	}
}
