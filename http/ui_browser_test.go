package http_test

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ethos-imaging/ethos/internal/testenv"
)

// cdp drives a headless Chromium over the DevTools protocol on a pipe
// (--remote-debugging-pipe: JSON messages ended by a NUL byte on file
// descriptors 3 and 4), so the test needs no WebSocket client.
type cdp struct {
	t       *testing.T
	w       *os.File
	msgs    chan map[string]json.RawMessage
	next    int
	session string
	events  []cdpEvent // every event seen, for the console check
}

type cdpEvent struct {
	Method string
	Params json.RawMessage
}

func startChromium(t *testing.T, ctx context.Context, chromium, dir string) *cdp {
	t.Helper()
	inR, inW, err := os.Pipe() // the browser reads commands from fd 3
	if err != nil {
		t.Fatal(err)
	}
	outR, outW, err := os.Pipe() // and writes answers to fd 4
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(ctx, chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-extensions", "--remote-debugging-pipe",
		"--user-data-dir="+filepath.Join(dir, "profile"), "about:blank")
	cmd.ExtraFiles = []*os.File{inR, outW}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	inR.Close()
	outW.Close()
	t.Cleanup(func() {
		inW.Close()
		cmd.Process.Kill()
		cmd.Wait()
		outR.Close()
		if t.Failed() {
			t.Logf("chromium stderr:\n%s", stderr.String())
		}
	})
	c := &cdp{t: t, w: inW, msgs: make(chan map[string]json.RawMessage, 256)}
	go func() {
		defer close(c.msgs)
		r := bufio.NewReader(outR)
		for {
			b, err := r.ReadBytes(0)
			if err != nil {
				return
			}
			var m map[string]json.RawMessage
			if json.Unmarshal(b[:len(b)-1], &m) == nil {
				c.msgs <- m
			}
		}
	}()
	return c
}

// call sends a command (to the attached page unless browser) and waits for
// its answer, keeping the events that arrive meanwhile.
func (c *cdp) call(method string, params any, browser bool) json.RawMessage {
	c.t.Helper()
	c.next++
	msg := map[string]any{"id": c.next, "method": method, "params": params}
	if !browser {
		msg["sessionId"] = c.session
	}
	b, _ := json.Marshal(msg)
	if _, err := c.w.Write(append(b, 0)); err != nil {
		c.t.Fatalf("%s: %v", method, err)
	}
	timeout := time.After(60 * time.Second)
	for {
		select {
		case m, ok := <-c.msgs:
			if !ok {
				c.t.Fatalf("%s: chromium closed the pipe", method)
			}
			if id, has := m["id"]; has {
				var n int
				json.Unmarshal(id, &n)
				if n != c.next {
					continue
				}
				if e, bad := m["error"]; bad {
					c.t.Fatalf("%s: %s", method, e)
				}
				return m["result"]
			}
			c.keep(m)
		case <-timeout:
			c.t.Fatalf("%s: no answer", method)
		}
	}
}

func (c *cdp) keep(m map[string]json.RawMessage) {
	var ev cdpEvent
	json.Unmarshal(m["method"], &ev.Method)
	ev.Params = m["params"]
	c.events = append(c.events, ev)
}

// waitLoad waits for the page's load event.
func (c *cdp) waitLoad() {
	c.t.Helper()
	timeout := time.After(60 * time.Second)
	for {
		select {
		case m, ok := <-c.msgs:
			if !ok {
				c.t.Fatal("chromium closed the pipe")
			}
			c.keep(m)
			if c.events[len(c.events)-1].Method == "Page.loadEventFired" {
				return
			}
		case <-timeout:
			c.t.Fatal("page did not load")
		}
	}
}

func (c *cdp) navigate(url string) {
	c.t.Helper()
	c.call("Page.navigate", map[string]string{"url": url}, false)
	c.waitLoad()
}

// eval evaluates a JavaScript expression in the page (the test drives the
// page; the page itself carries no script) and returns its value.
func (c *cdp) eval(expr string) string {
	c.t.Helper()
	var out struct {
		Result struct {
			Value any `json:"value"`
		} `json:"result"`
		Exception json.RawMessage `json:"exceptionDetails"`
	}
	json.Unmarshal(c.call("Runtime.evaluate", map[string]any{"expression": expr, "returnByValue": true}, false), &out)
	if out.Exception != nil {
		c.t.Fatalf("evaluate %s: %s", expr, out.Exception)
	}
	return fmt.Sprint(out.Result.Value)
}

