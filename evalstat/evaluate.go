package evalstat

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"runtime"
	"slices"
	"strings"
)

// SchemaVersion identifies the JSON layout of a Report (docs/eval-schema.md).
const SchemaVersion = "ethos.eval/v1"

// MaxGroups bounds the number of groups of one evaluation (the overall
// population, every attribute value and, with Intersect, every observed
// combination), so a column with an identifier in it fails with a clear
// error instead of exhausting memory.
const MaxGroups = 10000

// maxBootstrapValues bounds the bootstrap's stored values (8 bytes each).
const maxBootstrapValues = 64 << 20

// groupCount returns the number of groups Evaluate will report.
func groupCount(t *Table, intersect bool) int {
	n := 1
	for _, a := range t.Attrs {
		n += len(a.Levels)
	}
	if intersect && len(t.Attrs) >= 2 {
		n += len(t.Cells)
	}
	return n
}

// ErrEmpty is returned when a table has no rows.
var ErrEmpty = errors.New("evalstat: no rows")

// Config sets what Evaluate computes. Start from DefaultConfig.
type Config struct {
	// Threshold: a row is predicted positive when its score ≥ Threshold.
	Threshold float64
	// Prevalence is the declared target prevalence for the transported PPV
	// and NPV; 0 means none was declared.
	Prevalence float64
	// Intersect adds the groups formed by every observed combination of
	// all attributes.
	Intersect bool
	// ZeroDivision reports a rate with a zero denominator as 0, as
	// scikit-learn and fairlearn do with zero_division=0.
	ZeroDivision bool
	// A group with fewer than MinGroupSize rows, or fewer than
	// MinClassCount positives or negatives, is flagged as too small to judge.
	MinGroupSize  int
	MinClassCount int
	// Bootstrap is the number of resamples (0: none), Seed their seed and
	// Workers the number of goroutines (0: GOMAXPROCS). The result does not
	// depend on Workers.
	Bootstrap int
	Seed      uint64
	Workers   int
	// BootstrapCalibration also refits the calibration intercept and slope
	// in every resample (costly: several passes per resample). Without it
	// those two carry model-based (Wald) intervals only.
	BootstrapCalibration bool
	// BootstrapMetrics names the metrics (Metrics[i].Name) that get
	// bootstrap intervals; empty means every one. Aggregates of the named
	// metrics and the fairness measures built only from them are resampled
	// too; every other value keeps its analytic interval. A resample skips
	// the passes no named metric needs (AUROC and AUPRC alone skip the
	// additive sums). The chosen metrics' intervals equal those of the
	// full bootstrap with the same seed. The calibration fits may be named
	// only with BootstrapCalibration, which then needs one of them named.
	BootstrapMetrics []string
	// DecisionGrid lists the thresholds of the decision curve.
	DecisionGrid []float64
	// ROCPoints bounds the number of points kept per ROC curve.
	ROCPoints int
}

// DefaultConfig returns the defaults of docs/metrics.md: threshold 0.5,
// groups below 30 rows or 5 positives or negatives flagged, the decision
// curve on 0.01, 0.02, …, 0.99.
func DefaultConfig() Config {
	grid := make([]float64, 99)
	for i := range grid {
		grid[i] = float64(i+1) / 100
	}
	return Config{Threshold: 0.5, MinGroupSize: 30, MinClassCount: 5, DecisionGrid: grid, ROCPoints: 200}
}

// Report is the result of Evaluate; its JSON form is documented in
// docs/eval-schema.md.
type Report struct {
	SchemaVersion string         `json:"schema_version"`
	Settings      Settings       `json:"settings"`
	Overall       *GroupResult   `json:"overall"`
	Groupings     []*Grouping    `json:"groupings"`
	Bootstrap     *BootstrapInfo `json:"bootstrap,omitempty"`
	Criteria      []Judgement    `json:"criteria,omitempty"`
}

