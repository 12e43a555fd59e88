//go:build unix

package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// TestDocsInBrowser opens the real Swagger UI page in headless Chromium,
// driven over the DevTools protocol: the page renders every operation of
// the document without a Content-Security-Policy violation or a script
// error, and "Try it out" on POST /api/register creates a user.
//
// Chromium is found as $CHROMIUM, else chromium on PATH (Debian's package:
// .ci/install-chromium). Without it the test skips, and fails under CI.
func TestDocsInBrowser(t *testing.T) {
	bin := chromiumBinary(t)
	ts := startServer(t, sqliteConfig(t))
	doc := loadOpenAPI(t)
	var want []string
	for _, o := range doc.operations(t) {
		want = append(want, o.String())
	}

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	b := startChromium(ctx, t, bin)
	p := b.newPage(ctx, t)

	// Record CSP violations from the first script on; Swagger UI's errors
	// would be shown in the page, exceptions reach us as events.
	p.call(ctx, t, "Page.enable", nil)
	p.call(ctx, t, "Runtime.enable", nil)
	p.call(ctx, t, "Page.addScriptToEvaluateOnNewDocument", map[string]any{"source": `
		window.__csp = [];
		document.addEventListener("securitypolicyviolation", e =>
			window.__csp.push(e.effectiveDirective + " " + (e.blockedURI || "inline") + " " + (e.sourceFile || "") + ":" + e.lineNumber));`})
	exceptions := b.subscribe(p.session, "Runtime.exceptionThrown")
	loaded := b.subscribe(p.session, "Page.loadEventFired")
	p.call(ctx, t, "Page.navigate", map[string]any{"url": ts.URL + "/docs"})
	select {
	case <-loaded:
	case <-ctx.Done():
		t.Fatal("the page did not load")
	}

	// Every operation is listed, and nothing else.
	p.waitFor(ctx, t, `document.querySelectorAll(".opblock").length > 0`)
	var got []string
	p.eval(ctx, t, `[...document.querySelectorAll(".opblock")].map(op =>
		op.querySelector(".opblock-summary-method").textContent + " " +
		op.querySelector(".opblock-summary-path").getAttribute("data-path"))`, &got)
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("the page lists %d operations %q; the document has %d %q", len(got), got, len(want), want)
	}
	var specErrors string
	p.eval(ctx, t, `(document.querySelector(".errors-wrapper") || {}).textContent || ""`, &specErrors)
	if specErrors != "" {
		t.Errorf("Swagger UI reports errors in the document: %s", specErrors)
	}

	// Try it out: POST /api/register with a body typed into the editor.
	const op = "#operations-core-registerCoreUser"
	p.click(ctx, t, op+" .opblock-summary-control")
	p.click(ctx, t, op+" .try-out__btn")
	p.waitFor(ctx, t, `document.querySelector("`+op+` textarea.body-param__text") !== null`)
	p.eval(ctx, t, `(() => { const ta = document.querySelector("`+op+` textarea.body-param__text"); ta.focus(); ta.select(); return true })()`, nil)
	body := `{"email": "browser@example.com", "password": "correct horse battery"}`
	p.call(ctx, t, "Input.insertText", map[string]any{"text": body})
	p.waitFor(ctx, t, `document.querySelector("`+op+` textarea.body-param__text").value.includes("browser@example.com")`)
	p.click(ctx, t, op+" .execute")
	p.waitFor(ctx, t, `document.querySelector("`+op+` .live-responses-table tr.response .response-col_status") !== null`)
	var status, shown string
	p.eval(ctx, t, `document.querySelector("`+op+` .live-responses-table tr.response .response-col_status").textContent.trim()`, &status)
	p.eval(ctx, t, `document.querySelector("`+op+` .live-responses-table tr.response .response-col_description").textContent`, &shown)
	if status != "201" {
		t.Errorf("Try it out answered %q (%s); want 201", status, shown)
	}
	if !strings.Contains(shown, "browser@example.com") || !strings.Contains(shown, "created_at") {
		t.Errorf("the response shown is %q; want the new user", shown)
	}
	// The request really reached the server.
	ts.mustStatus(t, req{method: "POST", path: "/api/login", body: map[string]string{
		"email": "browser@example.com", "password": "correct horse battery"}}, http.StatusOK)

	var violations []string
	p.eval(ctx, t, `window.__csp`, &violations)
	if len(violations) > 0 {
		t.Errorf("Content-Security-Policy violations: %q", violations)
	}
	for {
		select {
		case e := <-exceptions:
			t.Errorf("script error in the page: %s", e.Params)
			continue
		default:
		}
		break
	}
}

// chromiumBinary returns the browser to run, or skips (fails under CI)
// when there is none.
func chromiumBinary(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("chromium is not installed (run .ci/install-chromium)")
	}
	t.Skip("chromium is not installed (apt-get install chromium, or set CHROMIUM)")
	return ""
}

