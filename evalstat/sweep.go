package evalstat

import (
	"math"
	"math/bits"
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
	n, pos           float64
	u                float64 // Mann–Whitney: Σ over negatives of positives above (+½ tied)
	ap               float64 // Σ over blocks of block positives × precision at the block
	tpT, fpT         float64 // predicted positive at the operating threshold
	sumS, sumSq      float64 // Σ s, Σ (s-y)²
	sumLoss          float64 // Σ log loss
	binN, binS, binY [numBins]float64

	// Point estimates only: DeLong components and curves.
	s10, s01 float64
	roc      [][2]float64
	dcTP     []float64
	dcFP     []float64
}

func (a *groupAcc) reset() {
	*a = groupAcc{roc: a.roc[:0], dcTP: a.dcTP[:0], dcFP: a.dcFP[:0]}
}

// sweep holds the rows in descending score order and the map from each
// stratum (cell) to the accumulators of the groups it belongs to.
type sweep struct {
	score      []float64
	pay        []uint32 // label<<31 | cell
	cellGroups []int32  // cell*dims + d → group index
	dims       int
	threshold  float64
	workers    int // goroutines for the sweep (0 or 1: one)
}

const labelBit = 1 << 31

// maxRows bounds the rows of one evaluation: the sweep's exact integer
// sums (twice U, the DeLong sums of squares) stay within 64 and 128 bits
// below it.
const maxRows = 1<<31 - 1

// cellSums are the additive statistics of one cell (stratum): a group's
// are the sums over its cells.
type cellSums struct {
	n, pos, tpT, fpT     float64
	sumS, sumSq, sumLoss float64
	binN, binS, binY     [numBins]float64
}

