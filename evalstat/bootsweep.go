package evalstat

import (
	"math/bits"
	"math/rand/v2"
	"slices"
)

// The bootstrap's data layout. A resample is a vector of counts, one per
// row, drawn within each stratum (cell). The rows are therefore kept in
// cell-major order — every cell's rows together, in descending score order
// within the cell — so that drawing a resample writes each cell's counts
// into one contiguous, cache-resident stretch of the count vector, and a
// sequential pass per cell yields its additive statistics. Groups that are
// exactly one cell (the intersection groups; the groups of a single
// attribute) get their rank statistics (Mann–Whitney U, average precision)
// from a second pass over the same, still cached, stretch. Every other group (the overall
// population, the groups of one attribute among several) has a
// precomputed list of its rows in descending score order, as positions in
// the count vector, with the label and where its tie blocks start; its rank
// statistics come from one pass over that list, with the group's state in
// registers.
//
// Resample b draws from its own PCG stream, seeded with the seed and b, so
// resamples and results are identical bit for bit whatever the number of
// workers and on every platform.

// Per-row flag bits of the cell-major and group lists.
const (
	bfLabel    = 1 << 0 // the row is a positive
	bfNewBlock = 1 << 1 // the row starts a tie block (in its cell or group)
	bfAbove    = 1 << 2 // score ≥ threshold
	bfBinShift = 3      // bits 3–6: calibration bin
	bfSegment  = 1 << 7 // the row starts a cell, a bin, or the rows below the threshold
)

// bootPlan is the static part of the bootstrap, built once.
type bootPlan struct {
	nc        int
	cellStart []int     // cell c: cell-major rows cellStart[c] … cellStart[c+1]-1
	rows      []uint32  // cell-major row → position in score order
	score     []float64 // cell-major
	loss      []float64 // cell-major per-row log loss
	flag      []uint8   // cell-major flags

	// Clusters: cluster index within its cell per cell-major row, and the
	// number of clusters per cell (nil without clusters).
	clusterOf []uint32
	cellNCl   []int

	cellDims []int // dimensions whose groups are single cells
	passes   []groupPass
}

// groupPass lists, for one dimension of the layout, each group's rows in
// descending score order.
type groupPass struct {
	groups []int32  // group index of each section
	start  []int    // section k: idx[start[k]:start[k+1]]
	idx    []uint32 // cell-major row positions
	flag   []uint8  // bfLabel | bfNewBlock (within the group)
	dim    int
}

func newBootPlan(t *Table, sw *sweep) *bootPlan {
	n, nc, dims := len(sw.score), len(t.Cells), sw.dims
	p := &bootPlan{nc: nc, cellStart: make([]int, nc+1), rows: make([]uint32, n)}
	for _, q := range sw.pay {
		p.cellStart[int(q&^labelBit)+1]++
	}
	for c := range nc {
		p.cellStart[c+1] += p.cellStart[c]
	}
	next := make([]int, nc)
	copy(next, p.cellStart[:nc])
	pos2cm := make([]uint32, n)
	for i, q := range sw.pay {
		c := int(q &^ labelBit)
		p.rows[next[c]] = uint32(i)
		pos2cm[i] = uint32(next[c])
		next[c]++
	}
	p.score = make([]float64, n)
	p.loss = make([]float64, n)
	p.flag = make([]uint8, n)
	for c := range nc {
		for j := p.cellStart[c]; j < p.cellStart[c+1]; j++ {
			i := p.rows[j]
			s := sw.score[i]
			y := 0.0
			var f uint8
			if sw.pay[i]&labelBit != 0 {
				y, f = 1, bfLabel
			}
			if j == p.cellStart[c] || s != p.score[j-1] {
				f |= bfNewBlock
			}
			if s >= sw.threshold {
				f |= bfAbove
			}
			f |= uint8(min(int(s*numBins), numBins-1)) << bfBinShift
			if j == p.cellStart[c] || (f^p.flag[j-1])&^(bfLabel|bfNewBlock|bfSegment) != 0 {
				f |= bfSegment
			}
			p.score[j], p.loss[j], p.flag[j] = s, rowLoss(s, y), f
		}
	}
	if t.cluster != nil {
		p.clusterOf = make([]uint32, n)
		p.cellNCl = make([]int, nc)
		// A cell's clusters are numbered in increasing order of their ids'
		// codes, the order in which the draws address them.
		ids := make(map[uint32]uint32)
		var codes []uint32
		for c := range nc {
			clear(ids)
			codes = codes[:0]
			for j := p.cellStart[c]; j < p.cellStart[c+1]; j++ {
				id := t.cluster[p.rows[j]]
				if _, ok := ids[id]; !ok {
					ids[id] = 0
					codes = append(codes, id)
				}
			}
			slices.Sort(codes)
			for k, id := range codes {
				ids[id] = uint32(k)
			}
			for j := p.cellStart[c]; j < p.cellStart[c+1]; j++ {
				p.clusterOf[j] = ids[t.cluster[p.rows[j]]]
			}
			p.cellNCl[c] = len(codes)
		}
	}
	// Dimensions whose every group holds exactly one cell.
	for d := range dims {
		cellsIn := map[int32]int{}
		for c := range nc {
			cellsIn[sw.cellGroups[c*dims+d]]++
		}
		single := true
		for _, k := range cellsIn {
			single = single && k == 1
		}
		if single {
			p.cellDims = append(p.cellDims, d)
			continue
		}
		p.passes = append(p.passes, newGroupPass(sw, d, pos2cm))
	}
	return p
}

