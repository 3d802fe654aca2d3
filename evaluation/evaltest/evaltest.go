// Package evaltest holds the evaluation stage's test fixtures: a
// predictions table derived from the real flchain study, a plan for it
// and an audit adapter that returns event indexes. Tests of the stage,
// the HTTP API and the command share them.
package evaltest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/ethos-imaging/ethos"
	"github.com/ethos-imaging/ethos/audit"
	"github.com/ethos-imaging/ethos/internal/testenv"
)

// FLCScore maps total serum free light chain (kappa + lambda, mg/dl) to
// [0, 1] monotonically, as evalstat's flchain test and docs/metrics.md do:
// x/(x + 3). It ranks people exactly as the marker does.
func FLCScore(kappa, lambda float64) float64 {
	x := kappa + lambda
	return x / (x + 3)
}

// AgeBand groups ages by decade from 50; 80 and over together.
func AgeBand(age int) string {
	switch {
	case age >= 80:
		return "80+"
	case age >= 70:
		return "70-79"
	case age >= 60:
		return "60-69"
	}
	return "50-59"
}

// FLChainRows is the number of people in flchain.csv.
const FLChainRows = 7874

// FLChainCSV returns predictions derived from the real flchain study
// (../shared/testdata/tabular/flchain.csv): columns person (row number),
// sex, age_band, death (0/1) and score (FLCScore, 6 decimals).
func FLChainCSV(tb testing.TB) []byte {
	tb.Helper()
	data, err := os.ReadFile(filepath.Join(testenv.Shared(tb), "testdata", "tabular", "flchain.csv"))
	if err != nil {
		tb.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	var b bytes.Buffer
	b.WriteString("person,sex,age_band,death,score\n")
	for i, l := range lines[1:] {
		f := strings.Split(strings.TrimRight(l, "\r"), ",")
		if len(f) < 10 {
			tb.Fatalf("flchain line %d: %d fields", i+2, len(f))
		}
		age, err0 := strconv.Atoi(f[0])
		kappa, err1 := strconv.ParseFloat(f[3], 64)
		lambda, err2 := strconv.ParseFloat(f[4], 64)
		if err0 != nil || err1 != nil || err2 != nil {
			tb.Fatalf("flchain line %d: bad age, kappa or lambda", i+2)
		}
		fmt.Fprintf(&b, "p%d,%s,%s,%s,%.6f\n", i+1, strings.Trim(f[1], `"`), AgeBand(age), f[9], FLCScore(kappa, lambda))
	}
	return b.Bytes()
}

// FLChainCriteria are acceptance criteria for the free-light-chain score
// as a predictor of death, in the format of "ethos eval --criteria".
const FLChainCriteria = `[
 {"id":"C1","description":"AUROC overall, lower 95% bound at least 0.65","metric":"auroc","scope":"overall","bound":"ci_lower","comparator":">=","value":0.65},
 {"id":"C2","description":"sensitivity at the operating point at least 0.60","metric":"sensitivity","scope":"overall","comparator":">=","value":0.60},
 {"id":"C3","description":"sensitivity gap between sexes at most 0.05","metric":"sensitivity","scope":"gap","attribute":"sex","comparator":"<=","value":0.05},
 {"id":"C4","description":"specificity at least 0.40 in every age band","metric":"specificity","scope":"group","attribute":"age_band","comparator":">=","value":0.40},
 {"id":"C5","description":"PPV at 10% prevalence at least 0.12","metric":"ppv_at_prevalence","scope":"overall","comparator":">=","value":0.12}
]`

// FLChainPlan returns a plan for the flchain predictions in project.
func FLChainPlan(projectID string) *ethos.EvaluationPlan {
	return &ethos.EvaluationPlan{ProjectID: projectID, ModelVersionID: "flc-marker-v1", DatasetVersionID: "flchain-1995-2012",
		Title: "Free light chain as a predictor of death", IntendedUse: "flag people at raised risk of death for review (demonstration on the flchain study)",
		LabelColumn: "death", ScoreColumn: "score", PatientColumn: "person", Attributes: []string{"sex", "age_band"}, Intersect: true,
		GroupLabels: map[string]string{"sex=F": "women", "sex=M": "men", "age_band=80+": "people aged 80 and over"},
		Threshold:   0.5, Prevalence: 0.1, Bootstrap: 200, Seed: 2012, Criteria: json.RawMessage(FLChainCriteria)}
}

// Auditor records ethos.AuditEvents in an audit.Log and returns their
// indexes.
type Auditor struct{ Log *audit.Log }

// RecordIndexed appends e and returns its index.
func (a Auditor) RecordIndexed(ctx context.Context, e ethos.AuditEvent) (int64, error) {
	return a.Log.Append(ctx, audit.Event{Time: e.Time, Actor: e.Actor, Party: e.Party, Action: e.Action, Resource: e.Resource,
		Stage: string(e.Stage), Purpose: string(e.Purpose), Decision: e.Decision, Reason: e.Reason, RequestID: e.RequestID})
}