func (c *cdp) screenshot(path string) {
	c.t.Helper()
	var out struct {
		Data string `json:"data"`
	}
	json.Unmarshal(c.call("Page.captureScreenshot", map[string]any{"format": "png", "captureBeyondViewport": true}, false), &out)
	b, err := base64.StdEncoding.DecodeString(out.Data)
	if err != nil || len(b) < 1000 {
		c.t.Fatalf("screenshot: %d bytes, %v", len(b), err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		c.t.Fatal(err)
	}
	c.t.Logf("screenshot %s", path)
}

// consoleErrors lists what the page reported as errors: exceptions,
// console.error, and browser log entries of level error (failed loads,
// Content-Security-Policy refusals).
func (c *cdp) consoleErrors() []string {
	var errs []string
	for _, ev := range c.events {
		switch ev.Method {
		case "Runtime.exceptionThrown":
			errs = append(errs, "exception: "+string(ev.Params))
		case "Runtime.consoleAPICalled":
			var p struct {
				Type string `json:"type"`
			}
			json.Unmarshal(ev.Params, &p)
			if p.Type == "error" || p.Type == "assert" {
				errs = append(errs, "console: "+string(ev.Params))
			}
		case "Log.entryAdded":
			var p struct {
				Entry struct {
					Level string `json:"level"`
					Text  string `json:"text"`
					URL   string `json:"url"`
				} `json:"entry"`
			}
			json.Unmarshal(ev.Params, &p)
			if p.Entry.Level == "error" {
				errs = append(errs, "log: "+p.Entry.Text+" "+p.Entry.URL)
			}
		}
	}
	return errs
}

// TestUIInChromium signs in through the form in a real browser, opens the
// project and obligations pages, resolves an obligation through its form,
// and checks that nothing went to the console; screenshots and a printed
// page are kept as artifacts.
func TestUIInChromium(t *testing.T) {
	chromium := testenv.Tool(t, "chromium")
	f := newUIFixture(t, nil)
	dir := t.TempDir()
	out := os.Getenv("ETHOS_ARTIFACTS")
	if out == "" {
		out = dir
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	c := startChromium(t, ctx, chromium, dir)
	var target struct {
		TargetID string `json:"targetId"`
	}
	json.Unmarshal(c.call("Target.createTarget", map[string]string{"url": "about:blank"}, true), &target)
	var att struct {
		SessionID string `json:"sessionId"`
	}
	json.Unmarshal(c.call("Target.attachToTarget", map[string]any{"targetId": target.TargetID, "flatten": true}, true), &att)
	c.session = att.SessionID
	for _, m := range []string{"Page.enable", "Runtime.enable", "Log.enable"} {
		c.call(m, map[string]any{}, false)
	}
	c.call("Emulation.setDeviceMetricsOverride", map[string]any{"width": 1280, "height": 900, "deviceScaleFactor": 1, "mobile": false}, false)

	c.navigate(f.url + "/ui/projects/" + f.project.ID)
	if got := c.eval("location.pathname"); got != "/ui/signin" {
		t.Fatalf("without a session the browser is at %s, want the sign-in page", got)
	}
	c.eval(fmt.Sprintf("document.getElementById('token').value = %q; document.querySelector('form').submit(); true", f.reviewer))
	c.waitLoad()
	if got := c.eval("location.pathname"); got != "/ui/projects/"+f.project.ID {
		t.Fatalf("after sign-in the browser is at %s", got)
	}
	if got := c.eval("document.cookie"); strings.Contains(got, "ethos_session") {
		t.Errorf("the session cookie is readable by scripts: %q", got)
	}
	for _, want := range []string{"Lung nodule CAD", "Stage history", "Training runs", f.run.ID} {
		if !strings.Contains(c.eval("document.body.innerText"), want) {
			t.Errorf("project page lacks %q", want)
		}
	}
	c.screenshot(filepath.Join(out, "ui-project.png"))

	c.navigate(f.url + "/ui/projects/" + f.project.ID + "/obligations")
	if got := c.eval("document.querySelectorAll('form.act').length"); got != "2" {
		t.Fatalf("obligations page has %s resolve forms, want 2", got)
	}
	c.screenshot(filepath.Join(out, "ui-obligations.png"))
	c.eval(`(() => { const f = document.querySelector('form.act');
		f.querySelector('select[name=action]').value = 'exemption';
		f.querySelector('input[name=reference]').value = 'IRB-2026-114';
		f.querySelector('textarea[name=note]').value = 'legal basis other than consent';
		f.submit(); return true })()`)
	c.waitLoad()
	if got := c.eval("document.querySelector('.flash') && document.querySelector('.flash').className"); got != "flash ok" {
		t.Fatalf("after resolving: flash %q\n%s", got, c.eval("document.body.innerText"))
	}
	if got := c.eval("document.querySelectorAll('form.act').length"); got != "1" {
		t.Errorf("after resolving, %s resolve forms remain, want 1", got)
	}
	c.screenshot(filepath.Join(out, "ui-obligations-resolved.png"))

	// The deployment page, and the monitoring report served through the
	// UI under its stricter policy: the SVG charts render, and nothing is
	// refused (a refusal would show as a console error below).
	c.navigate(f.url + "/ui/deployments/dep-sim?alerts=all")
	if got := c.eval("document.querySelectorAll('form[action$=\"/ack\"]').length"); got != "2" {
		t.Errorf("deployment page has %s acknowledge forms, want 2", got)
	}
	c.screenshot(filepath.Join(out, "ui-deployment.png"))
	c.navigate(f.url + "/ui/deployments/dep-sim/report")
	if got := c.eval("document.querySelectorAll('svg').length"); got == "0" {
		t.Error("monitoring report shows no chart")
	}
	c.screenshot(filepath.Join(out, "ui-monitoring-report.png"))

	// Printed, the forms and navigation drop out.
	c.navigate(f.url + "/ui/projects/" + f.project.ID)
	var pdf struct {
		Data string `json:"data"`
	}
	json.Unmarshal(c.call("Page.printToPDF", map[string]any{"paperWidth": 8.27, "paperHeight": 11.69}, false), &pdf)
	b, _ := base64.StdEncoding.DecodeString(pdf.Data)
	if !strings.HasPrefix(string(b), "%PDF") {
		t.Fatalf("printToPDF gave %d bytes", len(b))
	}
	os.WriteFile(filepath.Join(out, "ui-project.pdf"), b, 0o644)
	c.call("Emulation.setEmulatedMedia", map[string]string{"media": "print"}, false)
	if got := c.eval("getComputedStyle(document.querySelector('form.act')).display"); got != "none" {
		t.Errorf("forms print (display %s)", got)
	}
	if errs := c.consoleErrors(); len(errs) > 0 {
		t.Errorf("console errors:\n%s", strings.Join(errs, "\n"))
	}
}
