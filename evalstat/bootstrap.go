package evalstat

import (
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

// strata lists, for each cell, its rows (positions in score order), or its
// clusters and their rows.
type strata struct {
	cellStart []int    // cell c: rows[cellStart[c]:cellStart[c+1]]
	rows      []uint32 // positions in sorted order, grouped by cell (then cluster)
	// With clusters: cell c has clusters clStart[cellCl[c]:cellCl[c+1]], and
	// cluster q of the cell has rows rows[clStart[q]:clStart[q+1]].
	cellCl  []int
	clStart []int
}

func newStrata(t *Table) *strata {
	nc := len(t.Cells)
	s := &strata{cellStart: make([]int, nc+1), rows: make([]uint32, len(t.pay))}
	for _, p := range t.pay {
		s.cellStart[int(p&^labelBit)+1]++
	}
	for c := range nc {
		s.cellStart[c+1] += s.cellStart[c]
	}
	next := slices.Clone(s.cellStart[:nc])
	for i, p := range t.pay {
		c := int(p &^ labelBit)
		s.rows[next[c]] = uint32(i)
		next[c]++
	}
	if t.cluster == nil {
		return s
	}
	s.cellCl = make([]int, nc+1)
	for c := range nc {
		rows := s.rows[s.cellStart[c]:s.cellStart[c+1]]
		slices.SortStableFunc(rows, func(a, b uint32) int {
			ca, cb := t.cluster[a], t.cluster[b]
			switch {
			case ca < cb:
				return -1
			case ca > cb:
				return 1
			}
			return 0
		})
		for i := range rows {
			if i == 0 || t.cluster[rows[i]] != t.cluster[rows[i-1]] {
				s.clStart = append(s.clStart, s.cellStart[c]+i)
			}
		}
		s.cellCl[c+1] = len(s.clStart)
	}
	s.clStart = append(s.clStart, len(s.rows))
	return s
}

// draw sets w to the bootstrap counts of one resample: within every cell,
// as many rows (or clusters) as it has, drawn uniformly with replacement.
// Counts are drawn into cnt, a scratch array the size of the largest cell,
// which stays in cache, and then copied to w in increasing row order.
func (s *strata) draw(rng *rand.Rand, w []uint8, cnt []uint8) error {
	want := uint64(0)
	got := uint64(0)
	if s.cellCl == nil {
		for c := range len(s.cellStart) - 1 {
			rows := s.rows[s.cellStart[c]:s.cellStart[c+1]]
			m := uint64(len(rows))
			k := cnt[:m]
			clear(k)
			for range m {
				k[rng.Uint64N(m)]++
			}
			for i, r := range rows {
				w[r] = k[i]
				got += uint64(k[i])
			}
			want += m
		}
	} else {
		for c := range len(s.cellCl) - 1 {
			lo, hi := s.cellCl[c], s.cellCl[c+1]
			m := uint64(hi - lo)
			k := cnt[:m]
			clear(k)
			for range m {
				k[rng.Uint64N(m)]++
			}
			for q := range k {
				rows := s.rows[s.clStart[lo+q]:s.clStart[lo+q+1]]
				for _, r := range rows {
					w[r] = k[q]
				}
				got += uint64(k[q])
			}
			want += m
		}
	}
	// A count that wrapped past 255 would make the total fall short.
	if got != want {
		return errWeightOverflow
	}
	return nil
}

// maxCell returns the size of the largest stratum in rows (or clusters).
func (s *strata) maxCell() int {
	m := 0
	if s.cellCl == nil {
		for c := range len(s.cellStart) - 1 {
			m = max(m, s.cellStart[c+1]-s.cellStart[c])
		}
		return m
	}
	for c := range len(s.cellCl) - 1 {
		m = max(m, s.cellCl[c+1]-s.cellCl[c])
	}
	return m
}

// bootstrap runs cfg.Bootstrap resamples and attaches percentile intervals
// to every group metric in est and to every aggregate and fairness measure
// of L's groupings.
func bootstrap(t *Table, sw *sweep, L *layout, cfg *Config, est [][]Value, ag *aggregator) (*BootstrapInfo, error) {
	B, G := cfg.Bootstrap, len(L.groups)
	st := newStrata(t)
	bsw := *sw
	bsw.loss = make([]float64, len(sw.score))
	for i, s := range sw.score {
		y := 0.0
		if sw.pay[i]&labelBit != 0 {
			y = 1
		}
		bsw.loss[i] = rowLoss(s, y)
	}
	res := make([]float64, B*G*numMetrics)
	aggs := make([]*aggResult, B)
	var next atomic.Int64
	var firstErr error
	var mu sync.Mutex
	var wg sync.WaitGroup
	workers := min(cfg.Workers, B)
	for range workers {
		wg.Go(func() {
			w := make([]uint8, len(sw.score))
			cnt := make([]uint8, st.maxCell())
			acc := make([]groupAcc, G)
			cells := make([]cellSums, len(t.Cells))
			ranks := make([]rankAcc, G)
			vals := make([]Value, numMetrics)
			wag := &aggregator{L: L}
			for {
				b := int(next.Add(1) - 1)
				if b >= B {
					return
				}
				rng := rand.New(rand.NewPCG(cfg.Seed, uint64(b)))
				if err := st.draw(rng, w, cnt); err != nil {
					mu.Lock()
					firstErr = err
					mu.Unlock()
					return
				}
				for g := range acc {
					acc[g].reset()
				}
				bsw.run(w, acc, cells, ranks)
				var fits []calFit
				if cfg.BootstrapCalibration {
					fits = bsw.fitCalibration(w, acc, 1)
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
			}
		})
	}
	wg.Wait()
	if firstErr != nil {
		return nil, firstErr
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
			if isCalibrationFit(m) && !cfg.BootstrapCalibration {
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
			if isCalibrationFit(m) && !cfg.BootstrapCalibration {
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
	if t.cluster != nil {
		info.Clusters = t.nclust
		info.Method = "stratified by attribute combination, clusters resampled with replacement within each"
	}
	return info, nil
}
