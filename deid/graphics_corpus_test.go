package deid_test

import (
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/ethos-imaging/ethos/deid"
	"github.com/ethos-imaging/ethos/internal/testenv"
)

// graphicsLine matches a dcmdump line of curve data (50xx,xxxx) or overlay
// data (60xx,3000) at any depth.
var graphicsLine = regexp.MustCompile(`^\s*\((50[0-9a-f]{2},[0-9a-f]{4}|60[0-9a-f]{2},3000)\)`)

func graphicsTags(t *testing.T, dcmdump, path string) []string {
	t.Helper()
	b, err := exec.Command(dcmdump, "-q", "-M", path).Output()
	if err != nil {
		t.Fatalf("dcmdump %s: %v", filepath.Base(path), err)
	}
	var tags []string
	for _, l := range strings.Split(string(b), "\n") {
		if m := graphicsLine.FindStringSubmatch(l); m != nil {
			tags = append(tags, m[1])
		}
	}
	return tags
}

// TestCorpusCleanGraphicsRemovesOverlaysAndCurves runs the corpus under
// Clean Graphics: the files that carry curves or overlay bitmaps come out
// without them, read by dcmdump and with no new dciodvfy errors.
func TestCorpusCleanGraphicsRemovesOverlaysAndCurves(t *testing.T) {
	dcmdump := testenv.Tool(t, "dcmdump")
	dciodvfy := testenv.Tool(t, "dciodvfy")
	dir := testenv.DICOMDir(t)
	out, res := runDir(t, dir, corpusSecret, deid.Options(0).With(deid.CleanGraphics))
	checked := 0
	for _, f := range written(res) {
		in := filepath.Join(dir, f.Input)
		if len(graphicsTags(t, dcmdump, in)) == 0 {
			continue
		}
		checked++
		got := filepath.Join(out, f.Output)
		if left := graphicsTags(t, dcmdump, got); len(left) > 0 {
			t.Errorf("%s: graphics kept under Clean Graphics: %v", f.Input, left)
		}
		before, after := dciodvfyErrors(t, dciodvfy, in), dciodvfyErrors(t, dciodvfy, got)
		if len(after) > len(before) {
			t.Errorf("%s: dciodvfy reports %d errors after, %d before:\n%s", f.Input, len(after), len(before), strings.Join(after, "\n"))
		}
	}
	t.Logf("%d written files carried overlays or curves", checked)
	if checked == 0 {
		t.Error("no written corpus file carried overlays or curves: the test proves nothing")
	}
}
