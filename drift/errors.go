package drift

import (
	"errors"
	"fmt"
	"math"
)

// Sentinels matched by *Error with errors.Is.
var (
	ErrEmpty    = errors.New("empty sample")
	ErrNaN      = errors.New("not a number")
	ErrNegative = errors.New("negative count")
	ErrLength   = errors.New("length mismatch")
	ErrParam    = errors.New("invalid parameter")
	// ErrZeroExpected: a cell of a contingency table has an expected
	// frequency of zero (a row or column sums to zero), so the chi-square
	// statistic is undefined.
	ErrZeroExpected = errors.New("zero expected frequency")
)

// Error reports invalid input to a statistic with its position.
type Error struct {
	Stat  string // "ks", "psi", "chi2", ...
	Arg   string // the argument: "reference", "current", "table", "k", ...
	Index int    // position of the bad value in Arg, or -1
	Msg   string
	Err   error // the sentinel
}

func (e *Error) Error() string {
	pos := ""
	if e.Index >= 0 {
		pos = fmt.Sprintf("[%d]", e.Index)
	}
	return fmt.Sprintf("drift: %s: %s%s: %s", e.Stat, e.Arg, pos, e.Msg)
}

// Unwrap returns the sentinel.
func (e *Error) Unwrap() error { return e.Err }

func errf(stat, arg string, index int, sentinel error, format string, args ...any) *Error {
	return &Error{Stat: stat, Arg: arg, Index: index, Msg: fmt.Sprintf(format, args...), Err: sentinel}
}

// checkSample rejects an empty sample or one holding NaN. Infinite values
// are allowed where the statistic defines them (KS); callers that cannot
// use them check separately.
func checkSample(stat, arg string, x []float64, allowInf bool) error {
	if len(x) == 0 {
		return errf(stat, arg, -1, ErrEmpty, "no values")
	}
	for i, v := range x {
		if math.IsNaN(v) {
			return errf(stat, arg, i, ErrNaN, "value is NaN")
		}
		if !allowInf && math.IsInf(v, 0) {
			return errf(stat, arg, i, ErrNaN, "value is infinite")
		}
	}
	return nil
}

// checkCounts rejects NaN, infinite and negative counts.
func checkCounts(stat, arg string, c []float64) error {
	for i, v := range c {
		switch {
		case math.IsNaN(v) || math.IsInf(v, 0):
			return errf(stat, arg, i, ErrNaN, "count is not finite")
		case v < 0:
			return errf(stat, arg, i, ErrNegative, "count is negative")
		}
	}
	return nil
}