// run is the sweep of the point estimates: one pass over the rows in
// descending score order (split by dimension between sw.workers
// goroutines) that fills acc, which must be reset, with every statistic
// the report needs: the additive sums, the rank statistics (Mann–Whitney
// U, average precision), the DeLong sums, about rocPoints points of each
// group's ROC curve, and the true and false positives at every threshold
// of grid (in any order).
//
// Additive statistics are summed per cell and then folded into the groups
// the cell belongs to. The rank statistics are updated per group without
// branching on the label: each group remembers the tie block (run of equal
// scores) it was last updated in and its counts when that block began;
// pairs inside a block count ½ to U, and a block is closed (its share of
// average precision and of the DeLong sums added, a ROC point taken if one
// is due) once the group meets its next block, or at the end.
//
// Everything is counted in exact integers. The DeLong variance components
// (Sun & Xu 2014, written with counts instead of mid-ranks) are
//
//	s10 = Σ over positives of (V10 − AUC)²,  V10 = (negatives below + ½ tied) / N
//	s01 = Σ over negatives of (V01 − AUC)²,  V01 = (positives above + ½ tied) / P
//
// and since the placements V10 of the positives sum to AUC·P (and the V01
// to AUC·N), s10 = Σ V10² − P·AUC². With q = 2N·V10, an integer, that is
//
//	s10 = (P·Σ q² − (2U)²) / (4·N²·P)
//
// whose numerator is summed exactly in 128 bits, so no second pass over
// the rows is needed to centre the placements on the AUC.
func (sw *sweep) run(acc []groupAcc, rocPoints int, grid []float64) {
	dims := sw.dims
	G := len(acc)
	// The groups' totals come first: the ROC sampling and the DeLong sums
	// need them.
	nc := len(sw.cellGroups) / max(dims, 1)
	cellN := make([]int64, 2*nc)
	for _, p := range sw.pay {
		cellN[2*int(p&^labelBit)+int(p>>31)]++
	}
	ranks := make([]rankAcc, G)
	for c := range nc {
		for _, g := range sw.cellGroups[c*dims:][:dims] {
			ranks[g].totN += cellN[2*c]
			ranks[g].totP += cellN[2*c+1]
		}
	}
	for g := range ranks {
		r := &ranks[g]
		r.block = -1
		r.rocStep = math.Max(1, float64(r.totN+r.totP)/float64(rocPoints))
		r.rocNext = r.rocStep
		r.roc = append(acc[g].roc[:0], [2]float64{0, 0})
		acc[g].dcTP = make([]float64, len(grid))
		acc[g].dcFP = make([]float64, len(grid))
	}
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
	cells := make([]cellSums, nc)
	parts := sw.dimParts()
	var wg sync.WaitGroup
	for _, ds := range parts[1:] {
		wg.Go(func() { sw.runPart(nil, ranks, acc, grid, order, ds) })
	}
	sw.runPart(cells, ranks, acc, grid, order, parts[0])
	wg.Wait()
	for g := range ranks {
		r := &ranks[g]
		r.closeBlock()
		a := &acc[g]
		a.u, a.ap = float64(r.u2)/2, r.ap
		a.roc = r.roc
		a.s10 = delongSum(r.sq10, r.totP, r.totN, r.u2)
		a.s01 = delongSum(r.sq01, r.totN, r.totP, r.u2)
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

// delongSum returns (a·Σq² − (2U)²) / (4·b²·a), the DeLong component of the
// class with a members, the other having b, from the exact sum of squares
// sq of its members' doubled placements (see run). It is 0 when either
// class is empty.
func delongSum(sq u128, a, b, u2 int64) float64 {
	if a == 0 || b == 0 {
		return 0
	}
	num := sq.mul64(uint64(a)).sub(mul128(uint64(u2), uint64(u2)))
	return num.float() / (4 * float64(b) * float64(b) * float64(a))
}

// u128 is an unsigned 128-bit integer.
type u128 struct{ hi, lo uint64 }

func mul128(x, y uint64) u128 {
	hi, lo := bits.Mul64(x, y)
	return u128{hi, lo}
}

func (x u128) add(y u128) u128 {
	lo, c := bits.Add64(x.lo, y.lo, 0)
	return u128{x.hi + y.hi + c, lo}
}

func (x u128) sub(y u128) u128 {
	lo, b := bits.Sub64(x.lo, y.lo, 0)
	return u128{x.hi - y.hi - b, lo}
}

// mul64 returns x·m; the product must fit in 128 bits.
func (x u128) mul64(m uint64) u128 {
	hi, lo := bits.Mul64(x.lo, m)
	return u128{x.hi*m + hi, lo}
}

func (x u128) float() float64 {
	return float64(x.hi)*(1<<64) + float64(x.lo)
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
// cells is not nil) and the rank statistics, DeLong sums and curves to the
// groups of dimensions ds.
func (sw *sweep) runPart(cells []cellSums, ranks []rankAcc, acc []groupAcc, grid []float64, order []int, ds []int) {
	dims := sw.dims
	score, pay := sw.score, sw.pay
	var mine []int32 // the groups of ds
	seen := make(map[int32]bool)
	for cell := range len(sw.cellGroups) / max(dims, 1) {
		for _, d := range ds {
			if g := sw.cellGroups[cell*dims+d]; !seen[g] {
				seen[g] = true
				mine = append(mine, g)
			}
		}
	}
	// The decision curve: at each threshold, every row above it has been
	// swept; those of a group's open block are in its bPos and bNeg.
	gi := 0
	nextTh := math.Inf(-1)
	if len(order) > 0 {
		nextTh = grid[order[0]]
	}
	record := func(s float64) {
		for gi < len(order) && grid[order[gi]] > s {
			k := order[gi]
			for _, g := range mine {
				r := &ranks[g]
				acc[g].dcTP[k] = float64(r.posAbove + r.bPos)
				acc[g].dcFP[k] = float64(r.negAbove + r.bNeg)
			}
			gi++
		}
		nextTh = math.Inf(-1)
		if gi < len(order) {
			nextTh = grid[order[gi]]
		}
	}
	block := int32(0)
	lossScore, losses := math.NaN(), [2]float64{}
	for i, s := range score {
		if i > 0 && score[i-1] != s {
			block = int32(i)
		}
		if s < nextTh {
			record(s)
		}
		p := pay[i]
		cell := int(p &^ labelBit)
		y := int64(p >> 31)
		if cells != nil {
			if s != lossScore {
				// Rows tied on the score share their two logarithms.
				lossScore = s
				losses = [2]float64{rowLoss(s, 0), rowLoss(s, 1)}
			}
			yf := float64(y)
			bin := min(int(s*numBins), numBins-1)
			d := s - yf
			c := &cells[cell]
			c.n++
			c.pos += yf
			if s >= sw.threshold {
				c.tpT += yf
				c.fpT += 1 - yf
			}
			c.sumS += s
			c.sumSq += d * d
			c.sumLoss += losses[y]
			c.binN[bin]++
			c.binS[bin] += s
			c.binY[bin] += yf
		}
		n := 1 - y
		cg := sw.cellGroups[cell*dims:][:dims]
		for _, d := range ds {
			a := &ranks[cg[d]]
			if a.block != block {
				a.closeBlock()
				a.block = block
			}
			// Twice U: a negative adds two for every positive above its
			// block and one for each positive already in it; a positive
			// one for each negative already in its block.
			a.u2 += n*(2*a.posAbove+a.bPos) + y*a.bNeg
			a.bPos += y
			a.bNeg += n
		}
	}
	record(math.Inf(-1))
}

// rankAcc is a group's state during run.
type rankAcc struct {
	posAbove, negAbove int64 // rows in completed tie blocks
	bPos, bNeg         int64 // rows in the current tie block
	u2                 int64 // twice Mann–Whitney U
	ap                 float64
	totP, totN         int64 // the group's positives and negatives
	sq10, sq01         u128  // Σ over positives of q², over negatives of r² (run)
	rocStep, rocNext   float64
	roc                [][2]float64
	block              int32 // first row of the tie block last updated
}

// closeBlock adds the finished block's share of average precision (its
// positives times the precision with the whole block predicted positive)
// and of the DeLong sums, moves its counts above, and takes a ROC point
// when one is due (and at the last block).
func (a *rankAcc) closeBlock() {
	tp := a.posAbove + a.bPos
	den := tp + a.negAbove + a.bNeg
	if den == 0 { // no rows yet; bPos is 0 too
		den = 1
	}
	a.ap += float64(a.bPos) * float64(tp) / float64(den)
	if a.bPos > 0 {
		// q = 2N·V10 for each of the block's positives.
		q := uint64(2*(a.totN-a.negAbove) - a.bNeg)
		a.sq10 = a.sq10.add(mul128(uint64(a.bPos)*q, q))
	}
	if a.bNeg > 0 {
		// r = 2P·V01 for each of the block's negatives.
		r := uint64(2*a.posAbove + a.bPos)
		a.sq01 = a.sq01.add(mul128(uint64(a.bNeg)*r, r))
	}
	a.posAbove += a.bPos
	a.negAbove += a.bNeg
	if a.bPos+a.bNeg > 0 {
		if done := a.posAbove + a.negAbove; float64(done) >= a.rocNext || done == a.totP+a.totN {
			a.roc = append(a.roc, [2]float64{float64(a.negAbove), float64(a.posAbove)})
			a.rocNext = float64(done) + a.rocStep
		}
	}
	a.bPos, a.bNeg = 0, 0
}

// rowLoss is the log loss of one row with scores clipped to [eps, 1-eps].
func rowLoss(s, y float64) float64 {
	s = min(max(s, logLossEps), 1-logLossEps)
	if y == 1 {
		return -math.Log(s)
	}
	return -math.Log(1 - s)
}
