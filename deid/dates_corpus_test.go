package deid_test

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ethos-imaging/ethos/deid"
	"github.com/ethos-imaging/ethos/dicom"
	"github.com/ethos-imaging/ethos/internal/testenv"
)

type temporal struct{ vr, v string }

// temporals maps "path/tag" to every DA, DT and TM value of a file.
func temporals(t *testing.T, path string) (map[string]temporal, string) {
	t.Helper()
	f, err := dicom.ParseFile(path)
	if err != nil {
		t.Fatalf("parse %s: %v", filepath.Base(path), err)
	}
	m := map[string]temporal{}
	f.Dataset.Walk(func(p dicom.Path, el *dicom.Element) error {
		switch v := el.VR.String(); v {
		case "DA", "DT", "TM":
			m[p.String()+"/"+el.Tag.String()] = temporal{v, strings.TrimRight(string(el.Value), " \x00")}
		}
		return nil
	})
	return m, f.Dataset.Text(0x00100020)
}

// TestCorpusModifiedDatesConsistent runs the corpus under Retain
// Longitudinal Temporal Information with Modified Dates: in every written
// file each date (DA) and date-time (DT) left non-empty moved by one and
// the same whole number of days — the same for every file of a
// pseudonymous patient —, each valid time (TM) is unchanged, and dciodvfy
// finds no new error.
func TestCorpusModifiedDatesConsistent(t *testing.T) {
	dciodvfy := testenv.Tool(t, "dciodvfy")
	dir := testenv.DICOMDir(t)
	out, res := runDir(t, dir, corpusSecret, deid.Options(0).With(deid.RetainLongitudinalModifiedDates))
	shiftOf := map[string]int{} // pseudonymous Patient ID -> days
	checked := map[string]int{}
	for _, f := range written(res) {
		in, _ := temporals(t, filepath.Join(dir, f.Input))
		got, pid := temporals(t, filepath.Join(out, f.Output))
		days, known := shiftOf[pid]
		// The file's offset, from its first plain date that survived.
		if !known {
			for k, o := range got {
				if i, ok := in[k]; ok && o.vr == "DA" && len(i.v) == 8 && len(o.v) == 8 {
					a, err1 := time.Parse("20060102", i.v)
					b, err2 := time.Parse("20060102", o.v)
					if err1 == nil && err2 == nil {
						days, known = int(b.Sub(a).Hours()/24), true
						shiftOf[pid] = days
						break
					}
				}
			}
		}
		if !known {
			continue
		}
		if days >= 0 || days < -3652 {
			t.Errorf("%s: shift of %d days, want -3652..-1", f.Input, days)
		}
		for k, o := range got {
			i, ok := in[k]
			if !ok || i.v == "" || o.v == "" {
				continue
			}
			var wants []string
			for _, x := range strings.Split(i.v, `\`) {
				var w string
				var good bool
				switch o.vr {
				case "DA":
					w, good = deid.ShiftDA(x, days)
				case "DT":
					w, good = deid.ShiftDT(x, days)
				case "TM":
					w, good = x, deid.ValidTM(strings.TrimSpace(x))
				}
				ok = ok && good
				wants = append(wants, w)
			}
			want := strings.Join(wants, `\`)
			if !ok {
				t.Errorf("%s %s: unreadable %s %q kept as %q", f.Input, k, o.vr, i.v, o.v)
				continue
			}
			if o.v != want {
				t.Errorf("%s %s: %s %q became %q, want %q (shift %d days)", f.Input, k, o.vr, i.v, o.v, want, days)
			}
			checked[o.vr]++
		}
		before := dciodvfyErrors(t, dciodvfy, filepath.Join(dir, f.Input))
		after := dciodvfyErrors(t, dciodvfy, filepath.Join(out, f.Output))
		if len(after) > len(before) {
			t.Errorf("%s: dciodvfy reports %d errors after, %d before:\n%s", f.Input, len(after), len(before), strings.Join(after, "\n"))
		}
	}
	t.Logf("values checked: %v; patients: %d", checked, len(shiftOf))
	if checked["DA"] < 20 || checked["TM"] < 20 {
		t.Errorf("only %v values compared: the test proves little", checked)
	}
}
