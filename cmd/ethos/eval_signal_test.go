package main

import (
	"bufio"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestEvalStopsOnSignal interrupts a long bootstrap: the process stops
// between resamples, says how far it got, exits 1 and leaves no --out file
// (nor a temporary one) behind. Without the cancellation the run would
// finish after many seconds and write its report, which fails the test.
func TestEvalStopsOnSignal(t *testing.T) {
	bin := ethosBinary(t)
	in := evalRows(t, 3000)
	for _, tc := range []struct {
		name string
		sig  syscall.Signal
	}{{"StoppedBySIGINT", syscall.SIGINT}, {"StoppedBySIGTERM", syscall.SIGTERM}} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			out := filepath.Join(dir, "report.json")
			cmd := exec.Command(bin, "eval", "--in", in, "--label", "label", "--score", "score",
				"--group", "sex", "--group", "site", "--intersect", "--bootstrap", "100000", "--out", out)
			stderr, err := cmd.StderrPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			// A safety net only: the test fails on the outcome, not on time.
			guard := time.AfterFunc(2*time.Minute, func() { cmd.Process.Kill() })
			defer guard.Stop()
			sc := bufio.NewScanner(stderr)
			if !sc.Scan() || !strings.Contains(sc.Text(), "bootstrap resamples (interrupt to stop)") {
				cmd.Process.Kill()
				cmd.Wait()
				t.Fatalf("first stderr line %q, want the bootstrap notice", sc.Text())
			}
			if err := cmd.Process.Signal(tc.sig); err != nil {
				t.Fatal(err)
			}
			var rest strings.Builder
			for sc.Scan() {
				rest.WriteString(sc.Text() + "\n")
			}
			err = cmd.Wait()
			ee, ok := errors.AsType[*exec.ExitError](err)
			if !ok || ee.ExitCode() != 1 {
				t.Fatalf("exit %v, want status 1; stderr %q", err, rest.String())
			}
			if !strings.Contains(rest.String(), "eval interrupted after ") || !strings.Contains(rest.String(), "of 100000 bootstrap resamples; no report written") {
				t.Errorf("stderr %q, want the resamples done and that nothing was written", rest.String())
			}
			entries, err := os.ReadDir(dir)
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range entries {
				t.Errorf("%s left in the output directory", e.Name())
			}
		})
	}
}
