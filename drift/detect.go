package drift

import "math"

// Direction selects the changes a sequential detector watches for.
type Direction int

const (
	// Both watches for increases and decreases (two-sided).
	Both Direction = iota
	// Up watches for increases only.
	Up
	// Down watches for decreases only.
	Down
)

func (d Direction) valid() bool { return d == Both || d == Up || d == Down }

// Signal is what a detector reports after a value.
type Signal int

const (
	// NoChange: the statistics are below their thresholds.
	NoChange Signal = iota
	// Increase: an upward shift of the mean was detected.
	Increase
	// Decrease: a downward shift of the mean was detected.
	Decrease
)

func (s Signal) String() string {
	switch s {
	case Increase:
		return "increase"
	case Decrease:
		return "decrease"
	}
	return "no change"
}

// CUSUM is Page's tabular cumulative-sum detector of a shift in the mean
// of a stream away from Target. For each value x
//
//	Upper ← max(0, Upper + x − (Target + K))
//	Lower ← max(0, Lower + (Target − K) − x)
//
// and a change is signalled when Upper (an increase) or Lower (a decrease)
// exceeds H. K, the reference value or slack, is usually half the shift
// worth detecting, and H the decision interval, often 4 or 5 standard
// deviations; both are in the unit of the data. Direction Up or Down gives
// the one-sided detector.
//
// The exported state (Upper, Lower, N, Alarms) can be stored and restored
// between monitoring runs; the zero state is the start of a stream.
type CUSUM struct {
	Target, K, H float64
	Direction    Direction
	// ResetOnAlarm restarts both sums at zero after a signal, so that a
	// lasting shift signals again only after it has accumulated anew.
	ResetOnAlarm bool

	Upper, Lower float64
	N            int // values seen
	Alarms       int // signals raised
}

// NewCUSUM returns a detector after checking its parameters: finite
// target, K ≥ 0, H > 0.
func NewCUSUM(target, k, h float64, dir Direction) (*CUSUM, error) {
	c := &CUSUM{Target: target, K: k, H: h, Direction: dir}
	if err := c.check(); err != nil {
		return nil, err
	}
	return c, nil
}

func (c *CUSUM) check() error {
	switch {
	case !finite(c.Target):
		return errf("cusum", "target", -1, ErrParam, "target %v is not finite", c.Target)
	case !finite(c.K) || c.K < 0:
		return errf("cusum", "k", -1, ErrParam, "reference value k = %v must be finite and ≥ 0", c.K)
	case !finite(c.H) || c.H <= 0:
		return errf("cusum", "h", -1, ErrParam, "decision interval h = %v must be finite and > 0", c.H)
	case !c.Direction.valid():
		return errf("cusum", "direction", -1, ErrParam, "unknown direction %d", c.Direction)
	}
	return nil
}

// Update feeds one value and reports whether a change is signalled. A NaN
// or infinite value is an error and leaves the state unchanged.
func (c *CUSUM) Update(x float64) (Signal, error) {
	if err := c.check(); err != nil {
		return NoChange, err
	}
	if !finite(x) {
		return NoChange, errf("cusum", "value", c.N, ErrNaN, "value is not finite")
	}
	c.N++
	sig := NoChange
	if c.Direction != Down {
		c.Upper = math.Max(0, c.Upper+x-(c.Target+c.K))
		if c.Upper > c.H {
			sig = Increase
		}
	}
	if c.Direction != Up {
		c.Lower = math.Max(0, c.Lower+(c.Target-c.K)-x)
		if c.Lower > c.H && sig == NoChange {
			sig = Decrease
		}
	}
	if sig != NoChange {
		c.Alarms++
		if c.ResetOnAlarm {
			c.Upper, c.Lower = 0, 0
		}
	}
	return sig, nil
}

// Reset returns the detector to the start of a stream.
func (c *CUSUM) Reset() { c.Upper, c.Lower, c.N, c.Alarms = 0, 0, 0, 0 }

// PageHinkley is the Page–Hinkley test for a change in the mean of a
// stream whose level is not known in advance: it compares each value with
// the running mean of the values so far. For an increase
//
//	m_T = Alpha·m_{T−1} + (x_T − mean_T − Delta),  M_T = min(0, m_1 … m_T)
//
// signals when m_T − M_T > Lambda; a decrease mirrors it with +Delta and
// the running maximum. Delta is the size of change tolerated, Lambda the
// alarm threshold, and Alpha a forgetting factor in (0, 1] that lets old
// deviations fade (1: none, the classic test). No signal is raised before
// MinN values (a warm-up for the mean).
//
// The exported state can be stored and restored between runs.
type PageHinkley struct {
	Delta, Lambda, Alpha float64
	MinN                 int
	Direction            Direction
	// ResetOnAlarm restarts the test (mean included) after a signal.
	ResetOnAlarm bool

	N            int     // values seen since the start or the last reset
	Mean         float64 // running mean
	UpSum, UpMin float64 // m_T and M_T
	DnSum, DnMax float64 // the mirrored sums for decreases
	Alarms       int
}

// NewPageHinkley returns a detector after checking its parameters:
// delta ≥ 0, lambda > 0, alpha in (0, 1].
func NewPageHinkley(delta, lambda, alpha float64, dir Direction) (*PageHinkley, error) {
	p := &PageHinkley{Delta: delta, Lambda: lambda, Alpha: alpha, Direction: dir}
	if err := p.check(); err != nil {
		return nil, err
	}
	return p, nil
}

