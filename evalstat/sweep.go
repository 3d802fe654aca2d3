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
	// bins are the calibration fits' binned moments of every row (weight
	// 1), computed by run's additive pass when there are at least
	// calMomentMinRows rows; nil otherwise.
	bins []calBins
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

// add adds one row to c: its score s, its label yf (0 or 1), its log
// loss, and whether it is flagged at the operating threshold.
func (c *cellSums) add(s, yf, loss, threshold float64) {
	bin := min(int(s*numBins), numBins-1)
	d := s - yf
	c.n++
	c.pos += yf
	if s >= threshold {
		c.tpT += yf
		c.fpT += 1 - yf
	}
	c.sumS += s
	c.sumSq += d * d
	c.sumLoss += loss
	c.binN[bin]++
	c.binS[bin] += s
	c.binY[bin] += yf
}

// run computes the point estimates' statistics and fills acc, which must be
// reset: the additive sums, the rank statistics (Mann–Whitney U, average
// precision), the DeLong sums, about rocPoints points of each group's ROC
// curve, and the true and false positives at every threshold of grid (in
// any order).
//
// One pass over every row adds the additive statistics to the row's cell
// (they are folded into the groups afterwards), with each cell's counts at
// the decision thresholds; the rank statistics are computed per dimension
// (grouping) by rankDims, the dimensions split between up to two
// goroutines (dimParts). Within a dimension, the rows of each segment are
// placed group by group (a stable counting sort, so each group's rows stay
// in descending score order; a dimension with one group needs none), and
// each group is swept on its own (groupSweep), carrying its state from one
// segment to the next. Each group is thus computed by the same operations
// in the same order whichever goroutine does it and however many there
// are.
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
	// The groups' totals come first: the ROC sampling, the DeLong sums and
	// the placement of each dimension's rows need them.
	nc := len(sw.cellGroups) / max(dims, 1)
	cellN := make([]int64, 2*nc)
	// Rows per segment (of sweepSegment rows) and cell, for rankDims.
	segN := make([]int32, (len(sw.pay)+sweepSegment-1)/sweepSegment*nc)
	for lo := 0; lo < len(sw.pay); lo += sweepSegment {
		sn := segN[lo/sweepSegment*nc:][:nc]
		for _, p := range sw.pay[lo:min(lo+sweepSegment, len(sw.pay))] {
			c := p &^ labelBit
			cellN[2*int(c)+int(p>>31)]++
			sn[c]++
		}
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
		r.rocStep = math.Max(1, float64(r.totN+r.totP)/float64(rocPoints))
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
	// Each cell's positives and negatives at or above each threshold of
	// grid: (tp, fp) pairs, cell-major.
	dc := make([]float64, 2*nc*len(grid))
	parts := sw.dimParts()
	var wg sync.WaitGroup
	for _, ds := range parts[1:] {
		wg.Go(func() { sw.rankDims(ds, segN, ranks) })
	}
	if len(sw.score) >= calMomentMinRows {
		m := sw.newMomentAcc(G)
		sw.additive(cells, dc, grid, order, m)
		sw.bins = m.finish()
	} else {
		sw.additive(cells, dc, grid, order, nil)
	}
	sw.rankDims(parts[0], segN, ranks)
	wg.Wait()
	// A group's decision-curve counts are the sums of its cells' (exact:
	// they are integers).
	for cell := range nc {
		cd := dc[2*cell*len(grid):][:2*len(grid)]
		for _, g := range sw.cellGroups[cell*dims:][:dims] {
			a := &acc[g]
			for k := range grid {
				a.dcTP[k] += cd[2*k]
				a.dcFP[k] += cd[2*k+1]
			}
		}
	}
	for g := range ranks {
		r := &ranks[g]
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

// thresholdCounts records, while rows come in descending score order,
// each cell's positives and negatives at or above each threshold of grid
// (visited in descending order, order) into dc: when the first row below
// a threshold comes, or at the end (record(−Inf)).
type thresholdCounts struct {
	cells []cellSums
	dc    []float64
	grid  []float64
	order []int
	gi    int     // order[gi] is the next threshold to record
	next  float64 // grid[order[gi]], or −Inf when every one is recorded
}

func newThresholdCounts(cells []cellSums, dc, grid []float64, order []int) thresholdCounts {
	t := thresholdCounts{cells: cells, dc: dc, grid: grid, order: order, next: math.Inf(-1)}
	if len(order) > 0 {
		t.next = grid[order[0]]
	}
	return t
}

// record stores the counts of every threshold above s, the score of the
// row about to be added.
func (t *thresholdCounts) record(s float64) {
	for t.gi < len(t.order) && t.grid[t.order[t.gi]] > s {
		k := t.order[t.gi]
		for c := range t.cells {
			// n and pos are sums of ones: exact integers.
			i := 2 * (c*len(t.grid) + k)
			t.dc[i] = t.cells[c].pos
			t.dc[i+1] = t.cells[c].n - t.cells[c].pos
		}
		t.gi++
	}
	t.next = math.Inf(-1)
	if t.gi < len(t.order) {
		t.next = t.grid[t.order[t.gi]]
	}
}

// additive adds every row, in descending score order, to its cell's
// additive statistics, and records in dc each cell's positives and
// negatives at or above each threshold of grid (visited in descending
// order, order): when the first row below a threshold comes, or at the
// end. Rows tied on the score share their two logarithms (rowLoss's
// values, bit for bit).
//
// With m, it also bins every row into its groups' calibration moments
// (calMomentsRange over all rows in one range): the same two logarithms
// give the logit lp = log(s) − log(1−s) of the clipped score, which may
// differ from calMomentsRange's log(s/(1−s)) in the last bit
// (docs/eval-schema.md, numerical changes).
func (sw *sweep) additive(cells []cellSums, dc []float64, grid []float64, order []int, m *momentAcc) {
	lossScore, losses := math.NaN(), [2]float64{}
	pay := sw.pay[:len(sw.score)]
	th := newThresholdCounts(cells, dc, grid, order)
	for i, s := range sw.score {
		if s < th.next {
			th.record(s)
		}
		p := pay[i]
		y := int64(p >> 31)
		if s != lossScore {
			lossScore = s
			sc := min(max(s, logLossEps), 1-logLossEps)
			ls, l1s := math.Log(sc), math.Log(1-sc)
			losses = [2]float64{-l1s, -ls}
			if m != nil {
				m.logit(ls - l1s)
			}
		}
		yf := float64(y)
		cell := int(p &^ labelBit)
		cells[cell].add(s, yf, losses[y&1], sw.threshold)
		if m != nil {
			cm := m.cell(cell)
			addMoments(&cm.mom, &m.dpow)
			cm.y += yf
			cm.ylp += yf * m.lp
		}
	}
	th.record(math.Inf(-1))
}

// sweepSegment is the number of rows rankDims takes at a time: their
// packed keys and cells, and one dimension's placement of them, stay in
// the second-level cache.
const sweepSegment = 1 << 14

// dimParts splits the layout's dimensions (groupings) between up to
// sw.workers goroutines (two at most). Each group belongs to exactly one
// dimension and is swept by one goroutine, by the same code whichever it
// is. The first part also does the additive pass (about the cost of one
// dimension), so it gets fewer dimensions.
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

// rankDims computes the rank statistics of the groups of dimensions ds.
// The rows are taken in segments of sweepSegment rows, read once: each
// row's score and label are packed in one word (sortKey) next to its
// cell. For a dimension with one group, the segment's keys are fed to its
// sweep as they are; otherwise they are placed group by group (a stable
// counting sort, with the segment's rows per cell segN counted
// beforehand, so each group's rows stay in descending score order) and
// each group's part is fed to its sweep, which carries its state (and its
// open tie block) from one segment to the next.
func (sw *sweep) rankDims(ds []int, segN []int32, ranks []rankAcc) {
	if len(ds) == 0 {
		return
	}
	dims := sw.dims
	nc := len(sw.cellGroups) / max(dims, 1)
	type dimSweep struct {
		groups   []int32
		cellSlot []int32 // cell → the group's place in groups
		gs       []groupSweep
		off      []int
	}
	dsw := make([]dimSweep, len(ds))
	for k, d := range ds {
		x := &dsw[k]
		// The dimension's groups, numbered in order of first appearance.
		slot := make(map[int32]int32)
		x.cellSlot = make([]int32, nc)
		for c := range nc {
			g := sw.cellGroups[c*dims+d]
			s, ok := slot[g]
			if !ok {
				s = int32(len(x.groups))
				slot[g] = s
				x.groups = append(x.groups, g)
			}
			x.cellSlot[c] = s
		}
		x.gs = make([]groupSweep, len(x.groups))
		for s, g := range x.groups {
			x.gs[s].start(&ranks[g])
		}
		x.off = make([]int, len(x.groups)+1)
	}
	buf := new([256]block) // the blocks found by feed, reused
	segKeys := make([]uint64, sweepSegment)
	segCell := make([]uint32, sweepSegment)
	keys := make([]uint64, sweepSegment)
	var pos []int
	score, pay := sw.score, sw.pay[:len(sw.score)]
	for lo := 0; lo < len(score); lo += sweepSegment {
		hi := min(lo+sweepSegment, len(score))
		sk, sc := segKeys[:hi-lo], segCell[:hi-lo]
		for i := range sk {
			p := pay[lo+i]
			sk[i] = sortKey(score[lo+i], p)
			sc[i] = p &^ labelBit
		}
		for k := range dsw {
			x := &dsw[k]
			if len(x.groups) == 1 {
				x.gs[0].feed(sk, buf)
				continue
			}
			off := x.off
			clear(off)
			for c, n := range segN[lo/sweepSegment*nc:][:nc] {
				off[x.cellSlot[c]+1] += int(n)
			}
			for s := range x.groups {
				off[s+1] += off[s]
			}
			pos = append(pos[:0], off[:len(x.groups)]...)
			place(keys, sk, sc, x.cellSlot, pos)
			for s := range x.groups {
				if off[s] < off[s+1] {
					x.gs[s].feed(keys[off[s]:off[s+1]], buf)
				}
			}
		}
	}
	for k := range dsw {
		x := &dsw[k]
		for s, g := range x.groups {
			x.gs[s].finish(&ranks[g])
		}
	}
}

// place puts each row's key (sk) at its group's next place in keys: the
// group's slot is cellSlot of the row's cell (sc), and pos holds each
// slot's next place (advanced). Rows are taken two at a time: both places
// are loaded before either is stored, the second moved on by one when both
// rows have the same slot, so a run of rows of one slot waits on the
// stored place of the previous pair, not of the previous row. The keys
// land where the one-row-at-a-time loop puts them.
func place(keys, sk []uint64, sc []uint32, cellSlot []int32, pos []int) {
	i := 0
	for ; i+1 < len(sk) && i+1 < len(sc); i += 2 {
		s0, s1 := cellSlot[sc[i]], cellSlot[sc[i+1]]
		p0, p1 := pos[s0], pos[s1]
		if s0 == s1 {
			p1++
		}
		keys[p0] = sk[i]
		keys[p1] = sk[i+1]
		pos[s0] = p0 + 1
		pos[s1] = p1 + 1
	}
	for ; i < len(sk); i++ {
		s := cellSlot[sc[i]]
		keys[pos[s]] = sk[i]
		pos[s]++
	}
}

// sortKey packs a score in [0, 1] and a row's label bit in one word: the
// score's bits without the sign (so -0 reads 0, as equal in comparisons),
// and the label in the sign bit.
func sortKey(s float64, p uint32) uint64 {
	return math.Float64bits(s)&^(1<<63) | uint64(p&labelBit)<<32
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

// rankAcc is a group's totals and rank statistics.
type rankAcc struct {
	totP, totN int64 // the group's positives and negatives
	rocStep    float64
	u2         int64 // twice Mann–Whitney U
	ap         float64
	sq10, sq01 u128 // Σ over positives of q², over negatives of r² (run)
	roc        [][2]float64
}

// groupSweep is the sweep of one group's rows, fed in descending score
// order a part at a time (feed), then finished (finish).
//
// The rows are taken in tie blocks (runs of equal scores): feed finds the
// blocks and counts their rows and positives into a buffer, which
// closeBlocks closes in order. Two short loops with few live values keep
// their state in registers where one loop doing both would spill it to
// memory at every row.
type groupSweep struct {
	blockState
	key       uint64 // the open block's first key
	rows, pos uint32 // its rows and positives (rows 0: no open block)
}

// start sets up the sweep of the group whose totals and ROC step are in r.
func (g *groupSweep) start(r *rankAcc) {
	g.blockState = blockState{totN: r.totN, rocStep: r.rocStep, rocNext: int64(math.Ceil(r.rocStep)), roc: r.roc}
}

// feed sweeps the group's next rows, keys (sortKey), which follow those
// fed before, with buf as scratch space.
//
// The loop has no branch that depends on the data (whether a row ties
// with the previous one is as good as random, and a mispredicted branch
// costs more than the few instructions it saves): every row stores the
// open block at buf[nb], and a row with another score keeps it (nb
// advances) and opens a new one, by conditional moves.
func (g *groupSweep) feed(keys []uint64, buf *[256]block) {
	if len(keys) == 0 {
		return
	}
	key, rows, pos := g.key, g.rows, g.pos
	if rows == 0 { // no open block yet: the first row opens one
		key = keys[0]
	}
	for i := 0; i < len(keys); {
		nb := 0
		// At most len(buf)-1 blocks are kept per batch: the store of
		// the open block at buf[nb] stays in range.
		for ; i < len(keys) && nb < len(buf)-1; i++ {
			k := keys[i]
			buf[nb] = block{rows: rows, pos: pos}
			y := uint32(k >> 63)
			if (k^key)<<1 != 0 { // another score: the open block ends
				nb++
				rows, pos = 0, 0
			}
			key = k
			rows++
			pos += y
		}
		g.closeBlocks(buf[:nb])
	}
	g.key, g.rows, g.pos = key, rows, pos
}

// finish closes the last block and sets r's rank statistics and ROC
// points (the last block always takes one).
func (g *groupSweep) finish(r *rankAcc) {
	if g.rows > 0 {
		g.closeBlocks([]block{{rows: g.rows, pos: g.pos}})
	}
	if end := [2]float64{float64(g.above - g.posAbove), float64(g.posAbove)}; g.roc[len(g.roc)-1] != end {
		g.roc = append(g.roc, end)
	}
	r.u2, r.ap, r.sq10, r.sq01, r.roc = g.u2, g.ap, g.sq10, g.sq01, g.roc
}

// block is a tie block of one group: its rows and positives.
type block struct {
	rows, pos uint32
}

// blockState is a group's state between batches of blocks.
type blockState struct {
	above, posAbove int64 // rows and positives in closed blocks
	u2              int64 // twice Mann–Whitney U
	ap              float64
	sq10, sq01      u128 // Σ over positives of q², over negatives of r²
	totN            int64
	rocStep         float64
	rocNext         int64 // rows after which the next ROC point is due
	roc             [][2]float64
}

// closeBlocks closes the blocks bs in order. A block's pairs go to twice U
// (a negative counts two for each positive above its block and one for
// each positive in it), its positives times the precision with the whole
// block predicted positive to average precision, its members' doubled
// placements squared to the DeLong sums (q = 2N·V10 for a positive,
// r = 2P·V01 for a negative), and it takes a ROC point when one is due
// (finish adds the last block's).
func (st *blockState) closeBlocks(bs []block) {
	above, posAbove := st.above, st.posAbove
	u2, ap := st.u2, st.ap
	sq10, sq01 := st.sq10, st.sq01
	totN, rocNext := st.totN, st.rocNext
	for _, b := range bs {
		rows, pos := int64(b.rows), int64(b.pos)
		neg := rows - pos
		tp := posAbove + pos
		rr := uint64(2*posAbove + pos)
		q := uint64(2*(totN-(above-posAbove)) - neg)
		u2 += neg * int64(rr)
		ap += float64(pos) * float64(tp) / float64(above+rows)
		sq10 = sq10.add(mul128(uint64(pos)*q, q))
		sq01 = sq01.add(mul128(uint64(neg)*rr, rr))
		above += rows
		posAbove = tp
		if above >= rocNext {
			rocNext = st.rocPoint(above, posAbove)
		}
	}
	st.above, st.posAbove, st.u2, st.ap, st.sq10, st.sq01 = above, posAbove, u2, ap, sq10, sq01
	st.rocNext = rocNext
}

// rocPoint takes a ROC point after rows rows, pos of them positive, and
// returns the row count at which the next one is due: the first integer
// at or above rows + rocStep. It is rarely called and kept out of line,
// which leaves closeBlocks' loop its registers.
//
//go:noinline
func (st *blockState) rocPoint(rows, pos int64) int64 {
	st.roc = append(st.roc, [2]float64{float64(rows - pos), float64(pos)})
	return int64(math.Ceil(float64(rows) + st.rocStep))
}

// rowLoss is the log loss of one row with scores clipped to [eps, 1-eps].
func rowLoss(s, y float64) float64 {
	s = min(max(s, logLossEps), 1-logLossEps)
	if y == 1 {
		return -math.Log(s)
	}
	return -math.Log(1 - s)
}
