package svgchart_test

import (
	"bytes"
	"encoding/xml"
	"errors"
	"flag"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ethos-imaging/ethos/svgchart"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// chart is what every chart kind implements.
type chart interface {
	SVG() ([]byte, error)
	WriteSVG(io.Writer) error
}

var nan = math.NaN()

func day(d int) time.Time { return time.Date(2026, 3, 1+d, 8, 0, 0, 0, time.UTC) }

// samples are the golden cases: one per chart kind and feature, plus the
// degenerate inputs that must still render.
func samples() []struct {
	name  string
	chart chart
} {
	roc := func(name string, k float64) svgchart.Series {
		var s svgchart.Series
		s.Name = name
		for i := 0; i <= 50; i++ {
			x := float64(i) / 50
			s.X = append(s.X, x)
			s.Y = append(s.Y, math.Pow(x, 1/k))
		}
		return s
	}
	var timeline []svgchart.TimePoint
	for d := 0; d < 30; d++ {
		v := 0.04 + 0.01*math.Sin(float64(d))
		if d >= 20 {
			v += 0.02 * float64(d-19)
		}
		timeline = append(timeline, svgchart.TimePoint{T: day(d), V: v})
	}
	return []struct {
		name  string
		chart chart
	}{
		{"bar_grouped", &svgchart.BarChart{
			Options:    svgchart.Options{Title: "Share by sex and site", YLabel: "Share of images", XLabel: "Sex"},
			Categories: []string{"female", "male", "unknown"},
			Series: []svgchart.BarSeries{
				{Name: "Site A", Values: []float64{0.52, 0.46, 0.02}, Reference: []float64{0.51, 0.49, nan}},
				{Name: "Site B", Values: []float64{0.38, 0.60, 0.02}, Reference: []float64{0.51, 0.49, nan}},
			},
			ShowValues: true, Format: svgchart.Percent(0), ReferenceName: "Expected share",
		}},
		{"bar_horizontal", &svgchart.BarChart{
			Options:    svgchart.Options{Title: "Images per manufacturer", XLabel: "Images", Width: 560, Height: 300},
			Categories: []string{"GE MEDICAL SYSTEMS", "SIEMENS", "Philips Medical Systems", "a very long manufacturer name that must be shortened <&>"},
			Series:     []svgchart.BarSeries{{Values: []float64{1200, 830, 95, nan}}},
			Horizontal: true, ShowValues: true,
		}},
		{"bar_rotated_labels", &svgchart.BarChart{
			Options:    svgchart.Options{Title: "Share per age band", XLabel: "Age band (years)", YLabel: "Share", Width: 520, Height: 320},
			Categories: []string{"0 to 17 years", "18 to 39 years", "40 to 64 years", "65 to 79 years", "80 years and older", "age not recorded in the header"},
			Series: []svgchart.BarSeries{{Name: "Collected", Values: []float64{0.01, 0.22, 0.41, 0.26, 0.08, 0.02},
				Reference: []float64{0.02, 0.25, 0.38, 0.24, 0.11, nan}}},
			Format: svgchart.Percent(0), ReferenceName: "Population",
		}},
		{"bar_negative", &svgchart.BarChart{
			Options:    svgchart.Options{Title: "Gap to overall"},
			Categories: []string{"18-39", "40-64", "65+"},
			Series:     []svgchart.BarSeries{{Name: "Sensitivity gap", Values: []float64{0.02, -0.01, -0.07}}},
		}},
		{"roc", svgchart.ROCChart(svgchart.Options{Title: "ROC by sex"}, []svgchart.Series{roc("female (AUROC 0.81)", 3), roc("male (AUROC 0.76)", 2.2)})},
		{"calibration", svgchart.CalibrationChart(svgchart.Options{Title: "Calibration"}, []svgchart.Series{
			{Name: "overall", X: []float64{0.05, 0.15, 0.25, 0.35, 0.5, 0.7, 0.9}, Y: []float64{0.03, 0.12, 0.3, 0.33, 0.55, 0.62, 0.93}},
		})},
		{"decision_curve", svgchart.DecisionCurveChart(svgchart.Options{Title: "Decision curve"},
			[]svgchart.Series{{Name: "model", X: []float64{0.05, 0.1, 0.2, 0.3, 0.4}, Y: []float64{0.17, 0.14, 0.09, 0.05, 0.02}}},
			svgchart.Series{X: []float64{0.05, 0.1, 0.2, 0.3, 0.4}, Y: []float64{0.158, 0.111, 0, -0.143, -0.333}})},
		{"line_gap", &svgchart.LineChart{
			Options: svgchart.Options{Title: "Series with a gap", XLabel: "x", YLabel: "y"},
			Series:  []svgchart.Series{{Name: "a", X: []float64{1, 2, 3, 4, 5}, Y: []float64{1, 4, nan, 16, math.Inf(1)}}},
		}},
		{"forest", &svgchart.ForestPlot{
			Options: svgchart.Options{Title: "Sensitivity by group", XLabel: "Sensitivity (95% CI)"},
			Rows: []svgchart.ForestRow{
				{Label: "Overall", Estimate: 0.91, Lower: 0.88, Upper: 0.93},
				{Label: "Sex", Heading: true},
				{Label: "female", Estimate: 0.93, Lower: 0.89, Upper: 0.96},
				{Label: "male", Estimate: 0.88, Lower: 0.83, Upper: 0.92},
				{Label: "Age band", Heading: true},
				{Label: "90+", Estimate: 0.7, Lower: 0.35, Upper: 0.93, Note: "n = 9, too small", Muted: true},
				{Label: "unknown", Estimate: nan, Lower: nan, Upper: nan, Note: "no positives"},
			},
			References: []svgchart.RefLine{{Value: 0.9, Label: "criterion ≥ 0.90"}},
			XRange:     svgchart.Range{Min: 0.5, Max: 1},
		}},
		{"timeline", &svgchart.Timeline{
			Options: svgchart.Options{Title: "PSI of scanner model, daily", YLabel: "PSI", Width: 720, Height: 320},
			Series:  []svgchart.TimeSeries{{Name: "PSI", Points: timeline}},
			Bands: []svgchart.Band{
				{Min: math.Inf(-1), Max: 0.1, Label: "stable", Level: svgchart.LevelOK},
				{Min: 0.1, Max: 0.25, Label: "moderate drift", Level: svgchart.LevelWarning},
				{Min: 0.25, Max: math.Inf(1), Label: "significant drift", Level: svgchart.LevelAlert},
			},
			Thresholds: []svgchart.RefLine{{Value: 0.25, Label: "alert threshold"}},
			Alerts:     []svgchart.Alert{{T: day(25), V: 0.27, Label: "PSI 0.27 ≥ 0.25"}},
		}},
		{"icon_array", &svgchart.IconArray{
			Options:   svgchart.Options{Title: "Of 100 patients who have the condition", Width: 420, Height: 420},
			Groups:    []svgchart.IconGroup{{Label: "are flagged by the model", Count: 92}},
			RestLabel: "are missed",
		}},
		{"icon_array_groups", &svgchart.IconArray{
			Options: svgchart.Options{Title: "Of 50 women over 65", Width: 480, Height: 260},
			Total:   50, Columns: 25,
			Groups:    []svgchart.IconGroup{{Label: "flagged", Count: 42}, {Label: "flagged in the interval's low case only", Count: 3}},
			RestLabel: "missed",
		}},
		{"empty_bar", &svgchart.BarChart{Options: svgchart.Options{Title: "Nothing yet"}}},
		{"empty_line_all_nan", &svgchart.LineChart{Options: svgchart.Options{Title: "NaN only"},
			Series: []svgchart.Series{{Name: "a", X: []float64{nan, 1}, Y: []float64{1, nan}}}}},
		{"empty_forest", &svgchart.ForestPlot{Options: svgchart.Options{Title: "No rows"}}},
		{"empty_timeline", &svgchart.Timeline{Options: svgchart.Options{Title: "No events"}}},
		{"single_point_timeline", &svgchart.Timeline{Series: []svgchart.TimeSeries{{Name: "rate", Points: []svgchart.TimePoint{{T: day(0), V: 3}}}}}},
	}
}

func TestGolden(t *testing.T) {
	for _, tc := range samples() {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.chart.SVG()
			if err != nil {
				t.Fatalf("SVG: %v", err)
			}
			mustWellFormed(t, got)
			again, err := tc.chart.SVG()
			if err != nil || !bytes.Equal(got, again) {
				t.Fatalf("second rendering differs (deterministic output required)")
			}
			path := filepath.Join("testdata", tc.name+".svg")
			if *update {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("read golden (run go test -update): %v", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("output differs from %s (run go test -update after checking the change)", path)
			}
		})
	}
}