// newGroupPass lists the rows of every group of dimension d.
func newGroupPass(sw *sweep, d int, pos2cm []uint32) groupPass {
	dims := sw.dims
	gp := groupPass{dim: d}
	section := map[int32]int{}
	var counts []int
	for _, q := range sw.pay {
		g := sw.cellGroups[int(q&^labelBit)*dims+d]
		k, ok := section[g]
		if !ok {
			k = len(gp.groups)
			section[g] = k
			gp.groups = append(gp.groups, g)
			counts = append(counts, 0)
		}
		counts[k]++
	}
	gp.start = make([]int, len(counts)+1)
	for k, c := range counts {
		gp.start[k+1] = gp.start[k] + c
	}
	next := make([]int, len(counts))
	copy(next, gp.start)
	last := make([]float64, len(counts))
	gp.idx = make([]uint32, len(sw.pay))
	gp.flag = make([]uint8, len(sw.pay))
	for i, q := range sw.pay {
		k := section[sw.cellGroups[int(q&^labelBit)*dims+d]]
		j := next[k]
		next[k]++
		var f uint8
		if q&labelBit != 0 {
			f = bfLabel
		}
		if j == gp.start[k] || sw.score[i] != last[k] {
			f |= bfNewBlock
		}
		last[k] = sw.score[i]
		gp.idx[j], gp.flag[j] = pos2cm[i], f
	}
	return gp
}

// uint64n returns a uniform integer in [0, n) from r, exactly as
// math/rand/v2's Rand.Uint64N does on 64-bit platforms (here on every
// platform), without the interface call per draw.
func uint64n(r *rand.PCG, n uint64) uint64 {
	if n&(n-1) == 0 {
		return r.Uint64() & (n - 1)
	}
	hi, lo := bits.Mul64(r.Uint64(), n)
	if lo < n {
		thresh := -n % n
		for lo < thresh {
			hi, lo = bits.Mul64(r.Uint64(), n)
		}
	}
	return hi
}

// draw writes resample b's counts into wc (cell-major): within every cell,
// as many rows (or clusters) as it has, drawn uniformly with replacement.
// cnt is scratch space for the cluster counts.
func (p *bootPlan) draw(r *rand.PCG, wc []uint8, cnt []uint8) error {
	for c := range p.nc {
		sec := wc[p.cellStart[c]:p.cellStart[c+1]]
		if p.clusterOf == nil {
			clear(sec)
			drawCounts(r, sec)
			continue // overflow is caught by the cell pass
		}
		k := cnt[:p.cellNCl[c]]
		clear(k)
		drawCounts(r, k)
		got := 0
		for _, x := range k {
			got += int(x)
		}
		if got != len(k) {
			return errWeightOverflow
		}
		cl := p.clusterOf[p.cellStart[c]:p.cellStart[c+1]]
		for j := range sec {
			sec[j] = k[cl[j]]
		}
	}
	return nil
}

