package evalstat

import (
	"math"
	"sync"
)

// logLossEps is the clipping bound of log loss: scores are clipped to
// [eps, 1-eps] with eps the float64 machine epsilon, as scikit-learn does.
const logLossEps = 2.220446049250313e-16

// numBins is the number of equal-width calibration bins (ECE, MCE).
const numBins = 10

// groupAcc accumulates, for one group, everything the sweep over the rows in
// descending score order yields. Counts are weights (bootstrap counts, or 1).
type groupAcc struct {
	n, pos             float64
	posAbove, negAbove float64 // rows in completed tie blocks
	bPos, bNeg         float64 // rows in the current tie block
	u                  float64 // Mann–Whitney: Σ over negatives of positives above (+½ tied)
	ap                 float64 // Σ over blocks of block positives × precision at the block
	tpT, fpT           float64 // predicted positive at the operating threshold
	sumS, sumSq        float64 // Σ s, Σ (s-y)²
	sumLoss            float64 // Σ log loss
	binN, binS, binY   [numBins]float64
	touched            bool

	// Second pass (point estimates only): DeLong components and curves.
	s10, s01 float64
	auc      float64
	rocStep  float64
	rocNext  float64
	roc      [][2]float64
	dcTP     []float64
	dcFP     []float64
}

func (a *groupAcc) reset() {
	*a = groupAcc{roc: a.roc[:0], dcTP: a.dcTP[:0], dcFP: a.dcFP[:0]}
}

// flush2 closes a tie block in the second pass: DeLong placement values
// (Sun & Xu 2014, written with counts instead of mid-ranks: a positive's
// placement is the share of negatives below it plus half the tied ones, a
// negative's the share of positives above it plus half the tied ones) and
// the ROC curve.
func (a *groupAcc) flush2() {
	neg := a.n - a.pos
	if a.bPos > 0 && neg > 0 {
		v10 := (neg - a.negAbove - 0.5*a.bNeg) / neg
		d := v10 - a.auc
		a.s10 += a.bPos * d * d
	}
	if a.bNeg > 0 && a.pos > 0 {
		v01 := (a.posAbove + 0.5*a.bPos) / a.pos
		d := v01 - a.auc
		a.s01 += a.bNeg * d * d
	}
	a.posAbove += a.bPos
	a.negAbove += a.bNeg
	a.bPos, a.bNeg = 0, 0
	a.touched = false
	if done := a.posAbove + a.negAbove; done >= a.rocNext || done == a.n {
		a.roc = append(a.roc, [2]float64{a.negAbove, a.posAbove})
		a.rocNext = done + a.rocStep
	}
}

// sweep holds the rows in descending score order and the map from each
// stratum (cell) to the accumulators of the groups it belongs to.
type sweep struct {
	score      []float64
	pay        []uint32 // label<<31 | cell
	cellGroups []int32  // cell*dims + d → group index
	dims       int
	threshold  float64
	loss       []float64 // per-row log loss, precomputed for the bootstrap (may be nil)
	workers    int       // goroutines for the two sweeps (0 or 1: one)
}

const labelBit = 1 << 31

// cellSums are the additive statistics of one cell (stratum): a group's
// are the sums over its cells.
type cellSums struct {
	n, pos, tpT, fpT     float64
	sumS, sumSq, sumLoss float64
	binN, binS, binY     [numBins]float64
}

