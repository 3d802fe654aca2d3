package evalstat

// AggregateNumbers exposes aggregate to the external tests: it returns min,
// max, difference, difference to overall, ratio, ratio to overall, worst.
func AggregateNumbers(vals []float64, overall float64, higherBetter bool) []float64 {
	out := make([]float64, numAgg)
	aggregate(vals, overall, higherBetter, out)
	return out
}

// FastExp exposes fastExp.
var FastExp = fastExp

// SetCalMomentMinRows sets the row count from which the calibration fits
// use binned moments and returns a function restoring the old value.
func SetCalMomentMinRows(n int) (restore func()) {
	old := calMomentMinRows
	calMomentMinRows = n
	return func() { calMomentMinRows = old }
}

// SortDesc exposes the radix sort of the scores.
func SortDesc(score []float64, pay, pat []uint32) { sortDesc(score, pay, pat) }

// DelimMasks and DelimMasksGo expose the CSV fast path's delimiter masks
// (the assembly version where there is one, and the portable one).
var (
	DelimMasks   = delimMasks
	DelimMasksGo = delimMasksGo
)

// SetGeneralOnly turns the CSV fast path off (true) or on and returns a
// function restoring the old setting. Tests that use it must not run in
// parallel.
func SetGeneralOnly(off bool) (restore func()) {
	old := generalOnly
	generalOnly = off
	return func() { generalOnly = old }
}

// SortCodes exposes the radix sort of decimal scores.
var SortCodes = sortCodes

// Digits exposes Table.digits, the scale the sort tries for the scores.
func (t *Table) Digits() int { return t.digits }

// Columns exposes the table's score and label-and-cell columns.
func (t *Table) Columns() ([]float64, []uint32) { return t.score, t.pay }

// BinStart exposes binStart; CalBinWidth the calibration bins' width.
var BinStart = binStart

const CalBinWidth = calBinWidth

// Place exposes rankDims' placement of a segment's rows by group.
var Place = place
