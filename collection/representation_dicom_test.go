package collection_test

import (
	"bytes"
	"context"
	"image/png"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ethos-imaging/ethos"
	"github.com/ethos-imaging/ethos/collection"
	"github.com/ethos-imaging/ethos/dicom"
	"github.com/ethos-imaging/ethos/dicom/tag"
	"github.com/ethos-imaging/ethos/dicom/vr"
	"github.com/ethos-imaging/ethos/internal/testenv"
)

func corpusFiles(tb testing.TB) []string {
	tb.Helper()
	var out []string
	filepath.WalkDir(testenv.DICOMDir(tb), func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() && strings.HasSuffix(p, ".dcm") {
			out = append(out, p)
		}
		return nil
	})
	if len(out) < 20 {
		tb.Fatalf("only %d DICOM files in the corpus", len(out))
	}
	return out
}

var dcmdumpLine = regexp.MustCompile(`^\((\w{4},\w{4})\) \w\w \[(.*)\]`)

// TestAttributesFromDICOMMatchDcmdump reads every corpus file with the
// dicom package and compares the attributes with what dcmtk's dcmdump
// prints for the same top-level elements.
func TestAttributesFromDICOMMatchDcmdump(t *testing.T) {
	dcmdump := testenv.Tool(t, "dcmdump")
	o := collection.DICOMAttributes{Key: bytes.Repeat([]byte("s"), 32)}
	compared := 0
	for _, p := range corpusFiles(t) {
		f, err := dicom.ParseFile(p, dicom.SkipPixelData())
		if err != nil {
			continue // malformed on purpose; dcmdump may still read it
		}
		got := o.AttributesFromDICOM(&f.Dataset)
		out, err := exec.Command(dcmdump, "-q", "+P", "0010,0040", "+P", "0008,0070", "+P", "0008,1090", "+P", "0010,1010", p).Output()
		if err != nil {
			continue
		}
		want := map[string]string{}
		seenTag := map[string]bool{}
		for _, line := range strings.Split(string(out), "\n") {
			m := dcmdumpLine.FindStringSubmatch(line)
			if m == nil {
				continue // no value
			}
			if _, seen := seenTag[m[1]]; seen {
				continue // +P also prints nested occurrences, after the top-level one
			}
			seenTag[m[1]] = true
			v := strings.TrimSpace(m[2])
			switch m[1] {
			case "0010,0040":
				if v == "M" || v == "F" || v == "O" {
					want[ethos.AttrSex] = v
				}
			case "0008,0070":
				want[ethos.AttrManufacturer] = v
			case "0008,1090":
				want[ethos.AttrModel] = v
			case "0010,1010":
				if len(v) == 4 && v[3] == 'Y' {
					var n int
					for _, c := range v[:3] {
						n = n*10 + int(c-'0')
					}
					want[ethos.AttrAgeBand] = ethos.AgeBand(n)
				}
			}
		}
		for k, w := range want {
			if w == "" || strings.ContainsFunc(w, func(r rune) bool { return r > 127 }) {
				continue
			}
			if got.Attributes[k] != w {
				t.Errorf("%s: %s = %q, dcmdump says %q", filepath.Base(p), k, got.Attributes[k], w)
			}
			compared++
		}
		if !got.Subject.Valid() {
			t.Errorf("%s: no subject key", filepath.Base(p))
		}
	}
	if compared < 30 {
		t.Fatalf("only %d values compared", compared)
	}
}

