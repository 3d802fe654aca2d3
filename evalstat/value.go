package evalstat

import (
	"encoding/json"
	"math"
)

// Z95 is the standard normal quantile for a two-sided 95 % interval.
const Z95 = 1.959963984540054

// Interval is a confidence interval.
type Interval struct {
	Lower float64 `json:"lower"`
	Upper float64 `json:"upper"`
}

// Interval methods, used as keys of [Value.CI].
const (
	CIWilson    = "wilson"
	CIExact     = "clopper_pearson"
	CIDeLong    = "delong"
	CIWald      = "wald"
	CIBootstrap = "bootstrap"
)

// Value is one statistic: an estimate, or the reason it is undefined, and
// its confidence intervals by method.
type Value struct {
	// Estimate is NaN when the value is undefined.
	Estimate float64
	// Reason says why the value is undefined ("" when it is defined).
	Reason string
	// CI holds intervals keyed by method (CIWilson, CIBootstrap, …).
	CI map[string]Interval
	// Skipped counts bootstrap resamples in which this value was undefined
	// (for example a resample with a single class).
	Skipped int
}

// Defined reports whether v has an estimate.
func (v Value) Defined() bool { return v.Reason == "" && !math.IsNaN(v.Estimate) }

// Undefined returns an undefined value with a reason.
func Undefined(reason string) Value { return Value{Estimate: math.NaN(), Reason: reason} }

// Est returns a defined value.
func Est(x float64) Value { return Value{Estimate: x} }

func (v *Value) setCI(method string, iv Interval) {
	if v.CI == nil {
		v.CI = make(map[string]Interval, 2)
	}
	v.CI[method] = iv
}

type valueJSON struct {
	Estimate *float64            `json:"estimate"`
	Reason   string              `json:"undefined_reason,omitempty"`
	CI       map[string]Interval `json:"ci,omitempty"`
	Skipped  int                 `json:"bootstrap_skipped,omitempty"`
}

// MarshalJSON writes {"estimate": x|null, "undefined_reason": "...", "ci": {...}}.
func (v Value) MarshalJSON() ([]byte, error) {
	j := valueJSON{Reason: v.Reason, CI: v.CI, Skipped: v.Skipped}
	if v.Defined() {
		e := v.Estimate
		j.Estimate = &e
	} else if j.Reason == "" {
		j.Reason = "not a number"
	}
	return json.Marshal(j)
}

// UnmarshalJSON reads what MarshalJSON writes.
func (v *Value) UnmarshalJSON(b []byte) error {
	var j valueJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	*v = Value{Estimate: math.NaN(), Reason: j.Reason, CI: j.CI, Skipped: j.Skipped}
	if j.Estimate != nil {
		v.Estimate = *j.Estimate
	}
	return nil
}

// ratio returns num/den, or an undefined value naming the empty denominator.
func ratio(num, den float64, reason string) Value {
	if den == 0 {
		return Undefined(reason)
	}
	return Est(num / den)
}
