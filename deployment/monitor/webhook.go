package monitor

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/ethos-imaging/ethos"
)

// Notifier posts alerts and stop-rule cases to a plan's webhook as JSON,
// in the background, retrying with exponential backoff, and records every
// attempt in the store. A 2xx answer is delivered; 408, 429 and 5xx
// answers and network errors are retried; other 4xx answers are final
// (the receiver refused the message, repeating it will not help).
type Notifier struct {
	Store  ethos.MonitorStore
	Client *http.Client // default: 10 s timeout
	// Attempts is the number of tries (default 5); Backoff the wait
	// before the second (default 1 s), doubled after each failure up to
	// MaxBackoff (default 1 min).
	Attempts            int
	Backoff, MaxBackoff time.Duration
	Now                 func() time.Time
	Logger              *slog.Logger

	wg sync.WaitGroup
}

// WebhookMessage is the body posted to a webhook.
type WebhookMessage struct {
	Type         string          `json:"type"` // ethos.monitor.alert or ethos.monitor.case
	DeploymentID string          `json:"deployment_id"`
	Owners       []string        `json:"owners"`
	Alert        *ethos.Alert    `json:"alert,omitempty"`
	Case         *ethos.StopCase `json:"case,omitempty"`
}

// Send posts an alert or a case (one of them) in the background.
func (n *Notifier) Send(p *ethos.MonitoringPlan, a *ethos.Alert, c *ethos.StopCase) {
	msg := WebhookMessage{Type: "ethos.monitor.alert", DeploymentID: p.DeploymentID, Owners: p.Owners, Alert: a}
	id := ""
	if a != nil {
		id = a.ID
	}
	if c != nil {
		msg.Type, msg.Alert, msg.Case, id = "ethos.monitor.case", nil, c, c.ID
	}
	body, err := json.Marshal(msg)
	if err != nil {
		return
	}
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		n.deliver(p.Webhook, id, body)
	}()
}

// Wait blocks until every delivery in flight has finished.
func (n *Notifier) Wait() { n.wg.Wait() }

func (n *Notifier) now() time.Time {
	if n.Now != nil {
		return n.Now().UTC()
	}
	return time.Now().UTC()
}

// deliver tries to post body, recording each attempt under id.
func (n *Notifier) deliver(url, id string, body []byte) bool {
	client := n.Client
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Second}
	}
	attempts, wait, maxWait := n.Attempts, n.Backoff, n.MaxBackoff
	if attempts <= 0 {
		attempts = 5
	}
	if wait <= 0 {
		wait = time.Second
	}
	if maxWait <= 0 {
		maxWait = time.Minute
	}
	for i := 1; i <= attempts; i++ {
		d := &ethos.Delivery{AlertID: id, Attempt: i, At: n.now()}
		retry := true
		req, err := http.NewRequestWithContext(context.Background(), http.MethodPost, url, bytes.NewReader(body))
		if err == nil {
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("User-Agent", "ethos-monitor")
			var resp *http.Response
			resp, err = client.Do(req)
			if err == nil {
				io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
				resp.Body.Close()
				d.Status = resp.StatusCode
				switch {
				case resp.StatusCode >= 200 && resp.StatusCode < 300:
					d.OK = true
				case resp.StatusCode == http.StatusRequestTimeout, resp.StatusCode == http.StatusTooManyRequests, resp.StatusCode >= 500:
					d.Error = fmt.Sprintf("HTTP %d", resp.StatusCode)
				default:
					d.Error, retry = fmt.Sprintf("HTTP %d (not retried)", resp.StatusCode), false
				}
			}
		}
		if err != nil {
			d.Error = err.Error()
		}
		if rerr := n.Store.RecordDelivery(context.Background(), d); rerr != nil && n.Logger != nil {
			n.Logger.Error("record webhook delivery", "id", id, "attempt", i, "err", rerr)
		}
		if d.OK {
			return true
		}
		if !retry || i == attempts {
			break
		}
		time.Sleep(wait)
		wait = min(2*wait, maxWait)
	}
	if n.Logger != nil {
		n.Logger.Warn("webhook delivery failed", "id", id, "attempts", attempts)
	}
	return false
}
