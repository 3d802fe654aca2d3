package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ethos-imaging/ethos"
	"github.com/ethos-imaging/ethos/storetest"
)

// TestKill9DuringEventIngest kills a real server with SIGKILL while
// clients post batches of inference events. The server commits a batch
// without its own flush (sqlstore.DeferSync) and acknowledges it only
// after the batch's audit entry is committed durably to the same
// database. After a restart every acknowledged batch must be stored (a
// replay of all of them is all duplicates) and "ethos audit verify"
// must pass. (A process kill leaves the operating system's page cache,
// so this shows that nothing is lost between the two commits or in
// their recovery; that the audit entry's flush carries the batch after
// a power loss rests on the WAL being one file flushed in order, see
// docs/storage-durability.md.)
func TestKill9DuringEventIngest(t *testing.T) {
	bin := ethosBinary(t)
	dir, admin := initData(t)
	srv, base := startServer(t, bin, dir)
	tmp := t.TempDir()
	as := func(token string, args ...string) string {
		t.Helper()
		out, stderr, code := runCLIEnv(t, map[string]string{"ETHOS_SERVER": base, "ETHOS_TOKEN": token}, args...)
		if code != 0 {
			t.Fatalf("ethos %s: exit %d: %s%s", strings.Join(args, " "), code, out, stderr)
		}
		return out
	}
	var parties struct {
		Items []struct {
			ID string `json:"id"`
		} `json:"items"`
	}
	if err := json.Unmarshal([]byte(as(admin, "party", "list", "--json")), &parties); err != nil || len(parties.Items) == 0 {
		t.Fatalf("party list: %v", err)
	}
	mkUser := func(name, roles string) (id, token string) {
		var u struct {
			ID string `json:"id"`
		}
		json.Unmarshal([]byte(as(admin, "user", "create", "--party", parties.Items[0].ID, "--name", name, "--roles", roles, "--json")), &u)
		var tk struct {
			Secret string `json:"secret"`
		}
		json.Unmarshal([]byte(as(admin, "token", "create", "--user", u.ID, "--json")), &tk)
		return u.ID, tk.Secret
	}
	_, eng := mkUser("engineer", "ml-engineer")
	_, ethics := mkUser("reviewer", "ethics-reviewer")
	clinID, _ := mkUser("radiologist", "clinician")
	_, advocate := mkUser("advocate", "patient-advocate")
	var prj struct {
		ID string `json:"id"`
	}
	json.Unmarshal([]byte(as(admin, "project", "create", "--name", "Chest", "--intended-use", "triage", "--modality", "DX", "--setting", "ED", "--json")), &prj)
	passEvaluation(t, base, dir, prj.ID, "mv-7", eng, ethics, advocate)
	plan := filepath.Join(tmp, "plan.json")
	os.WriteFile(plan, []byte(`{"stakeholder_roles":["clinician"]}`), 0o600)
	var dep struct {
		ID string `json:"id"`
	}
	json.Unmarshal([]byte(as(eng, "deployment", "register", "--project", prj.ID, "--model-version", "mv-7", "--site", "Main ED", "--intended-use", "flag pneumothorax",
		"--threshold", "0.5", "--responsible", clinID, "--plan", plan, "--json")), &dep)
	if dep.ID == "" {
		t.Fatal("no deployment registered")
	}

	postBatch := func(base string, evs []json.RawMessage) (*ethos.IngestResult, int, error) {
		b, _ := json.Marshal(evs)
		req, _ := http.NewRequest("POST", base+"/api/v1/deployments/"+dep.ID+"/events", bytes.NewReader(b))
		req.Header.Set("Authorization", "Bearer "+eng)
		req.Header.Set("Content-Type", "application/json")
		resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
		if err != nil {
			return nil, 0, err
		}
		defer resp.Body.Close()
		var res ethos.IngestResult
		json.NewDecoder(resp.Body).Decode(&res)
		return &res, resp.StatusCode, nil
	}
	at := time.Now().Add(-time.Hour)
	var mu sync.Mutex
	var acked []json.RawMessage
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for g := range 4 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				var evs []json.RawMessage
				for k := range 20 {
					id := fmt.Sprintf("ev-%d-%d-%d", g, i, k)
					evs = append(evs, storetest.Event(id, "case-"+id, at, 0.6))
				}
				res, code, err := postBatch(base, evs)
				if err != nil {
					return // the server is gone
				}
				if code == http.StatusOK && res.Stored == len(evs) {
					mu.Lock()
					acked = append(acked, evs...)
					mu.Unlock()
				}
			}
		})
	}
	killWhen(t, srv, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(acked) >= 1000
	})
	close(stop)
	wg.Wait()
	if len(acked) < 200 {
		t.Fatalf("only %d events acknowledged before the kill", len(acked))
	}

	srv2, base2 := startServer(t, bin, dir)
	stored, dups := 0, 0
	for off := 0; off < len(acked); off += 500 {
		res, code, err := postBatch(base2, acked[off:min(off+500, len(acked))])
		if err != nil || code != http.StatusOK {
			t.Fatalf("replay: %d %v", code, err)
		}
		stored += res.Stored
		dups += res.Duplicates
	}
	if stored != 0 || dups != len(acked) {
		t.Errorf("replaying the %d acknowledged events after kill -9: %d stored anew (lost), %d duplicates", len(acked), stored, dups)
	}
	srv2.Process.Signal(os.Interrupt)
	srv2.Wait()
	if out, stderr, code := runCLI(t, "audit", "verify", "--data", dir); code != 0 {
		t.Fatalf("audit verify after kill -9: %d %q %q", code, out, stderr)
	}
	t.Logf("%d events acknowledged before SIGKILL, all found after the restart", len(acked))
}