// ---------------------------------------------------------------------------
// A minimal DevTools protocol client over --remote-debugging-pipe: Chromium
// reads commands from fd 3 and writes responses and events to fd 4, each
// a JSON message ended by a NUL byte. No websocket is needed.

// cdpMessage is a command response or an event.
type cdpMessage struct {
	ID        int64           `json:"id,omitempty"`
	Method    string          `json:"method,omitempty"`
	Params    json.RawMessage `json:"params,omitempty"`
	Result    json.RawMessage `json:"result,omitempty"`
	Error     *cdpError       `json:"error,omitempty"`
	SessionID string          `json:"sessionId,omitempty"`
}

type cdpError struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}

// chromium is a running browser and the reading end of its pipe.
type chromium struct {
	cmd  *exec.Cmd
	logf string // Chromium's stderr, kept for failures

	wmu sync.Mutex // serializes writes
	w   io.WriteCloser

	mu      sync.Mutex
	nextID  int64
	pending map[int64]chan cdpMessage
	subs    map[string][]chan cdpMessage // key: session + " " + method
	done    chan struct{}                // closed when the reader stops
}

// startChromium starts headless Chromium with its own profile and HOME in
// temporary directories. It is closed, and waited for, when the test ends.
func startChromium(ctx context.Context, t *testing.T, bin string) *chromium {
	t.Helper()
	dir := t.TempDir()
	profile := filepath.Join(dir, "profile")
	logf := filepath.Join(dir, "chromium.log")
	stderr, err := os.Create(logf)
	if err != nil {
		t.Fatal(err)
	}
	defer stderr.Close()
	// in: we write, Chromium reads (its fd 3). out: Chromium writes (its
	// fd 4), we read.
	inR, inW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin,
		"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--user-data-dir="+profile, "--remote-debugging-pipe", "--window-size=1280,1024", "about:blank")
	cmd.Env = append(os.Environ(), "HOME="+dir, "XDG_CONFIG_HOME="+dir, "XDG_CACHE_HOME="+dir)
	cmd.Stdout, cmd.Stderr = stderr, stderr
	cmd.ExtraFiles = []*os.File{inR, outW}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // one group to end on failure
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", bin, err)
	}
	inR.Close()
	outW.Close()
	b := &chromium{cmd: cmd, logf: logf, w: inW, pending: map[int64]chan cdpMessage{},
		subs: map[string][]chan cdpMessage{}, done: make(chan struct{})}
	go b.read(outR) // exits when Chromium closes its end, at the latest when it exits

	t.Cleanup(func() {
		cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, _ = b.send(cctx, "", "Browser.close", nil)
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }() // ends when Chromium does, killed below if need be
		select {
		case <-exited:
		case <-cctx.Done():
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) // the group this test started
			<-exited
		}
		inW.Close()
		<-b.done
		outR.Close()
		if t.Failed() {
			if log, err := os.ReadFile(logf); err == nil {
				// Without a session bus Chromium logs D-Bus errors: noise here.
				var keep []string
				for line := range strings.Lines(string(log)) {
					if !strings.Contains(line, "dbus") {
						keep = append(keep, line)
					}
				}
				t.Logf("chromium stderr (last 4 KiB, D-Bus noise left out):\n%s", tail([]byte(strings.Join(keep, "")), 4096))
			}
		}
	})
	return b
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}

// read dispatches Chromium's messages: responses to their callers, events
// to subscribers (dropped when a subscriber's buffer is full).
func (b *chromium) read(r io.Reader) {
	defer close(b.done)
	br := bufio.NewReaderSize(r, 1<<20)
	for {
		raw, err := br.ReadBytes(0)
		if err != nil {
			return
		}
		var m cdpMessage
		if json.Unmarshal(raw[:len(raw)-1], &m) != nil {
			continue
		}
		b.mu.Lock()
		if m.ID != 0 {
			if ch, ok := b.pending[m.ID]; ok {
				delete(b.pending, m.ID)
				ch <- m
			}
		} else {
			for _, ch := range b.subs[m.SessionID+" "+m.Method] {
				select {
				case ch <- m:
				default:
				}
			}
		}
		b.mu.Unlock()
	}
}

// subscribe returns a channel of the events of one method in one session.
func (b *chromium) subscribe(session, method string) <-chan cdpMessage {
	ch := make(chan cdpMessage, 64)
	b.mu.Lock()
	b.subs[session+" "+method] = append(b.subs[session+" "+method], ch)
	b.mu.Unlock()
	return ch
}

