package monitor

import (
	"time"

	"github.com/ethos-imaging/ethos"
)

// Window is a half-open interval of time [Start, End).
type Window struct {
	Start, End time.Time
}

// maxWindows bounds the windows of one run, so that a far-off "to" cannot
// make an unbounded list.
const maxWindows = 5000

// Windows returns the plan's complete windows that start at or after from
// (and at or after the plan's start) and end at or before to, in order.
// Daily and weekly windows follow the calendar of the plan's time zone:
// a day across a daylight-saving change lasts 23 or 25 hours.
func Windows(p *ethos.MonitoringPlan, from, to time.Time) []Window {
	if from.Before(p.Start) {
		from = p.Start
	}
	var out []Window
	start := firstWindowStart(p, from)
	for len(out) < maxWindows {
		end := nextBoundary(p, start)
		if end.After(to) {
			break
		}
		out = append(out, Window{Start: start, End: end})
		start = end
	}
	return out
}

// WindowAt returns the window containing t.
func WindowAt(p *ethos.MonitoringPlan, t time.Time) Window {
	start := floorBoundary(p, t)
	return Window{Start: start, End: nextBoundary(p, start)}
}

// firstWindowStart is the first window boundary at or after t.
func firstWindowStart(p *ethos.MonitoringPlan, t time.Time) time.Time {
	b := floorBoundary(p, t)
	if b.Before(t) {
		b = nextBoundary(p, b)
	}
	return b
}

// floorBoundary is the last window boundary at or before t.
func floorBoundary(p *ethos.MonitoringPlan, t time.Time) time.Time {
	switch p.Window.Every {
	case ethos.WindowDaily, ethos.WindowWeekly:
		loc := p.Location()
		lt := t.In(loc)
		d := time.Date(lt.Year(), lt.Month(), lt.Day(), 0, 0, 0, 0, loc)
		if p.Window.Every == ethos.WindowWeekly {
			back := (int(d.Weekday()) + 6) % 7 // days since Monday
			d = time.Date(d.Year(), d.Month(), d.Day()-back, 0, 0, 0, 0, loc)
		}
		// A midnight that does not exist (a DST jump at 00:00) is
		// normalised by time.Date past t only in theory; guard anyway.
		for d.After(t) {
			d = time.Date(d.Year(), d.Month(), d.Day()-1, 0, 0, 0, 0, loc)
		}
		return d.UTC()
	default:
		l := p.Window.Length.D()
		k := t.Sub(p.Window.Anchor) / l
		if t.Before(p.Window.Anchor) && t.Sub(p.Window.Anchor)%l != 0 {
			k--
		}
		return p.Window.Anchor.Add(k * l).UTC()
	}
}

// nextBoundary is the window boundary after the boundary b.
func nextBoundary(p *ethos.MonitoringPlan, b time.Time) time.Time {
	switch p.Window.Every {
	case ethos.WindowDaily, ethos.WindowWeekly:
		loc := p.Location()
		lb := b.In(loc)
		days := 1
		if p.Window.Every == ethos.WindowWeekly {
			days = 7
		}
		return time.Date(lb.Year(), lb.Month(), lb.Day()+days, 0, 0, 0, 0, loc).UTC()
	default:
		return b.Add(p.Window.Length.D()).UTC()
	}
}
