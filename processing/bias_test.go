package processing_test

import (
	"math"
	"strings"
	"testing"

	"github.com/ethos-imaging/ethos"
	"github.com/ethos-imaging/ethos/processing"
)

// items makes n items of one sex, of which excluded are quarantined.
func items(sex string, n, excluded int) []ethos.ProcessingItem {
	var out []ethos.ProcessingItem
	for i := range n {
		it := ethos.ProcessingItem{Status: ethos.ItemWritten, Group: map[string]string{"sex": sex, "ageBand": "40-49"}, Modality: "CT"}
		if i < excluded {
			it.Status, it.Reasons = ethos.ItemQuarantined, []string{"test"}
		}
		out = append(out, it)
	}
	return out
}

func TestBias(t *testing.T) {
	tests := []struct {
		name        string
		items       []ethos.ProcessingItem
		opts        processing.BiasOptions
		flaggedSex  map[string]bool
		wantOverall float64
	}{
		{"FemaleLosesDisproportionately", append(items("F", 100, 30), items("M", 100, 5)...), processing.BiasOptions{}, map[string]bool{"F": true}, 35.0 / 200},
		{"EqualLossNotFlagged", append(items("F", 100, 10), items("M", 100, 10)...), processing.BiasOptions{}, nil, 0.1},
		{"SmallGroupNotFlaggedByChance", append(items("F", 3, 1), items("M", 100, 5)...), processing.BiasOptions{}, nil, 6.0 / 103},
		{"HigherThresholdNotFlagged", append(items("F", 100, 30), items("M", 100, 5)...), processing.BiasOptions{Threshold: 0.2}, nil, 35.0 / 200},
		{"NoLossNoFlag", items("O", 10, 0), processing.BiasOptions{}, nil, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := processing.Bias(tt.items, tt.opts)
			if math.Abs(b.Overall-tt.wantOverall) > 1e-12 {
				t.Errorf("overall %g, want %g", b.Overall, tt.wantOverall)
			}
			flagged := 0
			for _, g := range b.Groups {
				if g.Before != g.Excluded+g.After || g.Lower > g.Rate || g.Upper < g.Rate {
					t.Errorf("%s=%s: inconsistent %+v", g.Attribute, g.Value, g)
				}
				want := g.Attribute == "sex" && tt.flaggedSex[g.Value]
				if g.Flagged != want {
					t.Errorf("%s=%s flagged %v, want %v (%+v)", g.Attribute, g.Value, g.Flagged, want, g)
				}
				if g.Flagged {
					flagged++
					if !strings.Contains(g.Why, "sex=") {
						t.Errorf("flag without a reason: %q", g.Why)
					}
				}
			}
			if flagged != b.Flagged {
				t.Errorf("flagged count %d, groups flagged %d", b.Flagged, flagged)
			}
		})
	}
}

func TestBiasWilsonInterval(t *testing.T) {
	// 30 of 100 at 95 %: Wilson interval 0.2189–0.3958 (by hand from the
	// score formula).
	b := processing.Bias(append(items("F", 100, 30), items("M", 100, 5)...), processing.BiasOptions{})
	for _, g := range b.Groups {
		if g.Attribute == "sex" && g.Value == "F" {
			if math.Abs(g.Lower-0.2189) > 5e-4 || math.Abs(g.Upper-0.3958) > 5e-4 {
				t.Errorf("interval %.4f–%.4f", g.Lower, g.Upper)
			}
			return
		}
	}
	t.Fatal("no sex=F group")
}