// drawCounts makes len(k) draws of a uniform index in [0, len(k)) and
// counts them in k. Each 64-bit output of r gives two draws, one from each
// 32-bit half, by Lemire's multiply-and-reject: the index is the high half
// of half·m, rejected (and redrawn from a fresh output) when the low half
// falls below 2³² mod m, which makes every index exactly equally likely.
func drawCounts(r *rand.PCG, k []uint8) {
	m := uint64(len(k))
	if m >= 1<<32 {
		for range m {
			k[uint64n(r, m)]++
		}
		return
	}
	if m == 0 {
		return
	}
	thresh := uint32(-uint32(m)) % uint32(m) // 2³² mod m
	i := uint64(0)
	for ; i+2 <= m; i += 2 {
		x := r.Uint64()
		a := uint64(uint32(x)) * m
		if uint32(a) < thresh {
			a = redraw32(r, m, thresh)
		}
		b := (x >> 32) * m
		if uint32(b) < thresh {
			b = redraw32(r, m, thresh)
		}
		k[a>>32]++
		k[b>>32]++
	}
	if i < m {
		a := uint64(uint32(r.Uint64())) * m
		if uint32(a) < thresh {
			a = redraw32(r, m, thresh)
		}
		k[a>>32]++
	}
}

// redraw32 draws from fresh outputs of r until one is accepted.
func redraw32(r *rand.PCG, m uint64, thresh uint32) uint64 {
	for {
		if a := uint64(uint32(r.Uint64())) * m; uint32(a) >= thresh {
			return a
		}
	}
}

// maxClusters returns the largest number of clusters of one cell.
func (p *bootPlan) maxClusters() int {
	m := 0
	for _, k := range p.cellNCl {
		m = max(m, k)
	}
	return m
}

// The rank statistics of one group over its rows in descending score
// order. With P and N the positives and negatives so far, Pb and Nb those
// before the current tie block, a row of weight w adds to twice the
// Mann–Whitney U: w·(P + Pb) for a negative (two for each positive above
// its block, one for each already in it) and w·(N − Nb) for a positive (one
// for each negative already in its block), so every pair tied within a
// block counts ½ in U. When a row starts a block, the block before it is
// closed: if it has positives bp = P − Pb, it adds bp·P/(P+N) to average
// precision.
//
// The loops are written without a branch on the data: a row left out of a
// resample has weight 0 and changes nothing, and every row adds its
// block's share times 0 or 1 (an exact +0 when it closes no block with
// positives), because the label, the weight and the tie structure of
// successive rows are unpredictable and mispredicted branches cost more
// than a division. Counts are exact integers, so U, and therefore every
// result, equals the earlier floating-point sweep's bit for bit. The loops
// make no call and keep few values live, so that their state stays in
// registers.

// rankGroup runs the rank statistics over a group's rows, given as
// positions idx in the cell-major counts wc with their flags fs, and
// returns U and the average precision.
func rankGroup(wc []uint8, idx []uint32, fs []uint8) (u, ap float64) {
	var P, N, Pb, Nb, U2 int64
	fs = fs[:len(idx)]
	for j, i := range idx {
		f := fs[j]
		w := int64(wc[i])
		closes := float64(f >> 1 & 1) // 1 when the row starts a block
		ap += closes * (float64(P-Pb) * float64(P) / float64(max(P+N, 1)))
		if f&bfNewBlock != 0 { // a conditional move, not a branch
			Pb, Nb = P, N
		}
		wy := w * int64(f&bfLabel)
		wn := w - wy
		U2 += wn*(P+Pb) + wy*(N-Nb)
		P += wy
		N += wn
	}
	if bp := P - Pb; bp > 0 {
		ap += float64(bp) * float64(P) / float64(P+N)
	}
	return float64(U2) / 2, ap
}