// svgRoot is the part of the document the accessibility tests look at.
type svgRoot struct {
	XMLName    xml.Name `xml:"svg"`
	Role       string   `xml:"role,attr"`
	LabelledBy string   `xml:"aria-labelledby,attr"`
	ViewBox    string   `xml:"viewBox,attr"`
	Title      struct {
		ID   string `xml:"id,attr"`
		Text string `xml:",chardata"`
	} `xml:"title"`
	Desc struct {
		ID   string `xml:"id,attr"`
		Text string `xml:",chardata"`
	} `xml:"desc"`
}

func mustWellFormed(t *testing.T, b []byte) svgRoot {
	t.Helper()
	dec := xml.NewDecoder(bytes.NewReader(b))
	dec.Strict = true
	for {
		_, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("SVG is not well-formed XML: %v\n%s", err, b)
		}
	}
	var root svgRoot
	if err := xml.Unmarshal(b, &root); err != nil {
		t.Fatalf("unmarshal: %v", err)
	}
	if root.XMLName.Space != "http://www.w3.org/2000/svg" {
		t.Errorf("namespace = %q", root.XMLName.Space)
	}
	return root
}

func TestAccessible(t *testing.T) {
	for _, tc := range samples() {
		t.Run(tc.name, func(t *testing.T) {
			b, err := tc.chart.SVG()
			if err != nil {
				t.Fatal(err)
			}
			root := mustWellFormed(t, b)
			if root.Role != "img" {
				t.Errorf("role = %q, want img", root.Role)
			}
			if root.Title.Text == "" || root.Desc.Text == "" {
				t.Errorf("title %q / desc %q must not be empty", root.Title.Text, root.Desc.Text)
			}
			want := root.Title.ID + " " + root.Desc.ID
			if root.LabelledBy != want {
				t.Errorf("aria-labelledby = %q, want %q", root.LabelledBy, want)
			}
			if strings.Contains(string(b), "<script") || strings.Contains(string(b), "http://") && strings.Count(string(b), "http://") != 1 {
				t.Errorf("chart must not contain scripts or external references")
			}
		})
	}
}