// send runs one command and returns its result.
func (b *chromium) send(ctx context.Context, session, method string, params any) (json.RawMessage, error) {
	ch := make(chan cdpMessage, 1)
	b.mu.Lock()
	b.nextID++
	id := b.nextID
	b.pending[id] = ch
	b.mu.Unlock()
	defer func() {
		b.mu.Lock()
		delete(b.pending, id)
		b.mu.Unlock()
	}()
	msg, err := json.Marshal(struct {
		ID        int64  `json:"id"`
		Method    string `json:"method"`
		Params    any    `json:"params,omitempty"`
		SessionID string `json:"sessionId,omitempty"`
	}{id, method, params, session})
	if err != nil {
		return nil, err
	}
	b.wmu.Lock()
	_, err = b.w.Write(append(msg, 0))
	b.wmu.Unlock()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", method, err)
	}
	select {
	case m := <-ch:
		if m.Error != nil {
			return nil, fmt.Errorf("%s: %s (%d)", method, m.Error.Message, m.Error.Code)
		}
		return m.Result, nil
	case <-b.done:
		return nil, fmt.Errorf("%s: chromium went away", method)
	case <-ctx.Done():
		return nil, fmt.Errorf("%s: %w", method, ctx.Err())
	}
}

// page is one tab, attached in flat mode.
type page struct {
	b       *chromium
	session string
}

func (b *chromium) newPage(ctx context.Context, t *testing.T) *page {
	t.Helper()
	res, err := b.send(ctx, "", "Target.createTarget", map[string]any{"url": "about:blank"})
	if err != nil {
		t.Fatal(err)
	}
	var target struct {
		TargetID string `json:"targetId"`
	}
	json.Unmarshal(res, &target)
	res, err = b.send(ctx, "", "Target.attachToTarget", map[string]any{"targetId": target.TargetID, "flatten": true})
	if err != nil {
		t.Fatal(err)
	}
	var att struct {
		SessionID string `json:"sessionId"`
	}
	json.Unmarshal(res, &att)
	return &page{b: b, session: att.SessionID}
}

func (p *page) call(ctx context.Context, t *testing.T, method string, params any) json.RawMessage {
	t.Helper()
	res, err := p.b.send(ctx, p.session, method, params)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// eval runs a JavaScript expression (awaiting a promise) and decodes its
// value into dst, if dst is not nil.
func (p *page) eval(ctx context.Context, t *testing.T, expr string, dst any) {
	t.Helper()
	if err := p.evalErr(ctx, expr, dst); err != nil {
		t.Fatal(err)
	}
}

func (p *page) evalErr(ctx context.Context, expr string, dst any) error {
	res, err := p.b.send(ctx, p.session, "Runtime.evaluate", map[string]any{
		"expression": expr, "returnByValue": true, "awaitPromise": true})
	if err != nil {
		return err
	}
	var r struct {
		Result struct {
			Value json.RawMessage `json:"value"`
		} `json:"result"`
		ExceptionDetails *struct {
			Text      string `json:"text"`
			Exception struct {
				Description string `json:"description"`
			} `json:"exception"`
		} `json:"exceptionDetails"`
	}
	if err := json.Unmarshal(res, &r); err != nil {
		return err
	}
	if e := r.ExceptionDetails; e != nil {
		return fmt.Errorf("evaluate %q: %s %s", expr, e.Text, e.Exception.Description)
	}
	if dst != nil {
		if err := json.Unmarshal(r.Result.Value, dst); err != nil {
			return fmt.Errorf("evaluate %q: %s: %w", expr, r.Result.Value, err)
		}
	}
	return nil
}

// waitFor waits until a JavaScript condition holds. The page re-checks it
// on every DOM change (no polling); the test's deadline bounds the wait.
func (p *page) waitFor(ctx context.Context, t *testing.T, cond string) {
	t.Helper()
	expr := `new Promise(resolve => {
		const check = () => { try { return !!(` + cond + `) } catch (e) { return false } };
		if (check()) { resolve(true); return }
		const mo = new MutationObserver(() => { if (check()) { mo.disconnect(); resolve(true) } });
		mo.observe(document, {subtree: true, childList: true, attributes: true, characterData: true});
	})`
	if err := p.evalErr(ctx, expr, nil); err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			dctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			var html string
			_ = p.evalErr(dctx, `document.body ? document.body.innerText.slice(0, 2000) : ""`, &html)
			t.Fatalf("waiting for %s: %v; the page shows:\n%s", cond, err, html)
		}
		t.Fatalf("waiting for %s: %v", cond, err)
	}
}

// click waits for an element and clicks it.
func (p *page) click(ctx context.Context, t *testing.T, selector string) {
	t.Helper()
	q := `document.querySelector(` + jsString(selector) + `)`
	p.waitFor(ctx, t, q+` !== null`)
	p.eval(ctx, t, `(() => { `+q+`.click(); return true })()`, nil)
}

func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