// rankSeq is rankGroup over rows whose counts ws are consecutive; it also
// returns the weighted numbers of positives and negatives.
func rankSeq(ws []uint8, fs []uint8) (u, ap float64, pos, neg int64) {
	var P, N, Pb, Nb, U2 int64
	fs = fs[:len(ws)]
	for j, w8 := range ws {
		f := fs[j]
		w := int64(w8)
		closes := float64(f >> 1 & 1)
		ap += closes * (float64(P-Pb) * float64(P) / float64(max(P+N, 1)))
		if f&bfNewBlock != 0 {
			Pb, Nb = P, N
		}
		wy := w * int64(f&bfLabel)
		wn := w - wy
		U2 += wn*(P+Pb) + wy*(N-Nb)
		P += wy
		N += wn
	}
	if bp := P - Pb; bp > 0 {
		ap += float64(bp) * float64(P) / float64(P+N)
	}
	return float64(U2) / 2, ap, P, N
}

// rankMode says which rank statistics a resample needs.
type rankMode uint8

const (
	rankNone rankMode = iota // neither (no AUROC or AUPRC resampled)
	rankU                    // Mann–Whitney U only (AUROC without AUPRC)
	rankFull                 // U and average precision
)

// rankGroupU is rankGroup without the average precision: no division per
// row. U is the same exact integer count, so AUROC is the same bit for bit.
func rankGroupU(wc []uint8, idx []uint32, fs []uint8) float64 {
	var P, N, Pb, Nb, U2 int64
	fs = fs[:len(idx)]
	for j, i := range idx {
		f := fs[j]
		w := int64(wc[i])
		if f&bfNewBlock != 0 {
			Pb, Nb = P, N
		}
		wy := w * int64(f&bfLabel)
		wn := w - wy
		U2 += wn*(P+Pb) + wy*(N-Nb)
		P += wy
		N += wn
	}
	return float64(U2) / 2
}

// rankSeqU is rankSeq without the average precision.
func rankSeqU(ws []uint8, fs []uint8) (u float64, pos, neg int64) {
	var P, N, Pb, Nb, U2 int64
	fs = fs[:len(ws)]
	for j, w8 := range ws {
		f := fs[j]
		w := int64(w8)
		if f&bfNewBlock != 0 {
			Pb, Nb = P, N
		}
		wy := w * int64(f&bfLabel)
		wn := w - wy
		U2 += wn*(P+Pb) + wy*(N-Nb)
		P += wy
		N += wn
	}
	return float64(U2) / 2, P, N
}

// rankSeqMode runs rankSeq or rankSeqU (mode is not rankNone).
func rankSeqMode(ws, fs []uint8, mode rankMode) (u, ap float64, pos, neg int64) {
	if mode == rankU {
		u, pos, neg = rankSeqU(ws, fs)
		return u, 0, pos, neg
	}
	return rankSeq(ws, fs)
}