func TestEmptyDataSaysNoData(t *testing.T) {
	for _, tc := range samples() {
		if !strings.HasPrefix(tc.name, "empty_") {
			continue
		}
		t.Run(tc.name, func(t *testing.T) {
			b, err := tc.chart.SVG()
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Contains(b, []byte(">No data</text>")) {
				t.Errorf("no visible 'No data' notice")
			}
		})
	}
}

func TestTextIsEscaped(t *testing.T) {
	evil := `</text><script>alert(1)</script>&amp;"'` + "\x00\x07\ufffe"
	charts := map[string]chart{
		"bar": &svgchart.BarChart{Options: svgchart.Options{Title: evil, Desc: evil, XLabel: evil, YLabel: evil, ID: evil},
			Categories: []string{evil}, Series: []svgchart.BarSeries{{Name: evil, Values: []float64{1}, Reference: []float64{2}}},
			ReferenceName: evil, ShowValues: true},
		"line": &svgchart.LineChart{Options: svgchart.Options{Title: evil, XLabel: evil, YLabel: evil},
			Series: []svgchart.Series{{Name: evil, X: []float64{0, 1}, Y: []float64{0, 1}}, {Name: evil, X: []float64{0, 1}, Y: []float64{1, 0}, Reference: true}}},
		"forest": &svgchart.ForestPlot{Options: svgchart.Options{Title: evil, XLabel: evil},
			Rows:       []svgchart.ForestRow{{Label: evil, Estimate: 1, Lower: 0, Upper: 2, Note: evil}, {Label: evil, Heading: true}},
			References: []svgchart.RefLine{{Value: 1, Label: evil}}},
		"timeline": &svgchart.Timeline{Options: svgchart.Options{Title: evil, YLabel: evil},
			Series:     []svgchart.TimeSeries{{Name: evil, Points: []svgchart.TimePoint{{T: day(0), V: 1}, {T: day(1), V: 2}}}},
			Bands:      []svgchart.Band{{Min: 0, Max: 1, Label: evil}},
			Thresholds: []svgchart.RefLine{{Value: 1.5, Label: evil}},
			Alerts:     []svgchart.Alert{{T: day(1), V: 2, Label: evil}}},
	}
	for name, c := range charts {
		t.Run(name, func(t *testing.T) {
			b, err := c.SVG()
			if err != nil {
				t.Fatal(err)
			}
			mustWellFormed(t, b)
			if bytes.Contains(b, []byte("<script")) {
				t.Errorf("unescaped markup in output")
			}
			if bytes.ContainsAny(b, "\x00\x07") {
				t.Errorf("control characters in output")
			}
		})
	}
}