// run accumulates every row with weight w[i] (1 when w is nil) into acc,
// which must be reset. cells is scratch space (one per cell).
//
// Additive statistics are summed per cell and then folded into the groups
// the cell belongs to. The rank statistics (Mann–Whitney U, average
// precision) are updated per group without branching on the label: each
// group remembers the tie block (run of equal scores) it was last updated
// in and its totals when that block began; pairs inside a block count ½ to
// U, and a block's share of average precision is added once the group
// meets its next block (or at the end), when the block's totals are final.
func (sw *sweep) run(w []uint8, acc []groupAcc, cells []cellSums, ranks []rankAcc) {
	dims := sw.dims
	clear(cells)
	ranks = ranks[:len(acc)]
	for g := range ranks {
		ranks[g] = rankAcc{block: -1}
	}
	parts := sw.dimParts()
	var wg sync.WaitGroup
	for _, ds := range parts[1:] {
		wg.Go(func() { sw.runPart(w, nil, ranks, ds) })
	}
	sw.runPart(w, cells, ranks, parts[0])
	wg.Wait()
	for g := range ranks {
		r := &ranks[g]
		r.closeBlock()
		acc[g].u, acc[g].ap = r.u, r.ap
	}
	// Fold the cells into their groups.
	for cell := range cells {
		c := &cells[cell]
		if c.n == 0 {
			continue
		}
		for _, g := range sw.cellGroups[cell*dims:][:dims] {
			a := &acc[g]
			a.n += c.n
			a.pos += c.pos
			a.tpT += c.tpT
			a.fpT += c.fpT
			a.sumS += c.sumS
			a.sumSq += c.sumSq
			a.sumLoss += c.sumLoss
			for k := range numBins {
				a.binN[k] += c.binN[k]
				a.binS[k] += c.binS[k]
				a.binY[k] += c.binY[k]
			}
		}
	}
}

// dimParts splits the layout's dimensions (groupings) between up to
// sw.workers goroutines: each group belongs to exactly one dimension, so
// goroutines that each sweep every row but update only their own
// dimensions' groups compute every group exactly as one goroutine would.
// The first part also does the additive sums (about the cost of two
// dimensions), so it gets fewer dimensions.
func (sw *sweep) dimParts() [][]int {
	all := make([]int, sw.dims)
	for d := range all {
		all[d] = d
	}
	if sw.workers < 2 || sw.dims < 2 {
		return [][]int{all}
	}
	k := (sw.dims - 1) / 2
	return [][]int{all[:k], all[k:]}
}

// runPart sweeps every row, adding the additive statistics to cells (when
// cells is not nil) and the rank statistics to the groups of dimensions ds.
func (sw *sweep) runPart(w []uint8, cells []cellSums, ranks []rankAcc, ds []int) {
	dims := sw.dims
	score, pay := sw.score, sw.pay
	block := int32(0)
	lossScore, losses := math.NaN(), [2]float64{}
	for i, s := range score {
		if i > 0 && score[i-1] != s {
			block = int32(i)
		}
		wt := 1.0
		if w != nil {
			if w[i] == 0 {
				continue
			}
			wt = float64(w[i])
		}
		p := pay[i]
		cell := int(p &^ labelBit)
		y := float64(p >> 31)
		wy := wt * y
		if cells != nil {
			var loss float64
			if sw.loss != nil {
				loss = sw.loss[i]
			} else {
				if s != lossScore {
					// Rows tied on the score share their two logarithms.
					lossScore = s
					losses = [2]float64{rowLoss(s, 0), rowLoss(s, 1)}
				}
				loss = losses[p>>31]
			}
			bin := min(int(s*numBins), numBins-1)
			d := s - y
			c := &cells[cell]
			c.n += wt
			c.pos += wy
			if s >= sw.threshold {
				c.tpT += wy
				c.fpT += wt - wy
			}
			c.sumS += wt * s
			c.sumSq += wt * d * d
			c.sumLoss += wt * loss
			c.binN[bin] += wt
			c.binS[bin] += wt * s
			c.binY[bin] += wy
		}
		wn := wt - wy
		cg := sw.cellGroups[cell*dims:][:dims]
		for _, d := range ds {
			a := &ranks[cg[d]]
			if a.block != block {
				a.closeBlock()
				a.block = block
			}
			// Negatives: every positive above the block, and ½ for each
			// positive already in the block; positives: ½ for each
			// negative already in the block.
			a.u += wn*(a.posAbove+0.5*a.bPos) + 0.5*wy*a.bNeg
			a.bPos += wy
			a.bNeg += wn
		}
	}
}

// rankAcc is a group's state for the rank statistics during run, kept to
// one cache line so that the groups a row updates stay in L1.
type rankAcc struct {
	posAbove, negAbove float64 // rows in completed tie blocks
	bPos, bNeg         float64 // rows in the current tie block
	u                  float64 // Mann–Whitney: Σ over negatives of positives above (+½ tied)
	ap                 float64 // Σ over blocks of block positives × precision at the block
	block              int32   // first row of the tie block last updated
	_                  [12]byte
}

