package svgchart_test

import (
	"context"
	"fmt"
	"image"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ethos-imaging/ethos/internal/testenv"
)

// TestChromiumRenders puts every sample chart inline in an HTML page,
// screenshots it with headless Chromium (network features off) and checks
// that the picture is not blank: it must contain ink in every chart's cell
// and several distinct colours. Set SVGCHART_SCREENSHOT=file.png to keep
// the screenshot.
func TestChromiumRenders(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a browser")
	}
	chromium := testenv.Tool(t, "chromium")
	dir := t.TempDir()
	var page strings.Builder
	page.WriteString(`<!doctype html><html><head><meta charset="utf-8"><title>svgchart samples</title>
<style>body{margin:0;background:#fff;display:grid;grid-template-columns:repeat(4,300px);gap:0}
.cell{width:300px;height:300px;overflow:hidden}.cell svg{width:300px;height:auto;max-height:300px}</style></head><body>`)
	cells := 0
	for _, tc := range samples() {
		b, err := tc.chart.SVG()
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&page, "<div class=\"cell\">%s</div>\n", b)
		cells++
	}
	page.WriteString("</body></html>\n")
	html := filepath.Join(dir, "charts.html")
	if err := os.WriteFile(html, []byte(page.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	shot := filepath.Join(dir, "charts.png")
	rows := (cells + 3) / 4
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, chromium, "--headless", "--no-sandbox", "--disable-gpu",
		"--disable-quic", "--no-first-run", "--disable-background-networking",
		"--disable-component-update", "--disable-sync", "--hide-scrollbars",
		"--user-data-dir="+filepath.Join(dir, "profile"),
		"--screenshot="+shot, fmt.Sprintf("--window-size=1200,%d", rows*300),
		"file://"+html)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("chromium: %v\n%s", err, out)
	}
	f, err := os.Open(shot)
	if err != nil {
		t.Fatalf("no screenshot produced: %v", err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("decode screenshot: %v", err)
	}
	if keep := os.Getenv("SVGCHART_SCREENSHOT"); keep != "" {
		data, _ := os.ReadFile(shot)
		if err := os.WriteFile(keep, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	colours := map[uint32]bool{}
	for i := range cells {
		cell := image.Rect(i%4*300, i/4*300, i%4*300+300, i/4*300+300).Intersect(img.Bounds())
		ink := 0
		for y := cell.Min.Y; y < cell.Max.Y; y++ {
			for x := cell.Min.X; x < cell.Max.X; x++ {
				r, g, b, _ := img.At(x, y).RGBA()
				if r < 0xe000 || g < 0xe000 || b < 0xe000 {
					ink++
				}
				colours[(r>>12)<<8|(g>>12)<<4|b>>12] = true
			}
		}
		if ink < 100 {
			t.Errorf("chart %d (%s) looks blank: %d dark pixels", i, samples()[i].name, ink)
		}
	}
	if len(colours) < 20 {
		t.Errorf("screenshot has only %d distinct colours", len(colours))
	}
}
