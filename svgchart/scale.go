package svgchart

import (
	"math"
	"strconv"
	"time"
)

// linear maps a data interval onto a pixel interval.
type linear struct {
	d0, d1 float64 // data
	p0, p1 float64 // pixels
}

func (s linear) at(v float64) float64 {
	if s.d1 == s.d0 {
		return (s.p0 + s.p1) / 2
	}
	return s.p0 + (v-s.d0)/(s.d1-s.d0)*(s.p1-s.p0)
}

// niceStep returns a step of 1, 2, 2.5 or 5 × 10^k that splits span into
// about n intervals.
func niceStep(span float64, n int) float64 {
	if !(span > 0) || n < 1 {
		return 1
	}
	raw := span / float64(n)
	exp := math.Floor(math.Log10(raw))
	base := math.Pow(10, exp)
	f := raw / base
	var nice float64
	switch {
	case f <= 1:
		nice = 1
	case f <= 2:
		nice = 2
	case f <= 2.5:
		nice = 2.5
	case f <= 5:
		nice = 5
	default:
		nice = 10
	}
	return nice * base
}

// axis is a numeric axis: its domain and tick positions.
type axis struct {
	lo, hi float64
	ticks  []float64
	step   float64
}

// niceAxis chooses a domain and ticks for the data extent [lo, hi]. When
// fixed is set, the domain is exactly fixed and ticks fall inside it.
func niceAxis(lo, hi float64, fixed Range, n int) axis {
	if fixed.set() {
		step := niceStep(fixed.Max-fixed.Min, n)
		return axis{lo: fixed.Min, hi: fixed.Max, step: step, ticks: ticksIn(fixed.Min, fixed.Max, step)}
	}
	if !finite(lo) || !finite(hi) || lo > hi {
		lo, hi = 0, 1
	}
	if lo == hi {
		pad := math.Abs(lo) * 0.1
		if pad == 0 {
			pad = 1
		}
		lo, hi = lo-pad, hi+pad
	}
	step := niceStep(hi-lo, n)
	a := axis{lo: math.Floor(lo/step+1e-9) * step, hi: math.Ceil(hi/step-1e-9) * step, step: step}
	a.ticks = ticksIn(a.lo, a.hi, step)
	return a
}

func ticksIn(lo, hi, step float64) []float64 {
	var t []float64
	start := math.Ceil(lo/step - 1e-9)
	for i := 0; i < 200; i++ {
		v := (start + float64(i)) * step
		if v > hi+step*1e-9 {
			break
		}
		if math.Abs(v) < step*1e-9 {
			v = 0
		}
		t = append(t, v)
	}
	return t
}

// tickLabel formats v with as many decimals as the step needs.
func tickLabel(v, step float64) string {
	dec := 0
	if step > 0 && step < 1 {
		dec = int(math.Ceil(-math.Log10(step) - 1e-9))
		// 2.5 × 10^k needs one more digit
		if r := step / math.Pow(10, -float64(dec)); math.Abs(r-math.Round(r)) > 1e-6 {
			dec++
		}
	}
	if dec > 12 {
		dec = 12
	}
	s := strconv.FormatFloat(v, 'f', dec, 64)
	if s == "-0" || (len(s) > 1 && s[0] == '-' && isZero(s[1:])) {
		s = s[1:]
	}
	if math.Abs(v) >= 1e7 || (v != 0 && math.Abs(v) < 1e-6) {
		s = strconv.FormatFloat(v, 'g', 3, 64)
	}
	return s
}

func isZero(s string) bool {
	for _, c := range s {
		if c != '0' && c != '.' {
			return false
		}
	}
	return true
}

// Percent returns a formatter that shows a fraction (0.25) as a
// percentage ("25%") with the given number of decimals. Use it as a chart's
// Format.
func Percent(decimals int) func(float64) string {
	return func(v float64) string {
		if !finite(v) {
			return "n/a"
		}
		return strconv.FormatFloat(v*100, 'f', decimals, 64) + "%"
	}
}

// timeStep is one candidate spacing of time ticks.
type timeStep struct {
	d      time.Duration // fixed step, or 0 for calendar months
	months int
	layout string
}

var timeSteps = []timeStep{
	{d: time.Second, layout: "15:04:05"},
	{d: 5 * time.Second, layout: "15:04:05"},
	{d: 15 * time.Second, layout: "15:04:05"},
	{d: 30 * time.Second, layout: "15:04:05"},
	{d: time.Minute, layout: "15:04"},
	{d: 5 * time.Minute, layout: "15:04"},
	{d: 15 * time.Minute, layout: "15:04"},
	{d: 30 * time.Minute, layout: "15:04"},
	{d: time.Hour, layout: "Jan 2 15:04"},
	{d: 3 * time.Hour, layout: "Jan 2 15:04"},
	{d: 6 * time.Hour, layout: "Jan 2 15:04"},
	{d: 12 * time.Hour, layout: "Jan 2 15:04"},
	{d: 24 * time.Hour, layout: "Jan 2"},
	{d: 2 * 24 * time.Hour, layout: "Jan 2"},
	{d: 7 * 24 * time.Hour, layout: "Jan 2"},
	{d: 14 * 24 * time.Hour, layout: "Jan 2"},
	{months: 1, layout: "Jan 2006"},
	{months: 3, layout: "Jan 2006"},
	{months: 6, layout: "Jan 2006"},
	{months: 12, layout: "2006"},
	{months: 24, layout: "2006"},
	{months: 60, layout: "2006"},
	{months: 120, layout: "2006"},
}

// timeTicks returns about n tick times inside [lo, hi] at a calendar-aware
// spacing, with the layout to label them. Day and week ticks fall on
// midnights of loc, month ticks on the first of a month.
func timeTicks(lo, hi time.Time, n int, loc *time.Location) ([]time.Time, string) {
	span := hi.Sub(lo)
	st := timeSteps[len(timeSteps)-1]
	for _, s := range timeSteps {
		d := s.d
		if s.months > 0 {
			d = time.Duration(s.months) * 30 * 24 * time.Hour
		}
		if span/d <= time.Duration(n) {
			st = s
			break
		}
	}
	lo, hi = lo.In(loc), hi.In(loc)
	var out []time.Time
	switch {
	case st.months > 0:
		y, m := lo.Year(), int(lo.Month())-1
		m -= m % min(st.months, 12)
		if st.months > 12 {
			y -= y % (st.months / 12)
		}
		t := time.Date(y, time.Month(m+1), 1, 0, 0, 0, 0, loc)
		for i := 0; !t.After(hi) && i < 500; i++ {
			if !t.Before(lo) {
				out = append(out, t)
			}
			t = t.AddDate(0, st.months, 0)
		}
	case st.d >= 24*time.Hour:
		days := int(st.d / (24 * time.Hour))
		t := time.Date(lo.Year(), lo.Month(), lo.Day(), 0, 0, 0, 0, loc)
		if days == 7 || days == 14 { // weeks start on Monday
			off := (int(t.Weekday()) + 6) % 7
			t = t.AddDate(0, 0, -off)
		}
		for i := 0; !t.After(hi) && i < 500; i++ {
			if !t.Before(lo) {
				out = append(out, t)
			}
			t = t.AddDate(0, 0, days)
		}
	default:
		t := lo.Truncate(st.d)
		for i := 0; !t.After(hi) && i < 500; i++ {
			if !t.Before(lo) {
				out = append(out, t)
			}
			t = t.Add(st.d)
		}
	}
	return out, st.layout
}
