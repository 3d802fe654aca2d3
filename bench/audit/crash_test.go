package auditbench_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/ethos-imaging/ethos/audit"
	"github.com/ethos-imaging/ethos/audit/audittest"
)

// crashChildEnv names the data directory a child process appends to until it is
// killed.
const crashChildEnv = "ETHOS_AUDIT_CRASH_CHILD_DB"

// TestCrashChild is the child half of TestKill9KeepsAcknowledgedEvents:
// 32 goroutines append events as fast as they can and print "ack <index>
// <request id>" for each acknowledged one. It does nothing in a normal run.
func TestCrashChild(t *testing.T) {
	path := os.Getenv(crashChildEnv)
	if path == "" {
		t.Skip("child process of TestKill9KeepsAcknowledgedEvents only")
	}
	s, _ := openSQLite(t, path)
	l := audittest.MustLog(t, s)
	var mu sync.Mutex
	out := bufio.NewWriter(os.Stdout)
	var wg sync.WaitGroup
	for w := range 32 {
		wg.Go(func() {
			for i := w; ; i += 32 {
				e := audittest.Event(i)
				idx, err := l.Append(context.Background(), e)
				if err != nil {
					return
				}
				mu.Lock()
				fmt.Fprintf(out, "ack %d %s\n", idx, e.RequestID)
				out.Flush()
				mu.Unlock()
			}
		})
	}
	wg.Wait()
}

// TestKill9KeepsAcknowledgedEvents kills a real process with SIGKILL in
// the middle of a burst of appends; after reopening, every event it
// acknowledged is stored at the index it was given, and the log verifies.
func TestKill9KeepsAcknowledgedEvents(t *testing.T) {
	if os.Getenv(crashChildEnv) != "" {
		t.Skip("in the child")
	}
	path := filepath.Join(t.TempDir(), "data")
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.v")
	cmd.Env = append(os.Environ(), crashChildEnv+"="+path)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	acked := map[int64]string{}
	sc := bufio.NewScanner(stdout)
	for sc.Scan() && len(acked) < 3000 {
		f := strings.Fields(sc.Text())
		if len(f) != 3 || f[0] != "ack" {
			continue
		}
		idx, err := strconv.ParseInt(f[1], 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		acked[idx] = f[2]
	}
	if err := cmd.Process.Kill(); err != nil { // SIGKILL: no Close, no final checkpoint
		t.Fatal(err)
	}
	cmd.Wait()
	if len(acked) < 3000 {
		t.Fatalf("child acknowledged only %d events before exiting", len(acked))
	}

	ctx := context.Background()
	s, _ := openSQLite(t, path)
	audittest.MustLog(t, s) // reopening signs the tail the crash left unsigned
	rep, err := audit.Verify(ctx, s, audittest.TestKey(t).Verifier, audit.VerifyOptions{Deep: true})
	if err != nil {
		t.Fatalf("after kill -9: %v", err)
	}
	if rep.Unsigned != 0 {
		t.Fatalf("after reopening, %d events are still unsigned", rep.Unsigned)
	}
	leaves, err := s.Leaves(ctx, 0, rep.Size)
	if err != nil {
		t.Fatal(err)
	}
	for idx, reqID := range acked {
		if idx >= rep.Size {
			t.Fatalf("acknowledged event %d is missing (log has %d)", idx, rep.Size)
		}
		e, err := audit.DecodeEvent(leaves[idx])
		if err != nil {
			t.Fatal(err)
		}
		if e.RequestID != reqID {
			t.Fatalf("event %d holds request %s, the child was told %s", idx, e.RequestID, reqID)
		}
	}
	t.Logf("%d events acknowledged before the kill, %d stored", len(acked), rep.Size)
}