func (p *PageHinkley) check() error {
	switch {
	case !finite(p.Delta) || p.Delta < 0:
		return errf("page-hinkley", "delta", -1, ErrParam, "delta = %v must be finite and ≥ 0", p.Delta)
	case !finite(p.Lambda) || p.Lambda <= 0:
		return errf("page-hinkley", "lambda", -1, ErrParam, "lambda = %v must be finite and > 0", p.Lambda)
	case !(p.Alpha > 0 && p.Alpha <= 1):
		return errf("page-hinkley", "alpha", -1, ErrParam, "alpha = %v must be in (0, 1]", p.Alpha)
	case p.MinN < 0:
		return errf("page-hinkley", "min-n", -1, ErrParam, "MinN = %d must be ≥ 0", p.MinN)
	case !p.Direction.valid():
		return errf("page-hinkley", "direction", -1, ErrParam, "unknown direction %d", p.Direction)
	}
	return nil
}

// Update feeds one value and reports whether a change is signalled. A NaN
// or infinite value is an error and leaves the state unchanged.
func (p *PageHinkley) Update(x float64) (Signal, error) {
	if err := p.check(); err != nil {
		return NoChange, err
	}
	if !finite(x) {
		return NoChange, errf("page-hinkley", "value", p.N, ErrNaN, "value is not finite")
	}
	p.N++
	p.Mean += (x - p.Mean) / float64(p.N)
	dev := x - p.Mean
	p.UpSum = p.Alpha*p.UpSum + (dev - p.Delta)
	p.UpMin = math.Min(p.UpMin, p.UpSum)
	p.DnSum = p.Alpha*p.DnSum + (dev + p.Delta)
	p.DnMax = math.Max(p.DnMax, p.DnSum)
	sig := NoChange
	if p.N >= p.MinN {
		if p.Direction != Down && p.UpSum-p.UpMin > p.Lambda {
			sig = Increase
		} else if p.Direction != Up && p.DnMax-p.DnSum > p.Lambda {
			sig = Decrease
		}
	}
	if sig != NoChange {
		p.Alarms++
		if p.ResetOnAlarm {
			alarms := p.Alarms
			p.Reset()
			p.Alarms = alarms
		}
	}
	return sig, nil
}

// Reset returns the detector to the start of a stream.
func (p *PageHinkley) Reset() {
	p.N, p.Mean, p.UpSum, p.UpMin, p.DnSum, p.DnMax, p.Alarms = 0, 0, 0, 0, 0, 0, 0
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

// BernoulliCUSUM is the CUSUM of the log-likelihood ratio for a stream of
// yes/no outcomes (a positive decision, a reader override): it detects a
// change of the event rate from P0 (in control) to P1. Each outcome adds
// ln(P1/P0) when it is a yes and ln((1−P1)/(1−P0)) when it is a no;
// S ← max(0, S + that), and a change is signalled when S exceeds H
// (Increase when P1 > P0, Decrease otherwise). It suits per-event
// monitoring where the plain CUSUM on window rates would wait for windows
// to fill. H trades false alarms against delay (2–5 is common).
type BernoulliCUSUM struct {
	P0, P1, H    float64
	ResetOnAlarm bool

	S      float64
	N      int
	Alarms int
}

// NewBernoulliCUSUM returns a detector after checking 0 < p0, p1 < 1,
// p0 ≠ p1 and h > 0.
func NewBernoulliCUSUM(p0, p1, h float64) (*BernoulliCUSUM, error) {
	b := &BernoulliCUSUM{P0: p0, P1: p1, H: h}
	if err := b.check(); err != nil {
		return nil, err
	}
	return b, nil
}

func (b *BernoulliCUSUM) check() error {
	switch {
	case !(b.P0 > 0 && b.P0 < 1):
		return errf("bernoulli-cusum", "p0", -1, ErrParam, "p0 = %v must be in (0, 1)", b.P0)
	case !(b.P1 > 0 && b.P1 < 1) || b.P1 == b.P0:
		return errf("bernoulli-cusum", "p1", -1, ErrParam, "p1 = %v must be in (0, 1) and differ from p0", b.P1)
	case !finite(b.H) || b.H <= 0:
		return errf("bernoulli-cusum", "h", -1, ErrParam, "h = %v must be finite and > 0", b.H)
	}
	return nil
}

// Update feeds one outcome.
func (b *BernoulliCUSUM) Update(yes bool) (Signal, error) {
	if err := b.check(); err != nil {
		return NoChange, err
	}
	b.N++
	if yes {
		b.S += math.Log(b.P1 / b.P0)
	} else {
		b.S += math.Log((1 - b.P1) / (1 - b.P0))
	}
	b.S = math.Max(0, b.S)
	if b.S <= b.H {
		return NoChange, nil
	}
	b.Alarms++
	if b.ResetOnAlarm {
		b.S = 0
	}
	if b.P1 > b.P0 {
		return Increase, nil
	}
	return Decrease, nil
}

// Reset returns the detector to the start of a stream.
func (b *BernoulliCUSUM) Reset() { b.S, b.N, b.Alarms = 0, 0, 0 }
