package main

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"strings"
	"testing"
	"time"
)

// startRun runs the real program (run) on a free loopback port and returns
// its base URL, a cancel that acts as SIGTERM, and the channel run's result
// arrives on.
func startRun(t *testing.T, args ...string) (url string, stop context.CancelFunc, result <-chan error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	errc := make(chan error, 1)
	all := append([]string{"server", "-addr", "127.0.0.1:0", "-data", t.TempDir(),
		"-jwt-secret", "test-secret-0123456789abcdef0123456789"}, args...)
	go func() {
		err := run(ctx, all, func(string) string { return "" }, pw)
		pw.Close()
		errc <- err
	}()
	addr := make(chan string, 1)
	go func() { // reads the log until run closes it
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			if _, rest, ok := strings.Cut(sc.Text(), "msg=listening addr="); ok {
				addr <- rest
			}
		}
		io.Copy(io.Discard, pr)
	}()
	t.Cleanup(cancel)
	select {
	case a := <-addr:
		return "http://" + a, cancel, errc
	case err := <-errc:
		t.Fatalf("run exited before listening: %v", err)
	case <-time.After(time.Minute):
		t.Fatal("run did not start listening within a minute")
	}
	return "", nil, nil
}

// TestShutdownFinishesRequestsInFlight sends a request whose body is still
// arriving when the server is told to stop: the request completes with its
// normal answer, new connections are refused afterwards, and run returns
// nil (exit status 0).
//
// No sleeps order the steps. The request says Expect: 100-continue, so the
// server answers 100 Continue when the handler first reads the body: the
// client's trace of that answer is the signal that the request is in the
// handler. An idle keep-alive connection, which Shutdown closes after it
// has closed the listener, is the signal that shutdown has begun.
func TestShutdownFinishesRequestsInFlight(t *testing.T) {
	url, stop, result := startRun(t)
	shuttingDown := idleConnClosed(t, url)

	body, bodyW := io.Pipe()
	inHandler := make(chan struct{})
	trace := &httptrace.ClientTrace{Got100Continue: func() { close(inHandler) }}
	req, err := http.NewRequestWithContext(httptrace.WithClientTrace(context.Background(), trace), "POST", url+"/api/register", body)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Expect", "100-continue")
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.ExpectContinueTimeout = time.Hour // send no body before the handler asks for it
	defer tr.CloseIdleConnections()
	type answer struct {
		status int
		err    error
	}
	answered := make(chan answer, 1)
	go func() { // exits when the request is answered
		res, err := (&http.Client{Transport: tr}).Do(req)
		if err != nil {
			answered <- answer{err: err}
			return
		}
		res.Body.Close()
		answered <- answer{status: res.StatusCode}
	}()
	select {
	case <-inHandler:
	case a := <-answered:
		t.Fatalf("request answered %d, %v before its body was read; want it in the handler", a.status, a.err)
	case <-time.After(time.Minute):
		t.Fatal("the handler did not start reading the body within a minute")
	}
	// Half the body: the handler is reading it, in flight.
	if _, err := io.WriteString(bodyW, `{"email": "inflight@example.com", `); err != nil {
		t.Fatal(err)
	}
	select {
	case <-shuttingDown:
		t.Fatal("the idle connection closed before shutdown; it cannot tell when shutdown begins")
	default:
	}
	stop() // SIGTERM
	select {
	case <-shuttingDown:
	case <-time.After(time.Minute):
		t.Fatal("shutdown did not close the idle connection within a minute")
	}
	if _, err := io.WriteString(bodyW, `"password": "correct horse battery"}`); err != nil {
		t.Fatal(err)
	}
	bodyW.Close()

	if a := <-answered; a.err != nil || a.status != http.StatusCreated {
		t.Fatalf("request in flight during shutdown = %d, %v; want 201", a.status, a.err)
	}
	select {
	case err := <-result:
		if err != nil {
			t.Fatalf("run returned %v after shutdown; want nil", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("run did not return within a minute of shutdown")
	}
	if res, err := http.Get(url + "/healthz"); err == nil {
		res.Body.Close()
		t.Errorf("GET /healthz after shutdown = %d; want a refused connection", res.StatusCode)
	}
}

// idleConnClosed opens a keep-alive connection to the server at url, has
// one request answered on it and leaves it idle. The returned channel is
// closed when the server closes the connection: http.Server.Shutdown does
// so once it has closed its listeners.
func idleConnClosed(t *testing.T, url string) <-chan struct{} {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	if _, err := io.WriteString(conn, "GET /healthz HTTP/1.1\r\nHost: tenantkit\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(conn)
	res, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(io.Discard, res.Body); err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK || res.Close {
		t.Fatalf("GET /healthz = %d (close %v); want 200 on a connection kept alive", res.StatusCode, res.Close)
	}
	closed := make(chan struct{})
	go func() { // exits when the server, or the test's cleanup, closes conn
		defer close(closed)
		_, _ = br.ReadByte()
	}()
	return closed
}

// TestRunRefusesBadConfiguration checks that bad flags stop the program at
// start with one clear error and no secret in it.
func TestRunRefusesBadConfiguration(t *testing.T) {
	getenv := func(string) string { return "" }
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"unknown flag", []string{"-nope"}, "flag provided but not defined: -nope"},
		{"bad max conns", []string{"-db-max-conns", "zero"}, "invalid -db-max-conns"},
		{"bad ttl", []string{"-token-ttl", "forever"}, "invalid -token-ttl"},
		{"short secret", []string{"-jwt-secret", "hunter2"}, "invalid -jwt-secret"},
		{"bad core db", []string{"-core-db", "mysql://x"}, "invalid -core-db"},
		{"bad isolation", []string{"-tenant-isolation", "table"}, `invalid -tenant-isolation "table": must be database or schema`},
		{"schema on SQLite", []string{"-tenant-isolation", "schema"}, "invalid -tenant-isolation schema: needs a PostgreSQL -tenant-db"},
		{"schema, one connection", []string{"-tenant-isolation", "schema", "-tenant-db", "postgres://u@127.0.0.1:1/db", "-db-max-conns", "1", "-db-tenant-conns", "1"}, "must be at least 2"},
		{"unreachable schema db", []string{"-tenant-isolation", "schema", "-tenant-db", "postgres://u:sup3rsecret@127.0.0.1:1/db?connect_timeout=2"}, "tenant schemas:"},
		{"unreachable core db", []string{"-core-db", "postgres://u:sup3rsecret@127.0.0.1:1/db?connect_timeout=2"}, "core database unreachable"},
		{"unknown command", []string{"frobnicate"}, `unknown command "frobnicate"`},
		{"stray argument", []string{"-addr", ":0", "extra"}, `unexpected argument "extra"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append(append([]string{"server"}, tt.args...), "-data", t.TempDir())
			err := run(context.Background(), args, getenv, io.Discard)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("run(%q) = %v; want an error containing %q", tt.args, err, tt.want)
			}
			if strings.Contains(err.Error(), "sup3rsecret") || strings.Contains(err.Error(), "\n") {
				t.Errorf("run(%q) error %q leaks a secret or spans lines", tt.args, err)
			}
		})
	}
}
