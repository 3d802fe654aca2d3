package evalstat_test

import (
	"fmt"
	"strings"

	"github.com/ethos-imaging/ethos/evalstat"
)

// The evaluation stage calls the engine directly: build a table (or read
// one with ReadCSV), evaluate it, judge the pre-registered criteria.
func ExampleEvaluate() {
	t, _ := evalstat.NewTable([]string{"sex"}, false)
	rows := []struct {
		died  bool
		score float64
		sex   string
	}{
		{true, 0.9, "F"}, {true, 0.7, "F"}, {false, 0.6, "F"}, {false, 0.2, "F"},
		{true, 0.8, "M"}, {true, 0.4, "M"}, {false, 0.3, "M"}, {false, 0.1, "M"},
	}
	for _, r := range rows {
		t.Add(r.died, r.score, []string{r.sex}, "")
	}
	cfg := evalstat.DefaultConfig()
	cfg.MinGroupSize = 1
	cfg.MinClassCount = 1
	rep, _ := evalstat.Evaluate(t, cfg)
	crit, _ := evalstat.ReadCriteria(strings.NewReader(
		`[{"id":"sens","metric":"sensitivity","scope":"group","attribute":"sex","comparator":">=","value":0.75}]`))
	rep.Judge(crit)

	for _, g := range rep.Groupings[0].Groups {
		fmt.Printf("%s: n=%d sensitivity=%.2f auroc=%.2f\n", g.Name, g.N,
			g.Metrics["sensitivity"].Estimate, g.Metrics["auroc"].Estimate)
	}
	fmt.Printf("sensitivity gap: %.2f\n", rep.Groupings[0].Fairness["equal_opportunity_difference"].Estimate)
	fmt.Println(rep.Criteria[0].Outcome, "-", rep.Criteria[0].Evidence)
	// Output:
	// sex=F: n=4 sensitivity=1.00 auroc=1.00
	// sex=M: n=4 sensitivity=0.50 auroc=1.00
	// sensitivity gap: 0.50
	// fail - 2 group(s): 1 pass, 1 fail, 0 undetermined; closest to failing: sex=M (0.5)
}