// Settings echoes the configuration a report was computed with.
type Settings struct {
	Threshold            float64  `json:"threshold"`
	Prevalence           *float64 `json:"prevalence"`
	Attributes           []string `json:"attributes"`
	Intersect            bool     `json:"intersect"`
	ZeroDivision         bool     `json:"zero_division_zero"`
	MinGroupSize         int      `json:"min_group_size"`
	MinClassCount        int      `json:"min_class_count"`
	Clustered            bool     `json:"clustered"`
	ConfidenceLevel      float64  `json:"confidence_level"`
	BootstrapResamples   int      `json:"bootstrap_resamples"`
	BootstrapSeed        uint64   `json:"bootstrap_seed"`
	BootstrapCalibration bool     `json:"bootstrap_calibration"`
}

// BootstrapInfo describes the resampling.
type BootstrapInfo struct {
	Resamples  int    `json:"resamples"`
	Seed       uint64 `json:"seed"`
	Strata     int    `json:"strata"`
	Clusters   int    `json:"clusters,omitempty"`
	Method     string `json:"method"`
	Percentile string `json:"interval"`
	// Metrics and Fairness list the resampled metrics and fairness
	// measures when only some were chosen (Config.BootstrapMetrics);
	// both are absent when every one was resampled.
	Metrics  []string `json:"metrics,omitzero"`
	Fairness []string `json:"fairness,omitzero"`
}

// Grouping is one way of splitting the rows: one attribute, or the
// intersection of all of them.
type Grouping struct {
	Name       string               `json:"name"`
	Kind       string               `json:"kind"` // "attribute" or "intersection"
	Attributes []string             `json:"attributes"`
	Groups     []*GroupResult       `json:"groups"`
	Aggregates map[string]Aggregate `json:"aggregates"`
	Fairness   map[string]Value     `json:"fairness"`
}

// GroupResult holds one group's counts, metrics, flags and curves.
type GroupResult struct {
	Name      string            `json:"name"`
	Values    map[string]string `json:"values,omitempty"`
	N         int64             `json:"n"`
	Positives int64             `json:"positives"`
	Negatives int64             `json:"negatives"`
	// Flags: small_group, few_positives, few_negatives, single_class.
	Flags           []string         `json:"flags"`
	TooSmallToJudge bool             `json:"too_small_to_judge"`
	Metrics         map[string]Value `json:"metrics"`
	Curves          Curves           `json:"curves"`

	idx int // index among all groups
}

// Curves are the data of the report's charts.
type Curves struct {
	// ROC holds (FPR, TPR) points from (0,0) to (1,1), at most about
	// Config.ROCPoints of them.
	ROC         [][2]float64     `json:"roc"`
	Calibration []CalibrationBin `json:"calibration"`
	Decision    []DecisionPoint  `json:"decision"`
}

// CalibrationBin is one of the ten equal-width score bins.
type CalibrationBin struct {
	Lower     float64  `json:"lower"`
	Upper     float64  `json:"upper"`
	N         int64    `json:"n"`
	MeanScore *float64 `json:"mean_score"`
	Observed  *float64 `json:"observed"`
}

// DecisionPoint is the net benefit of the model and of treating everyone at
// one threshold.
type DecisionPoint struct {
	Threshold  float64 `json:"threshold"`
	NetBenefit float64 `json:"net_benefit"`
	TreatAll   float64 `json:"treat_all"`
}

// Group flags.
const (
	FlagSmallGroup   = "small_group"
	FlagFewPositives = "few_positives"
	FlagFewNegatives = "few_negatives"
	FlagSingleClass  = "single_class"
)

// layout is the set of groups: group 0 is everyone, then the groups of each
// attribute, then (with Intersect) one group per observed cell.
type layout struct {
	dims       int
	cellGroups []int32
	groups     []*GroupResult
	groupings  []*Grouping
	members    [][]int // grouping → group indices
}

