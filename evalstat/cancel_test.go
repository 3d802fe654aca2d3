package evalstat_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ethos-imaging/ethos/evalstat"
)

// countdownCtx is a context that is not done for its first k calls of Err
// and cancelled from then on: a deterministic stand-in for a signal that
// arrives in the middle of a bootstrap.
type countdownCtx struct {
	left atomic.Int64
}

func (c *countdownCtx) Deadline() (time.Time, bool) { return time.Time{}, false }
func (c *countdownCtx) Done() <-chan struct{}       { return nil }
func (c *countdownCtx) Value(any) any               { return nil }
func (c *countdownCtx) Err() error {
	if c.left.Add(-1) < 0 {
		return context.Canceled
	}
	return nil
}

func cancelTable(t *testing.T) *evalstat.Table {
	t.Helper()
	tab, err := evalstat.NewTable([]string{"grp"}, false)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range synthRows(5, 2000) {
		if err := tab.Add(r.label, r.score, []string{r.group}, ""); err != nil {
			t.Fatal(err)
		}
	}
	return tab
}

func TestEvaluateContextStops(t *testing.T) {
	// EvaluateContext checks its context three times before the bootstrap,
	// then once before every resample.
	const phases = 3
	tests := []struct {
		name     string
		okCalls  int64 // calls of Err that find the context not done
		workers  int
		wantDone int // -1: any number below the total
	}{
		{"StoppedBeforeSort", 0, 1, 0},
		{"StoppedBeforeBootstrap", 2, 1, 0},
		{"StoppedAfterSevenResamples", phases + 7, 1, 7},
		{"StoppedWithTwoWorkers", phases + 20, 2, -1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := evalstat.DefaultConfig()
			cfg.Bootstrap = 500
			cfg.Workers = tc.workers
			ctx := &countdownCtx{}
			ctx.left.Store(tc.okCalls)
			rep, err := evalstat.EvaluateContext(ctx, cancelTable(t), cfg)
			if rep != nil {
				t.Fatal("a stopped evaluation returned a report")
			}
			se, ok := errors.AsType[*evalstat.StoppedError](err)
			if !ok || !errors.Is(err, context.Canceled) {
				t.Fatalf("error %v, want a *StoppedError wrapping context.Canceled", err)
			}
			if se.Total != cfg.Bootstrap {
				t.Errorf("Total %d, want %d", se.Total, cfg.Bootstrap)
			}
			switch {
			case tc.wantDone >= 0 && se.Done != tc.wantDone:
				t.Errorf("Done %d, want %d", se.Done, tc.wantDone)
			case se.Done >= cfg.Bootstrap:
				t.Errorf("Done %d: every resample ran", se.Done)
			}
			if want := fmt.Sprintf("after %d of %d bootstrap resamples", se.Done, se.Total); tc.okCalls > phases && !strings.Contains(err.Error(), want) {
				t.Errorf("message %q, want it to contain %q", err, want)
			}
		})
	}
}

func TestEvaluateContextNotDoneEqualsEvaluate(t *testing.T) {
	cfg := evalstat.DefaultConfig()
	cfg.Bootstrap = 40
	want, err := evalstat.Evaluate(cancelTable(t), cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	got, err := evalstat.EvaluateContext(ctx, cancelTable(t), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if a, b := mustJSON(t, got), mustJSON(t, want); a != b {
		t.Fatal("EvaluateContext with a live context differs from Evaluate")
	}
}

func mustJSON(t *testing.T, rep *evalstat.Report) string {
	t.Helper()
	b, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
