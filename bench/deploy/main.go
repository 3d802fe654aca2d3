// Command deploy is the load generator for inference-event ingestion: it
// sets up a deployment on a running "ethos serve" (users, tokens, project,
// a model version recorded in the training register of the server's data
// directory, a pre-registered evaluation of it with synthetic predictions,
// its ethics approval and acknowledgement, the deployment), then posts
// batches of synthetic
// events from concurrent clients for a fixed time and reports events per
// second, batch latency percentiles and, given the server's pid, the
// server's CPU time. See docs/benchmarks-deploy.md.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

type api struct {
	base string
	hc   *http.Client
}

func (a *api) call(method, path, token string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, _ := json.Marshal(in)
		body = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, a.base+path, body)
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := a.hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 300 {
		return fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, b)
	}
	if out != nil {
		return json.Unmarshal(b, out)
	}
	return nil
}

// setup creates what a deployment needs and returns the deployment id and
// the ML engineer's token that posts events.
func setup(a *api, admin, dataDir, pgDSN string) (string, string, error) {
	var who struct {
		User struct {
			PartyID string `json:"party_id"`
		} `json:"user"`
	}
	if err := a.call("GET", "/api/v1/whoami", admin, nil, &who); err != nil {
		return "", "", err
	}
	mk := func(name, role string) (string, string, error) {
		var u struct {
			ID string `json:"id"`
		}
		if err := a.call("POST", "/api/v1/users", admin, map[string]any{"party_id": who.User.PartyID, "name": name, "roles": []string{role}}, &u); err != nil {
			return "", "", err
		}
		var t struct {
			Secret string `json:"secret"`
		}
		if err := a.call("POST", "/api/v1/tokens", admin, map[string]any{"user_id": u.ID, "name": "bench"}, &t); err != nil {
			return "", "", err
		}
		return u.ID, t.Secret, nil
	}
	_, eng, err := mk("bench engineer", "ml-engineer")
	if err != nil {
		return "", "", err
	}
	_, ethics, err := mk("bench reviewer", "ethics-reviewer")
	if err != nil {
		return "", "", err
	}
	clinID, _, err := mk("bench radiologist", "clinician")
	if err != nil {
		return "", "", err
	}
	_, advocate, err := mk("bench advocate", "patient-advocate")
	if err != nil {
		return "", "", err
	}
	var prj struct {
		ID string `json:"id"`
	}
	if err := a.call("POST", "/api/v1/projects", admin, map[string]any{"name": fmt.Sprintf("bench %d", time.Now().UnixNano()), "intended_use": "chest triage",
		"modality": "DX", "clinical_setting": "emergency department"}, &prj); err != nil {
		return "", "", err
	}
	mv := fmt.Sprintf("mv-bench-%d", time.Now().UnixNano())
	if err := approveModel(a, dataDir, pgDSN, prj.ID, mv, eng, ethics, advocate); err != nil {
		return "", "", err
	}
	var dep struct {
		ID string `json:"id"`
	}
	if err := a.call("POST", "/api/v1/deployments", eng, map[string]any{"project_id": prj.ID, "model_version_id": mv, "site": "Bench ED",
		"intended_use": "flag pneumothorax", "threshold": 0.5, "responsible_user_id": clinID,
		"plan": map[string]any{"stakeholder_roles": []string{"clinician", "ethics-reviewer"}}}, &dep); err != nil {
		return "", "", err
	}
	return dep.ID, eng, nil
}

var (
	makers   = []string{"ACME", "Globex", "Initech"}
	models   = []string{"Rad 9", "XR-500", "Vista DR"}
	versions = []string{"VE11C", "VE12A", "4.2.1"}
	bands    = []string{"18-29", "30-44", "45-64", "65-74", "75-89", "90+"}
)

// spread is how far before the send each event's time lies, uniformly
// (-spread): the default of an hour spreads each batch over the whole
// time index of the deployment, the worst case for its B-tree (every
// event lands on another page); real events arrive seconds after the
// model answered.
var spread = time.Hour

// batchBody builds n events as JSON lines with ids from seq. It writes the
// JSON by hand: the generator shares the machine with the server, and
// encoding maps cost it more CPU than the server spends on the same
// events.
func batchBody(worker int, seq *int, n int, rng *rand.Rand, now time.Time) []byte {
	b := make([]byte, 0, n*420)
	for range n {
		*seq++
		k := rng.IntN(3)
		b = append(b, `{"event_id":"w`...)
		b = strconv.AppendInt(b, int64(worker), 10)
		b = append(b, '-')
		b = strconv.AppendInt(b, int64(*seq), 10)
		b = append(b, `","time":"`...)
		b = now.Add(-time.Duration(rng.Int64N(int64(spread)/int64(time.Millisecond)+1))*time.Millisecond).AppendFormat(b, time.RFC3339Nano)
		b = append(b, `","case_id":"case-w`...)
		b = strconv.AppendInt(b, int64(worker), 10)
		b = append(b, '-')
		b = strconv.AppendInt(b, int64(*seq), 10)
		b = append(b, `","score":`...)
		b = strconv.AppendFloat(b, rng.Float64(), 'g', -1, 64)
		b = append(b, `,"latency_ms":`...)
		b = strconv.AppendFloat(b, 50+rng.Float64()*200, 'g', -1, 64)
		b = append(b, `,"reader_action":"accepted","sex":"`...)
		b = append(b, "MF"[rng.IntN(2)])
		b = append(b, `","age_band":"`...)
		b = append(b, bands[rng.IntN(len(bands))]...)
		b = append(b, `","acquisition":{"manufacturer":"`...)
		b = append(b, makers[k]...)
		b = append(b, `","model_name":"`...)
		b = append(b, models[k]...)
		b = append(b, `","software_version":"`...)
		b = append(b, versions[k]...)
		b = append(b, `","body_part":"CHEST","protocol":"PA chest","kvp":`...)
		b = strconv.AppendInt(b, int64(110+rng.IntN(20)), 10)
		b = append(b, `,"pixel_spacing":0.143,"modality":"DX"}}`...)
		b = append(b, '\n')
	}
	return b
}