func newLayout(t *Table, cfg *Config) *layout {
	na := len(t.Attrs)
	intersect := cfg.Intersect && na >= 2
	dims := 1 + na
	if intersect {
		dims++
	}
	L := &layout{dims: dims, cellGroups: make([]int32, len(t.Cells)*dims), groupings: []*Grouping{}}
	L.groups = append(L.groups, &GroupResult{Name: "overall"})
	// Levels in sorted order, so output does not depend on row order.
	rank := make([][]int, na)
	for a, at := range t.Attrs {
		order := make([]int, len(at.Levels))
		for i := range order {
			order[i] = i
		}
		slices.SortFunc(order, func(x, y int) int { return cmp.Compare(at.Levels[x], at.Levels[y]) })
		rank[a] = make([]int, len(order))
		groupOf := make([]int32, len(order))
		gp := &Grouping{Name: at.Name, Kind: "attribute", Attributes: []string{at.Name}}
		var mem []int
		for r, lv := range order {
			rank[a][lv] = r
			g := &GroupResult{Name: at.Name + "=" + at.Levels[lv], Values: map[string]string{at.Name: at.Levels[lv]}, idx: len(L.groups)}
			groupOf[lv] = int32(len(L.groups))
			mem = append(mem, len(L.groups))
			L.groups = append(L.groups, g)
			gp.Groups = append(gp.Groups, g)
		}
		for c, codes := range t.Cells {
			L.cellGroups[c*dims+1+a] = groupOf[codes[a]]
		}
		L.groupings = append(L.groupings, gp)
		L.members = append(L.members, mem)
	}
	if intersect {
		names := make([]string, na)
		for a, at := range t.Attrs {
			names[a] = at.Name
		}
		gp := &Grouping{Name: strings.Join(names, "|"), Kind: "intersection", Attributes: names}
		cells := make([]int, len(t.Cells))
		for i := range cells {
			cells[i] = i
		}
		slices.SortFunc(cells, func(x, y int) int {
			for a := range na {
				if c := cmp.Compare(rank[a][t.Cells[x][a]], rank[a][t.Cells[y][a]]); c != 0 {
					return c
				}
			}
			return 0
		})
		var mem []int
		for _, c := range cells {
			parts := make([]string, na)
			vals := make(map[string]string, na)
			for a, at := range t.Attrs {
				lv := at.Levels[t.Cells[c][a]]
				parts[a] = at.Name + "=" + lv
				vals[at.Name] = lv
			}
			g := &GroupResult{Name: strings.Join(parts, "|"), Values: vals, idx: len(L.groups)}
			L.cellGroups[c*dims+dims-1] = int32(len(L.groups))
			mem = append(mem, len(L.groups))
			L.groups = append(L.groups, g)
			gp.Groups = append(gp.Groups, g)
		}
		L.groupings = append(L.groupings, gp)
		L.members = append(L.members, mem)
	}
	return L
}

// Evaluate computes the report for the rows of t. It sorts t in place (once).
func Evaluate(t *Table, cfg Config) (*Report, error) {
	return EvaluateContext(context.Background(), t, cfg)
}