// runBoot computes the statistics of one resample (counts wc, cell-major)
// into acc, which must be reset: every cell's additive sums, folded into
// its groups, and every group's rank statistics. Without additive, only the
// cells' numbers of rows and positives are summed; without rank, the rank
// statistics are left at zero; with rankU, the average precision is. It returns errWeightOverflow if a count
// wrapped.
func (p *bootPlan) runBoot(sw *sweep, wc []uint8, acc []groupAcc, cells []cellSums, additive bool, rank rankMode) error {
	dims := sw.dims
	for c := range p.nc {
		lo, hi := p.cellStart[c], p.cellStart[c+1]
		if !additive {
			if err := p.countCell(sw, c, wc[lo:hi], acc, &cells[c], rank); err != nil {
				return err
			}
			continue
		}
		ws, ss, ls, fs := wc[lo:hi], p.score[lo:hi], p.loss[lo:hi], p.flag[lo:hi]
		ss, ls, fs = ss[:len(ws)], ls[:len(ws)], fs[:len(ws)]
		// The additive sums. Rows left out (weight 0) add exact zeros: no
		// branch on them. Counts are exact integers; those per calibration
		// bin and above the threshold are read off the running counts
		// where a segment (a bin, or the side of the threshold) ends.
		// Segments change only a few times along the cell's rows
		// (descending score order), so that branch is predicted.
		var cs cellSums
		var sumS, sumSq, sumLoss, bS float64
		var n, pos, binN, binP int64 // running counts; where the bin began
		curBin, above := -1, true
		for j, w8 := range ws {
			f := fs[j]
			if f&bfSegment != 0 {
				if bin := int(f >> bfBinShift & 15); bin != curBin {
					if curBin >= 0 {
						cs.binN[curBin] = float64(n - binN)
						cs.binY[curBin] = float64(pos - binP)
						cs.binS[curBin] = bS
					}
					curBin, bS, binN, binP = bin, 0, n, pos
				}
				if above && f&bfAbove == 0 {
					above = false
					cs.tpT, cs.fpT = float64(pos), float64(n-pos)
				}
			}
			y := f & bfLabel
			wt := float64(w8)
			s := ss[j]
			d := s - float64(y)
			x := wt * s
			sumS += x
			bS += x
			sumSq += wt * d * d
			sumLoss += wt * ls[j]
			n += int64(w8)
			pos += int64(w8) * int64(y)
		}
		if curBin >= 0 {
			cs.binN[curBin] = float64(n - binN)
			cs.binY[curBin] = float64(pos - binP)
			cs.binS[curBin] = bS
		}
		if above {
			cs.tpT, cs.fpT = float64(pos), float64(n-pos)
		}
		cs.n, cs.pos = float64(n), float64(pos)
		cs.sumS, cs.sumSq, cs.sumLoss = sumS, sumSq, sumLoss
		if p.clusterOf == nil && n != int64(hi-lo) {
			return errWeightOverflow
		}
		cells[c] = cs
		if rank != rankNone && len(p.cellDims) > 0 {
			u, ap, _, _ := rankSeqMode(ws, fs, rank)
			for _, d := range p.cellDims {
				a := &acc[sw.cellGroups[c*dims+d]]
				a.u, a.ap = u, ap
			}
		}
	}
	for k := range p.passes {
		if rank == rankNone {
			break
		}
		gp := &p.passes[k]
		for sec, g := range gp.groups {
			lo, hi := gp.start[sec], gp.start[sec+1]
			if rank == rankU {
				acc[g].u = rankGroupU(wc, gp.idx[lo:hi], gp.flag[lo:hi])
				continue
			}
			acc[g].u, acc[g].ap = rankGroup(wc, gp.idx[lo:hi], gp.flag[lo:hi])
		}
	}
	// Fold the cells into their groups.
	for cell := range cells {
		c := &cells[cell]
		if c.n == 0 {
			continue
		}
		if !additive {
			for _, g := range sw.cellGroups[cell*dims:][:dims] {
				acc[g].n += c.n
				acc[g].pos += c.pos
			}
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
	return nil
}

// countCell is the cell pass of a resample that needs no additive sums:
// cell c's weighted numbers of rows and positives (from the rank pass when
// the cell is a group and rank is set, else from a pass over the counts)
// into cs, and its rank statistics into the groups it is.
func (p *bootPlan) countCell(sw *sweep, c int, ws []uint8, acc []groupAcc, cs *cellSums, rank rankMode) error {
	fs := p.flag[p.cellStart[c]:p.cellStart[c+1]]
	var n, pos int64
	if rank != rankNone && len(p.cellDims) > 0 {
		u, ap, P, N := rankSeqMode(ws, fs, rank)
		n, pos = P+N, P
		for _, d := range p.cellDims {
			a := &acc[sw.cellGroups[c*sw.dims+d]]
			a.u, a.ap = u, ap
		}
	} else {
		fs = fs[:len(ws)]
		for j, w8 := range ws {
			n += int64(w8)
			pos += int64(w8) * int64(fs[j]&bfLabel)
		}
	}
	if p.clusterOf == nil && n != int64(len(ws)) {
		return errWeightOverflow
	}
	*cs = cellSums{n: float64(n), pos: float64(pos)}
	return nil
}

// scatter writes the cell-major counts wc into w, in score order (for the
// calibration refits, which sweep in score order).
func (p *bootPlan) scatter(wc, w []uint8) {
	for j, i := range p.rows {
		w[i] = wc[j]
	}
}