// cpuTicks reads utime+stime (clock ticks) of a process.
func cpuTicks(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	u, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return u + st, nil
}

func main() {
	server := flag.String("server", "http://127.0.0.1:8080", "server URL")
	token := flag.String("token", os.Getenv("ETHOS_TOKEN"), "admin token ($ETHOS_TOKEN), used for setup")
	batch := flag.Int("batch", 100, "events per request")
	workers := flag.Int("c", 4, "concurrent clients")
	dur := flag.Duration("d", 20*time.Second, "how long to send")
	pid := flag.Int("pid", 0, "server pid: report its CPU time (from /proc)")
	data := flag.String("data", "", "the server's data directory (SQLite): the model version is recorded there")
	pg := flag.String("postgres", "", "the server's PostgreSQL database (when it runs with --postgres): the model version is recorded there")
	flag.DurationVar(&spread, "spread", spread, "event times lie up to this long before the send, uniformly")
	flag.Parse()
	if *data == "" && *pg == "" {
		fmt.Fprintln(os.Stderr, "deploy: -data is required (the running server's data directory)")
		os.Exit(2)
	}
	a := &api{base: strings.TrimRight(*server, "/"), hc: &http.Client{Timeout: time.Minute, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}}
	dep, eng, err := setup(a, *token, *data, *pg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "setup:", err)
		os.Exit(1)
	}
	path := a.base + "/api/v1/deployments/" + dep + "/events"
	var cpu0 int64
	if *pid > 0 {
		cpu0, _ = cpuTicks(*pid)
	}
	self0, _ := cpuTicks(os.Getpid())
	ctx, cancel := context.WithTimeout(context.Background(), *dur)
	defer cancel()
	var mu sync.Mutex
	var lat []time.Duration
	var stored, failed atomic.Int64
	start := time.Now()
	var wg sync.WaitGroup
	for w := range *workers {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 7))
			seq := 0
			var mine []time.Duration
			for ctx.Err() == nil {
				body := batchBody(w, &seq, *batch, rng, time.Now())
				req, _ := http.NewRequest("POST", path, bytes.NewReader(body))
				req.Header.Set("Authorization", "Bearer "+eng)
				req.Header.Set("Content-Type", "application/x-ndjson")
				t := time.Now()
				resp, err := a.hc.Do(req)
				if err != nil {
					failed.Add(1)
					continue
				}
				var res struct {
					Stored int `json:"stored"`
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				d := time.Since(t)
				if resp.StatusCode != 200 || json.Unmarshal(b, &res) != nil {
					failed.Add(1)
					fmt.Fprintf(os.Stderr, "batch failed: %s %s\n", resp.Status, b)
					continue
				}
				stored.Add(int64(res.Stored))
				mine = append(mine, d)
			}
			mu.Lock()
			lat = append(lat, mine...)
			mu.Unlock()
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	slices.Sort(lat)
	pct := func(p float64) time.Duration {
		if len(lat) == 0 {
			return 0
		}
		return lat[min(len(lat)-1, int(p*float64(len(lat))))]
	}
	fmt.Printf("deployment %s: %d clients, batches of %d, %.1f s\n", dep, *workers, *batch, elapsed.Seconds())
	fmt.Printf("batches ok %d, failed %d; events stored %d: %.0f events/s\n", len(lat), failed.Load(), stored.Load(), float64(stored.Load())/elapsed.Seconds())
	fmt.Printf("batch latency p50 %.1f ms, p95 %.1f ms, p99 %.1f ms, max %.1f ms\n", ms(pct(0.50)), ms(pct(0.95)), ms(pct(0.99)), ms(pct(1)))
	if *pid > 0 {
		cpu1, err := cpuTicks(*pid)
		if err == nil {
			sec := float64(cpu1-cpu0) / 100 // USER_HZ
			fmt.Printf("server CPU %.2f s (user+sys) = %.2f cores; %.1f µs CPU per event\n", sec, sec/elapsed.Seconds(), sec/float64(max(1, stored.Load()))*1e6)
		}
	}
	if self1, err := cpuTicks(os.Getpid()); err == nil {
		sec := float64(self1-self0) / 100
		fmt.Printf("client CPU %.2f s (user+sys) = %.2f cores\n", sec, sec/elapsed.Seconds())
	}
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		fmt.Printf("load average after: %s", b)
	}
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