func TestErrors(t *testing.T) {
	tests := []struct {
		name  string
		chart chart
		want  error
	}{
		{"ErrLengthBarValues", &svgchart.BarChart{Categories: []string{"a", "b"}, Series: []svgchart.BarSeries{{Values: []float64{1}}}}, svgchart.ErrLength},
		{"ErrLengthBarReference", &svgchart.BarChart{Categories: []string{"a"}, Series: []svgchart.BarSeries{{Values: []float64{1}, Reference: []float64{1, 2}}}}, svgchart.ErrLength},
		{"ErrLengthLine", &svgchart.LineChart{Series: []svgchart.Series{{X: []float64{1, 2}, Y: []float64{1}}}}, svgchart.ErrLength},
		{"ErrSizeNegative", &svgchart.LineChart{Options: svgchart.Options{Width: -5}}, svgchart.ErrSize},
		{"ErrSizeHuge", &svgchart.ForestPlot{Options: svgchart.Options{Width: 1 << 30}}, svgchart.ErrSize},
		{"ErrSizeTimeline", &svgchart.Timeline{Options: svgchart.Options{Height: 10}}, svgchart.ErrSize},
		{"ErrValueIconsOverflow", &svgchart.IconArray{Groups: []svgchart.IconGroup{{Count: 60}, {Count: 41}}}, svgchart.ErrValue},
		{"ErrValueIconsNegative", &svgchart.IconArray{Groups: []svgchart.IconGroup{{Count: -1}}}, svgchart.ErrValue},
		{"ErrValueIconsTotal", &svgchart.IconArray{Total: 5000}, svgchart.ErrValue},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			err := tc.chart.WriteSVG(&buf)
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if _, ok := errors.AsType[*svgchart.Error](err); !ok {
				t.Errorf("error %T is not a *svgchart.Error", err)
			}
			if buf.Len() != 0 {
				t.Errorf("partial output written on error: %d bytes", buf.Len())
			}
		})
	}
	t.Run("ErrTimeRangeReversed", func(t *testing.T) {
		_, err := (&svgchart.Timeline{From: day(2), To: day(1)}).SVG()
		if _, ok := errors.AsType[*svgchart.Error](err); !ok {
			t.Fatalf("err = %v, want *svgchart.Error", err)
		}
	})
}

func TestDistinctChartsHaveDistinctIDs(t *testing.T) {
	ids := map[string]string{}
	for _, tc := range samples() {
		b, _ := tc.chart.SVG()
		root := mustWellFormed(t, b)
		if prev, ok := ids[root.Title.ID]; ok {
			t.Errorf("%s and %s share id %s", prev, tc.name, root.Title.ID)
		}
		ids[root.Title.ID] = tc.name
	}
	c := &svgchart.BarChart{Options: svgchart.Options{ID: "fig 1/a"}}
	b, _ := c.SVG()
	if got := mustWellFormed(t, b).Title.ID; got != "fig_1_a-title" {
		t.Errorf("explicit ID: title id = %q", got)
	}
}

func TestPercent(t *testing.T) {
	f := svgchart.Percent(1)
	for in, want := range map[float64]string{0.256: "25.6%", 0: "0.0%", 1: "100.0%"} {
		if got := f(in); got != want {
			t.Errorf("Percent(1)(%v) = %q, want %q", in, got, want)
		}
	}
	if got := f(nan); got != "n/a" {
		t.Errorf("Percent of NaN = %q", got)
	}
}

