package evalstat

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
)

// errWeightOverflow is returned if a row is drawn more than 255 times in one
// resample. Counts follow a binomial law with mean 1 (rows) or mean 1 per
// cluster: the chance of 256 draws is far below 1e-300, but it is checked.
var errWeightOverflow = errors.New("evalstat: bootstrap weight overflow")

// bootstrap runs cfg.Bootstrap resamples and attaches percentile intervals
// to the chosen group metrics in est (every one by default), to their
// aggregates and to the fairness measures built from them in L's
// groupings. The other values keep their analytic intervals. Every worker
// checks ctx before it starts a resample; once ctx is done, the workers
// finish the resamples they are in and bootstrap returns a *StoppedError.
func bootstrap(ctx context.Context, t *Table, sw *sweep, L *layout, cfg *Config, est [][]Value, ag *aggregator) (*BootstrapInfo, error) {
	B, G := cfg.Bootstrap, len(L.groups)
	sel, err := cfg.bootstrapSelection()
	if err != nil {
		return nil, err
	}
	plan := newBootPlan(t, sw)
	res := make([]float64, B*G*numMetrics)
	aggs := make([]*aggResult, B)
	var next, done atomic.Int64
	var firstErr error
	var mu sync.Mutex
	var wg sync.WaitGroup
	workers := min(cfg.Workers, B)
	for range workers {
		wg.Go(func() {
			wc := make([]uint8, len(sw.score))
			var w []uint8
			refit := cfg.BootstrapCalibration && (sel.metric[MCalibrationIntercept] || sel.metric[MCalibrationSlope])
			if refit {
				w = make([]uint8, len(sw.score))
			}
			cnt := make([]uint8, plan.maxClusters())
			acc := make([]groupAcc, G)
			cells := make([]cellSums, len(t.Cells))
			vals := make([]Value, numMetrics)
			wag := &aggregator{L: L}
			fail := func(err error) {
				mu.Lock()
				firstErr = err
				mu.Unlock()
			}
			for {
				if ctx.Err() != nil {
					return
				}
				b := int(next.Add(1) - 1)
				if b >= B {
					return
				}
				if err := plan.draw(rand.NewPCG(cfg.Seed, uint64(b)), wc, cnt); err != nil {
					fail(err)
					return
				}
				for g := range acc {
					acc[g].reset()
				}
				if err := plan.runBoot(sw, wc, acc, cells, sel.additive, sel.rank); err != nil {
					fail(err)
					return
				}
				var fits []calFit
				if refit {
					plan.scatter(wc, w)
					fits = sw.fitCalibration(w, acc, 1)
				}
				row := res[b*G*numMetrics : (b+1)*G*numMetrics]
				for g := range acc {
					out := row[g*numMetrics : (g+1)*numMetrics]
					a := &acc[g]
					if a.pos == 0 || a.pos == a.n {
						for m := range out {
							out[m] = math.NaN()
						}
						continue
					}
					cfg.groupValues(a, vals)
					if fits != nil {
						vals[MCalibrationIntercept], vals[MCalibrationSlope] = fitValues(fits[g])
					}
					for m := range out {
						out[m] = vals[m].Estimate
					}
				}
				aggs[b] = wag.compute(func(g, m int) float64 { return row[g*numMetrics+m] })
				done.Add(1)
			}
		})
	}
	wg.Wait()
	if firstErr != nil {
		return nil, firstErr
	}
	if n := int(done.Load()); n < B {
		// Only a done context leaves resamples undone.
		return nil, &StoppedError{Done: n, Total: B, Err: ctx.Err()}
	}

	buf := make([]float64, 0, B)
	interval := func(get func(b int) float64) (Interval, int, bool) {
		buf = buf[:0]
		for b := range B {
			if x := get(b); !math.IsNaN(x) {
				buf = append(buf, x)
			}
		}
		if len(buf) == 0 {
			return Interval{}, B, false
		}
		slices.Sort(buf)
		return Interval{Lower: Percentile(buf, 0.025), Upper: Percentile(buf, 0.975)}, B - len(buf), true
	}
	for g := range G {
		for m := range numMetrics {
			if !sel.metric[m] {
				continue
			}
			v := &est[g][m]
			iv, skipped, ok := interval(func(b int) float64 { return res[(b*G+g)*numMetrics+m] })
			v.Skipped = skipped
			if ok && v.Defined() {
				v.setCI(CIBootstrap, iv)
			}
		}
	}
	for k, gp := range L.groupings {
		for m := range numMetrics {
			if !sel.metric[m] {
				continue
			}
			a := gp.Aggregates[Metrics[m].Name]
			for i := range numAgg {
				v := aggField(&a, i)
				iv, skipped, ok := interval(func(b int) float64 { return aggs[b].num[k][m][i] })
				v.Skipped = skipped
				if ok && v.Defined() {
					v.setCI(CIBootstrap, iv)
				}
			}
			gp.Aggregates[Metrics[m].Name] = a
		}
		for f := range numFair {
			if !sel.fair[f] {
				continue
			}
			v := gp.Fairness[FairnessNames[f]]
			iv, skipped, ok := interval(func(b int) float64 { return aggs[b].fair[k][f] })
			v.Skipped = skipped
			if ok && v.Defined() {
				v.setCI(CIBootstrap, iv)
			}
			gp.Fairness[FairnessNames[f]] = v
		}
	}
	info := &BootstrapInfo{
		Resamples: B, Seed: cfg.Seed, Strata: len(t.Cells),
		Method:     "stratified by attribute combination, rows resampled with replacement within each",
		Percentile: "percentile 2.5-97.5, linear interpolation",
	}
	info.Metrics, info.Fairness = sel.names()
	if t.cluster != nil {
		info.Clusters = t.nclust
		info.Method = "stratified by attribute combination, clusters resampled with replacement within each"
	}
	return info, nil
}