// EvaluateContext is Evaluate that stops when ctx is done: between its
// phases, and in the bootstrap between resamples (every worker checks ctx
// before it starts the next one). A stopped evaluation returns no report
// and an error that wraps ctx's error (a *StoppedError with the resamples
// completed when it stopped during the bootstrap).
func EvaluateContext(ctx context.Context, t *Table, cfg Config) (*Report, error) {
	if t.Len() == 0 {
		return nil, ErrEmpty
	}
	if t.Len() > maxRows {
		return nil, fmt.Errorf("evalstat: %d rows, at most %d", t.Len(), maxRows)
	}
	if math.IsNaN(cfg.Threshold) || cfg.Threshold < 0 || cfg.Threshold > 1 {
		return nil, fmt.Errorf("evalstat: threshold %v outside [0, 1]", cfg.Threshold)
	}
	if math.IsNaN(cfg.Prevalence) || cfg.Prevalence < 0 || cfg.Prevalence >= 1 {
		return nil, fmt.Errorf("evalstat: prevalence %v outside [0, 1)", cfg.Prevalence)
	}
	if cfg.Bootstrap < 0 {
		return nil, fmt.Errorf("evalstat: negative number of bootstrap resamples")
	}
	if cfg.Bootstrap > 0 {
		if _, err := cfg.bootstrapSelection(); err != nil {
			return nil, err
		}
	}
	if cfg.ROCPoints <= 0 {
		cfg.ROCPoints = 200
	}
	if cfg.Workers <= 0 {
		cfg.Workers = runtime.GOMAXPROCS(0)
	}
	if ng := groupCount(t, cfg.Intersect); ng > MaxGroups {
		return nil, fmt.Errorf("evalstat: %d groups, at most %d (an attribute with very many values, or their intersection)", ng, MaxGroups)
	}
	if cfg.Bootstrap > 0 {
		if cells := int64(cfg.Bootstrap) * int64(groupCount(t, cfg.Intersect)) * numMetrics; cells > maxBootstrapValues {
			return nil, fmt.Errorf("evalstat: %d resamples of %d groups would hold %d values, at most %d: use fewer resamples or groups",
				cfg.Bootstrap, groupCount(t, cfg.Intersect), cells, int64(maxBootstrapValues))
		}
	}
	if err := stopped(ctx, 0, cfg.Bootstrap); err != nil {
		return nil, err
	}
	t.sort()
	if err := stopped(ctx, 0, cfg.Bootstrap); err != nil {
		return nil, err
	}
	L := newLayout(t, &cfg)
	sw := &sweep{score: t.score, pay: t.pay, cellGroups: L.cellGroups, dims: L.dims, threshold: cfg.Threshold, workers: cfg.Workers}
	G := len(L.groups)
	acc := make([]groupAcc, G)
	sw.run(acc, cfg.ROCPoints, cfg.DecisionGrid)

	// Point estimates.
	est := make([][]Value, G)
	for g := range acc {
		est[g] = make([]Value, numMetrics)
		cfg.groupValues(&acc[g], est[g])
		a := &acc[g]
		cm := Confusion{TP: a.tpT, FP: a.fpT, FN: a.pos - a.tpT, TN: (a.n - a.pos) - a.fpT}
		// With ZeroDivision a 0/0 rate reads 0 and gets no interval.
		cm.addIntervals(est[g])
	}
	fits := sw.fitCalibration(nil, acc, cfg.Workers)
	for g, f := range fits {
		est[g][MCalibrationIntercept], est[g][MCalibrationSlope] = fitValues(f)
	}
	for g := range acc {
		a := &acc[g]
		if v := &est[g][MAUROC]; v.Defined() {
			neg := a.n - a.pos
			if a.pos >= 2 && neg >= 2 {
				se := math.Sqrt(a.s10/(a.pos-1)/a.pos + a.s01/(neg-1)/neg)
				v.setCI(CIDeLong, Interval{Lower: math.Max(0, v.Estimate-Z95*se), Upper: math.Min(1, v.Estimate+Z95*se)})
			}
		}
		L.groups[g].fill(a, &cfg)
	}

	rep := &Report{
		SchemaVersion: SchemaVersion,
		Settings: Settings{
			Threshold: cfg.Threshold, Intersect: cfg.Intersect && len(t.Attrs) >= 2, ZeroDivision: cfg.ZeroDivision,
			MinGroupSize: cfg.MinGroupSize, MinClassCount: cfg.MinClassCount, Clustered: t.HasClusters(),
			ConfidenceLevel: 0.95, BootstrapResamples: cfg.Bootstrap, BootstrapSeed: cfg.Seed,
			BootstrapCalibration: cfg.BootstrapCalibration && cfg.Bootstrap > 0,
			Attributes:           []string{},
		},
		Overall:   L.groups[0],
		Groupings: L.groupings,
	}
	if cfg.Prevalence > 0 {
		p := cfg.Prevalence
		rep.Settings.Prevalence = &p
	}
	for _, a := range t.Attrs {
		rep.Settings.Attributes = append(rep.Settings.Attributes, a.Name)
	}

	// Aggregates and fairness measures of the point estimates.
	agg := newAggregator(L)
	pointAgg := agg.compute(func(g, m int) float64 { return est[g][m].Estimate })
	for k, gp := range L.groupings {
		gp.Aggregates = make(map[string]Aggregate, numMetrics)
		gp.Fairness = make(map[string]Value, numFair)
		for m := range numMetrics {
			gp.Aggregates[Metrics[m].Name] = agg.aggregateValue(k, m, pointAgg, L)
		}
		for f := range numFair {
			gp.Fairness[FairnessNames[f]] = numberValue(pointAgg.fair[k][f], ReasonFewerThanTwoGroups)
		}
	}

	if err := stopped(ctx, 0, cfg.Bootstrap); err != nil {
		return nil, err
	}
	if cfg.Bootstrap > 0 {
		info, err := bootstrap(ctx, t, sw, L, &cfg, est, agg)
		if err != nil {
			return nil, err
		}
		rep.Bootstrap = info
	}
	for _, gr := range L.groups {
		gr.Metrics = make(map[string]Value, numMetrics)
		for m := range numMetrics {
			gr.Metrics[Metrics[m].Name] = est[gr.idx][m]
		}
	}
	return rep, nil
}