// FuzzCharts feeds arbitrary numbers and labels to every chart kind: the
// output must always be well-formed XML and nothing may panic.
func FuzzCharts(f *testing.F) {
	f.Add("female", 0.5, 0.2, -3.0, 1e300, int64(0), int64(86400))
	f.Add("<&>", math.NaN(), math.Inf(1), 0.0, 0.0, int64(-1e12), int64(1e12))
	f.Add("", 0.0, 0.0, 0.0, 0.0, int64(5), int64(5))
	f.Fuzz(func(t *testing.T, label string, a, b, c, d float64, t0, t1 int64) {
		charts := []chart{
			&svgchart.BarChart{Options: svgchart.Options{Title: label}, Categories: []string{label, "x"},
				Series: []svgchart.BarSeries{{Name: label, Values: []float64{a, b}, Reference: []float64{c, d}}}, ShowValues: true},
			&svgchart.BarChart{Categories: []string{label}, Horizontal: true, ValueRange: svgchart.Range{Min: c, Max: d},
				Series: []svgchart.BarSeries{{Values: []float64{a}}}},
			&svgchart.LineChart{Series: []svgchart.Series{{Name: label, X: []float64{a, b, c}, Y: []float64{b, c, d}}}, XRange: svgchart.Range{Min: a, Max: b}},
			&svgchart.ForestPlot{Rows: []svgchart.ForestRow{{Label: label, Estimate: a, Lower: b, Upper: c}}, References: []svgchart.RefLine{{Value: d}}},
			&svgchart.Timeline{Series: []svgchart.TimeSeries{{Name: label, Points: []svgchart.TimePoint{{T: time.Unix(t0, 0), V: a}, {T: time.Unix(t1, 0), V: b}}}},
				Bands: []svgchart.Band{{Min: c, Max: d, Label: label}}, Alerts: []svgchart.Alert{{T: time.Unix(t1, 0), V: c}}},
			&svgchart.IconArray{Options: svgchart.Options{Title: label}, Total: int(t0 % 1200), Columns: int(t1 % 40),
				Groups: []svgchart.IconGroup{{Label: label, Count: int(t1 % 300)}}, RestLabel: label},
		}
		for _, ch := range charts {
			out, err := ch.SVG()
			if err != nil {
				continue
			}
			dec := xml.NewDecoder(bytes.NewReader(out))
			for {
				_, err := dec.Token()
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatalf("not well-formed: %v", err)
				}
			}
			if len(out) > 1<<20 {
				t.Fatalf("output of %d bytes for a tiny chart", len(out))
			}
		}
	})
}

// TestTimelineTicks renders timelines over different spans and checks
// that the time axis is labelled at calendar-aware steps in the chosen
// time zone.
func TestTimelineTicks(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Skipf("no time zone data: %v", err)
	}
	start := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC) // a Monday
	tests := []struct {
		name string
		span time.Duration
		loc  *time.Location
		want []string
	}{
		{"Hours", 3 * time.Hour, nil, []string{">10:00<", ">11:00<"}},
		{"Days", 9 * 24 * time.Hour, nil, []string{">Mar 4<", ">Mar 6<"}},
		{"WeeksStartMonday", 30 * 24 * time.Hour, nil, []string{">Mar 9<", ">Mar 16<"}},
		{"Months", 200 * 24 * time.Hour, nil, []string{">Apr 2026<", ">Jul 2026<"}},
		{"Years", 9 * 365 * 24 * time.Hour, nil, []string{">2028<", ">2030<"}},
		{"TimeZone", 3 * time.Hour, berlin, []string{">11:00<", ">12:00<"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var pts []svgchart.TimePoint
			for i := range 20 {
				pts = append(pts, svgchart.TimePoint{T: start.Add(tc.span * time.Duration(i) / 19), V: float64(i % 5)})
			}
			c := &svgchart.Timeline{Options: svgchart.Options{Title: tc.name}, Series: []svgchart.TimeSeries{{Name: "v", Points: pts}}, Location: tc.loc}
			b, err := c.SVG()
			if err != nil {
				t.Fatal(err)
			}
			mustWellFormed(t, b)
			for _, w := range tc.want {
				if !bytes.Contains(b, []byte(w)) {
					t.Errorf("no tick label %s", w)
				}
			}
		})
	}
}
