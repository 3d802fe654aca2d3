package evalstat_test

import (
	"strings"
	"testing"

	"github.com/ethos-imaging/ethos/evalstat"
)

func TestJudge(t *testing.T) {
	rows := synthRows(9, 4000)
	cfg := evalstat.DefaultConfig()
	rep, err := evalstat.Evaluate(MustTable(t, rows), cfg)
	if err != nil {
		t.Fatal(err)
	}
	auc := rep.Overall.Metrics["auroc"]
	lo := auc.CI[evalstat.CIDeLong].Lower
	tests := []struct {
		name string
		json string
		want string
	}{
		{"PassOverallCILower", `[{"metric":"auroc","scope":"overall","bound":"ci_lower","comparator":">=","value":` + formatFloat(lo-0.01) + `}]`, evalstat.Pass},
		{"FailOverallCILower", `[{"metric":"auroc","scope":"overall","bound":"ci_lower","comparator":">=","value":` + formatFloat(lo+0.01) + `}]`, evalstat.Fail},
		{"FailEveryGroupSensitivity", `[{"metric":"sensitivity","scope":"group","attribute":"grp","comparator":">=","value":0.99}]`, evalstat.Fail},
		{"UndeterminedSmallGroup", `[{"metric":"sensitivity","scope":"group","group":"grp=c","comparator":">=","value":0,"id":"x"}]`, ""},
		{"GapPass", `[{"metric":"sensitivity","scope":"gap","attribute":"grp","aggregate":"difference","comparator":"<=","value":1}]`, evalstat.Pass},
		{"FairnessMeasureFail", `[{"metric":"equalized_odds_difference","scope":"gap","attribute":"grp","comparator":"<=","value":0}]`, evalstat.Fail},
		{"UndeterminedNoInterval", `[{"metric":"brier","scope":"overall","bound":"ci_upper","comparator":"<=","value":1}]`, evalstat.Undetermined},
		{"UndeterminedUnknownGrouping", `[{"metric":"auroc","scope":"gap","attribute":"nope","comparator":"<=","value":1}]`, evalstat.Undetermined},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cs, err := evalstat.ReadCriteria(strings.NewReader(tc.json))
			if err != nil {
				t.Fatal(err)
			}
			rep.Judge(cs)
			j := rep.Criteria[0]
			want := tc.want
			if want == "" {
				// grp=c has about 5 % of 4000 rows: judged unless flagged.
				want = evalstat.Pass
				if group(rep, "grp=c").TooSmallToJudge {
					want = evalstat.Undetermined
				}
			}
			if j.Outcome != want || j.Evidence == "" {
				t.Errorf("outcome %s (%s), want %s", j.Outcome, j.Evidence, want)
			}
		})
	}
}

func TestReadCriteriaErrors(t *testing.T) {
	for _, tc := range []struct{ name, json, want string }{
		{"ErrUnknownMetric", `[{"metric":"auc","scope":"overall","comparator":">=","value":1}]`, "unknown metric"},
		{"ErrBadScope", `[{"metric":"auroc","scope":"all","comparator":">=","value":1}]`, "scope"},
		{"ErrBadComparator", `[{"metric":"auroc","scope":"overall","comparator":"=>","value":1}]`, "comparator"},
		{"ErrGapNeedsAttribute", `[{"metric":"auroc","scope":"gap","comparator":"<=","value":1}]`, "attribute"},
		{"ErrFairnessNeedsGap", `[{"metric":"demographic_parity_difference","scope":"overall","comparator":"<=","value":1}]`, "scope gap"},
		{"ErrUnknownField", `[{"metric":"auroc","scope":"overall","comparator":">=","value":1,"limit":2}]`, "unknown field"},
		{"ErrNotAList", `{"metric":"auroc"}`, "criteria"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := evalstat.ReadCriteria(strings.NewReader(tc.json))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want it to mention %q", err, tc.want)
			}
		})
	}
}
