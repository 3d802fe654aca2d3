package monitor

import (
	"context"
	"log/slog"
	"time"

	"github.com/ethos-imaging/ethos"
)

// Scheduler runs the checks of every stored plan when their windows are
// due: each tick it looks for plans with eligible windows (closed, plus
// grace) and runs them as scheduled runs.
type Scheduler struct {
	Monitor  *Monitor
	Interval time.Duration // between ticks; default 1 min
	Logger   *slog.Logger
}

// Run ticks until ctx ends. The first tick is immediate.
func (s *Scheduler) Run(ctx context.Context) {
	iv := s.Interval
	if iv <= 0 {
		iv = time.Minute
	}
	t := time.NewTicker(iv)
	defer t.Stop()
	for {
		s.Tick(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Tick runs every plan that has eligible windows and returns the runs
// made. A failing plan is logged and does not stop the others.
func (s *Scheduler) Tick(ctx context.Context) []*ethos.MonitorRun {
	m := s.Monitor
	plans, err := m.Store.ListPlans(ctx)
	if err != nil {
		s.log().Error("monitor scheduler: list plans", "err", err)
		return nil
	}
	now := m.now()
	var runs []*ethos.MonitorRun
	for _, rec := range plans {
		if ctx.Err() != nil {
			break
		}
		due, err := Pending(rec, now)
		if err != nil {
			s.log().Error("monitor scheduler: state", "deployment", rec.Plan.DeploymentID, "err", err)
		}
		if !due && err == nil {
			continue
		}
		run, err := m.RunChecks(ctx, rec.Plan.DeploymentID, ethos.RunScheduled, "")
		if err != nil {
			s.log().Error("monitor scheduler: run", "deployment", rec.Plan.DeploymentID, "err", err)
		}
		if run != nil {
			runs = append(runs, run)
		}
	}
	return runs
}

func (s *Scheduler) log() *slog.Logger {
	if s.Logger != nil {
		return s.Logger
	}
	return slog.Default()
}