// closeBlock adds the finished block's share of average precision (its
// positives times the precision with the whole block predicted positive)
// and moves its counts above.
func (a *rankAcc) closeBlock() {
	tp := a.posAbove + a.bPos
	den := tp + a.negAbove + a.bNeg
	if den == 0 { // no rows yet; bPos is 0 too
		den = 1
	}
	a.ap += a.bPos * tp / den
	a.posAbove += a.bPos
	a.negAbove += a.bNeg
	a.bPos, a.bNeg = 0, 0
}

// run2 is the second pass over unit weights, after run: it needs each
// group's totals and AUROC. It computes the DeLong sums, samples the ROC
// curve at about rocPoints points, and counts true and false positives at
// every threshold of grid (descending order is not required).
func (sw *sweep) run2(acc []groupAcc, rocPoints int, grid []float64) {
	// grid thresholds in descending order.
	order := make([]int, len(grid))
	for i := range order {
		order[i] = i
	}
	for i := 1; i < len(order); i++ { // insertion sort, the grid is short
		for j := i; j > 0 && grid[order[j]] > grid[order[j-1]]; j-- {
			order[j], order[j-1] = order[j-1], order[j]
		}
	}
	for g := range acc {
		a := &acc[g]
		a.auc = a.u / (a.pos * (a.n - a.pos))
		a.posAbove, a.negAbove = 0, 0
		a.rocStep = math.Max(1, a.n/float64(rocPoints))
		a.rocNext = a.rocStep
		a.roc = append(a.roc[:0], [2]float64{0, 0})
		a.dcTP = make([]float64, len(grid))
		a.dcFP = make([]float64, len(grid))
	}
	parts := sw.dimParts()
	var wg sync.WaitGroup
	for _, ds := range parts[1:] {
		wg.Go(func() { sw.run2Part(acc, grid, order, ds) })
	}
	sw.run2Part(acc, grid, order, parts[0])
	wg.Wait()
}

// run2Part is run2's sweep for the groups of dimensions ds.
func (sw *sweep) run2Part(acc []groupAcc, grid []float64, order []int, ds []int) {
	dims := sw.dims
	if len(ds) == 0 {
		return
	}
	var mine []int32 // the groups of ds
	seen := make(map[int32]bool)
	for cell := range len(sw.cellGroups) / dims {
		for _, d := range ds {
			if g := sw.cellGroups[cell*dims+d]; !seen[g] {
				seen[g] = true
				mine = append(mine, g)
			}
		}
	}
	touched := make([]int32, 0, len(mine))
	gi := 0
	record := func(s float64) {
		// Every row already flushed has a score > s; record the thresholds
		// in (s, previous score].
		for gi < len(order) && grid[order[gi]] > s {
			for _, g := range mine {
				acc[g].dcTP[order[gi]] = acc[g].posAbove
				acc[g].dcFP[order[gi]] = acc[g].negAbove
			}
			gi++
		}
	}
	prev := math.NaN()
	for i, s := range sw.score {
		if s != prev {
			for _, g := range touched {
				acc[g].flush2()
			}
			touched = touched[:0]
			record(s)
			prev = s
		}
		p := sw.pay[i]
		cg := sw.cellGroups[int(p&^labelBit)*dims:][:dims]
		for _, d := range ds {
			g := cg[d]
			a := &acc[g]
			if p&labelBit != 0 {
				a.bPos++
			} else {
				a.bNeg++
			}
			if !a.touched {
				a.touched = true
				touched = append(touched, g)
			}
		}
	}
	for _, g := range touched {
		acc[g].flush2()
	}
	record(math.Inf(-1))
}

// rowLoss is the log loss of one row with scores clipped to [eps, 1-eps].
func rowLoss(s, y float64) float64 {
	s = min(max(s, logLossEps), 1-logLossEps)
	if y == 1 {
		return -math.Log(s)
	}
	return -math.Log(1 - s)
}