func TestAgeFromBirthDate(t *testing.T) {
	for _, tc := range []struct {
		name, age, birth, study, want string
	}{
		{"PatientAgeYears", "045Y", "", "", "40-49"},
		{"PatientAgeMonths", "018M", "", "", "0-9"},
		{"BirthdayNotYetReached", "", "19800615", "20200614", "30-39"},
		{"BirthdayReached", "", "19800615", "20200615", "40-49"},
		{"NoDates", "", "19800615", "", ""},
		{"StudyBeforeBirth", "", "20200101", "20100101", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var ds dicom.Dataset
			if tc.age != "" {
				ds.SetText(tag.PatientAge, vr.AS, tc.age)
			}
			if tc.birth != "" {
				ds.SetText(tag.PatientBirthDate, vr.DA, tc.birth)
			}
			if tc.study != "" {
				ds.SetText(tag.StudyDate, vr.DA, tc.study)
			}
			got := collection.DICOMAttributes{}.AttributesFromDICOM(&ds).Attributes[ethos.AttrAgeBand]
			if got != tc.want {
				t.Fatalf("age band %q, want %q", got, tc.want)
			}
		})
	}
}

// TestHTMLInChromium renders the report of the DICOM corpus, loads it in
// headless Chromium and checks the DOM (every chart and table is there)
// and the screenshot (bars and flagged rows are painted). Set
// REPRESENTATION_SCREENSHOT=file.png to keep the picture.
func TestHTMLInChromium(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a browser")
	}
	chromium := testenv.Tool(t, "chromium")
	var recs []ethos.InstanceAttributes
	o := collection.DICOMAttributes{Key: bytes.Repeat([]byte("s"), 32)}
	for _, p := range corpusFiles(t) {
		if f, err := dicom.ParseFile(p, dicom.SkipPixelData()); err == nil {
			recs = append(recs, o.AttributesFromDICOM(&f.Dataset))
		}
	}
	_, ref := mustInputs(t)
	r, err := collection.Represent(recs, ref)
	if err != nil {
		t.Fatal(err)
	}
	var page bytes.Buffer
	if err := r.WriteHTML(&page); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	html := filepath.Join(dir, "report.html")
	if err := os.WriteFile(html, page.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	run := func(extra ...string) []byte {
		ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
		defer cancel()
		args := append([]string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
			"--disable-background-networking", "--disable-component-update", "--disable-sync", "--hide-scrollbars",
			"--user-data-dir=" + filepath.Join(dir, "profile")}, extra...)
		out, err := exec.CommandContext(ctx, chromium, append(args, "file://"+html)...).Output()
		if err != nil {
			t.Fatalf("chromium %v: %v", extra, err)
		}
		return out
	}
	dom := string(run("--dump-dom"))
	charts := 0
	for _, b := range r.Attributes {
		if len(b.Groups) <= 40 {
			charts++
		}
	}
	if n := strings.Count(dom, "<svg"); n < charts {
		t.Errorf("DOM has %d svg charts, want at least %d", n, charts)
	}
	if n, want := strings.Count(dom, "<table"), 1+len(r.Attributes)+len(r.Intersections); n != want {
		t.Errorf("DOM has %d tables, want %d", n, want)
	}
	if !strings.Contains(dom, "Observed and expected share: sex") {
		t.Error("sex chart title missing from the DOM")
	}

	shot := filepath.Join(dir, "report.png")
	run("--screenshot="+shot, "--window-size=1000,3000")
	f, err := os.Open(shot)
	if err != nil {
		t.Fatalf("no screenshot: %v", err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	if keep := os.Getenv("REPRESENTATION_SCREENSHOT"); keep != "" {
		b, _ := os.ReadFile(shot)
		os.WriteFile(keep, b, 0o644)
	}
	var blue, flagged int
	bounds := img.Bounds()
	for y := bounds.Min.Y; y < bounds.Max.Y; y++ {
		for x := bounds.Min.X; x < bounds.Max.X; x++ {
			r, g, b, _ := img.At(x, y).RGBA()
			r, g, b = r>>8, g>>8, b>>8
			if r < 40 && g > 90 && g < 140 && b > 150 { // the observed bars (#0072B2)
				blue++
			}
			if r > 245 && g > 220 && g < 240 && b > 220 && b < 236 { // flagged rows (#fde8e4)
				flagged++
			}
		}
	}
	if blue < 2000 {
		t.Errorf("only %d bar-coloured pixels: charts not painted", blue)
	}
	if flagged < 2000 {
		t.Errorf("only %d flagged-row pixels: findings not painted", flagged)
	}
}