// StoppedError is returned by EvaluateContext when its context is done
// before the report is complete.
type StoppedError struct {
	// Done and Total count the bootstrap resamples completed and requested
	// (both 0 without a bootstrap).
	Done, Total int
	Err         error // the context's error
}

func (e *StoppedError) Error() string {
	if e.Total > 0 {
		return fmt.Sprintf("evalstat: evaluation stopped after %d of %d bootstrap resamples: %v", e.Done, e.Total, e.Err)
	}
	return fmt.Sprintf("evalstat: evaluation stopped: %v", e.Err)
}

func (e *StoppedError) Unwrap() error { return e.Err }

// stopped returns a *StoppedError when ctx is done, else nil.
func stopped(ctx context.Context, done, total int) error {
	if err := ctx.Err(); err != nil {
		return &StoppedError{Done: done, Total: total, Err: err}
	}
	return nil
}

func numberValue(x float64, reason string) Value {
	if math.IsNaN(x) {
		return Undefined(reason)
	}
	return Est(x)
}

func fitValues(f calFit) (alpha, slope Value) {
	if f.alphaReason != "" {
		alpha = Undefined(f.alphaReason)
	} else {
		alpha = Est(f.alpha)
		alpha.setCI(CIWald, Interval{Lower: f.alpha - Z95*f.alphaSE, Upper: f.alpha + Z95*f.alphaSE})
	}
	if f.slopeReason != "" {
		slope = Undefined(f.slopeReason)
	} else {
		slope = Est(f.b)
		slope.setCI(CIWald, Interval{Lower: f.b - Z95*f.bSE, Upper: f.b + Z95*f.bSE})
	}
	return alpha, slope
}

// fill sets a group's counts, flags and curves.
func (gr *GroupResult) fill(a *groupAcc, cfg *Config) {
	gr.N, gr.Positives = int64(a.n), int64(a.pos)
	gr.Negatives = gr.N - gr.Positives
	gr.Flags = []string{}
	if gr.N < int64(cfg.MinGroupSize) {
		gr.Flags = append(gr.Flags, FlagSmallGroup)
	}
	if gr.Positives < int64(cfg.MinClassCount) {
		gr.Flags = append(gr.Flags, FlagFewPositives)
	}
	if gr.Negatives < int64(cfg.MinClassCount) {
		gr.Flags = append(gr.Flags, FlagFewNegatives)
	}
	if gr.Positives == 0 || gr.Negatives == 0 {
		gr.Flags = append(gr.Flags, FlagSingleClass)
	}
	gr.TooSmallToJudge = len(gr.Flags) > 0
	neg := a.n - a.pos
	gr.Curves.ROC = make([][2]float64, 0, len(a.roc))
	if a.pos > 0 && neg > 0 {
		for _, p := range a.roc {
			gr.Curves.ROC = append(gr.Curves.ROC, [2]float64{p[0] / neg, p[1] / a.pos})
		}
	}
	for k := range numBins {
		b := CalibrationBin{Lower: float64(k) / numBins, Upper: float64(k+1) / numBins, N: int64(a.binN[k])}
		if a.binN[k] > 0 {
			ms, ob := a.binS[k]/a.binN[k], a.binY[k]/a.binN[k]
			b.MeanScore, b.Observed = &ms, &ob
		}
		gr.Curves.Calibration = append(gr.Curves.Calibration, b)
	}
	gr.Curves.Decision = []DecisionPoint{}
	for i, th := range cfg.DecisionGrid {
		if th >= 1 || a.n == 0 {
			continue
		}
		w := th / (1 - th)
		gr.Curves.Decision = append(gr.Curves.Decision, DecisionPoint{
			Threshold:  th,
			NetBenefit: a.dcTP[i]/a.n - a.dcFP[i]/a.n*w,
			TreatAll:   a.pos/a.n - neg/a.n*w,
		})
	}
}
