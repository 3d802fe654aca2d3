package evalstat_test

import (
	"math"
	"testing"

	"github.com/ethos-imaging/ethos/evalstat"
)

// TestCalibrationMomentsEqualRowByRow fits the calibration intercept and
// slope from binned moments and row by row on the same rows, with and
// without ties, well and badly calibrated.
func TestCalibrationMomentsEqualRowByRow(t *testing.T) {
	for _, tc := range []struct {
		name string
		rows []row
	}{
		{"Ties", synthRows(21, 20000)},
		{"SteepScores", func() []row {
			rows := synthRows(22, 20000)
			for i := range rows {
				// Push scores towards 0 and 1: a slope well below 1.
				s := math.Min(math.Max(rows[i].score, 1e-9), 1-1e-9)
				lp := 3 * math.Log(s/(1-s))
				rows[i].score = 1 / (1 + math.Exp(-lp))
			}
			return rows
		}()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fit := func(minRows int) *evalstat.Report {
				defer evalstat.SetCalMomentMinRows(minRows)()
				rep, err := evalstat.Evaluate(MustTable(t, tc.rows), evalstat.DefaultConfig())
				if err != nil {
					t.Fatal(err)
				}
				return rep
			}
			exact, binned := fit(1<<40), fit(0)
			for _, name := range []string{"overall", "grp=a", "grp=b", "grp=c"} {
				for _, m := range []string{"calibration_intercept", "calibration_slope"} {
					e, b := group(exact, name).Metrics[m], group(binned, name).Metrics[m]
					if !e.Defined() || !b.Defined() {
						t.Fatalf("%s %s undefined: %s / %s", name, m, e.Reason, b.Reason)
					}
					if math.Abs(e.Estimate-b.Estimate) > 1e-11 || math.Abs(e.CI["wald"].Lower-b.CI["wald"].Lower) > 1e-11 {
						t.Errorf("%s %s: row by row %.15g, binned %.15g", name, m, e.Estimate, b.Estimate)
					}
				}
			}
		})
	}
}
