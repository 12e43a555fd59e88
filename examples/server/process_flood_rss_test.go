package main

// Floods against the built server binary, measured from outside: the
// resident memory of the server process under a flood of logins with huge
// passwords, and the connections it holds when clients leave idle
// keep-alive connections open. Both skip with -short.
//
// To measure another build (an older commit, say), point
// TENANTKIT_FLOOD_BIN at its binary:
//
//	go test -run 'TestLoginFloodRSS|TestIdleConnections' -v ./examples/server
//	TENANTKIT_FLOOD_BIN=/tmp/old-server go test -run TestLoginFloodRSS -v ./examples/server

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// floodBinary builds the server, or returns TENANTKIT_FLOOD_BIN.
func floodBinary(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds the server and floods it in a child process")
	}
	if bin := os.Getenv("TENANTKIT_FLOOD_BIN"); bin != "" {
		return bin
	}
	return buildServer(t)
}

// pidStatus returns a kB field of /proc/PID/status in bytes, or 0.
func pidStatus(pid int, field string) uint64 {
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), field+":"); ok {
			kb, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err != nil {
				return 0
			}
			return kb << 10
		}
	}
	return 0
}

// openFDs counts the open descriptors of process pid, or -1.
func openFDs(pid int) int {
	es, err := os.ReadDir("/proc/" + strconv.Itoa(pid) + "/fd")
	if err != nil {
		return -1
	}
	return len(es)
}

// rssFlood is what one flood measured of the server process.
type rssFlood struct {
	before, peak, after, hwm uint64
	statuses                 map[int]int
	problems                 []string
}

// processLoginFlood sends n logins at once, each as another unknown
// email with password, spread over the loopback addresses 127.0.0.2 and
// up (one connection each, none kept), and samples the server's resident
// memory until every one is answered.
func processLoginFlood(t *testing.T, pid int, base string, n, addrs int, password []byte) rssFlood {
	t.Helper()
	res := rssFlood{statuses: map[int]int{}, before: pidStatus(pid, "VmRSS")}
	if res.before == 0 {
		t.Skip("no /proc/PID/status here")
	}
	clients := make([]*http.Client, addrs)
	for i := range clients {
		d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, byte(2+i))}}
		clients[i] = &http.Client{Timeout: 5 * time.Minute, Transport: &http.Transport{DialContext: d.DialContext, DisableKeepAlives: true}}
	}
	stop, sampled := make(chan struct{}), make(chan struct{})
	go func() { // samples until stop is closed, after the last answer
		defer close(sampled)
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for {
			res.peak = max(res.peak, pidStatus(pid, "VmRSS"))
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	}()
	var mu sync.Mutex
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			head := fmt.Appendf(nil, `{"email":"flood%d@example.com","password":"`, i)
			tail := []byte(`"}`)
			body := io.MultiReader(bytes.NewReader(head), bytes.NewReader(password), bytes.NewReader(tail))
			r, err := http.NewRequest("POST", base+"/api/login", body)
			if err != nil {
				t.Error(err)
				return
			}
			r.ContentLength = int64(len(head) + len(password) + len(tail))
			r.Header.Set("Content-Type", "application/json")
			resp, err := clients[i%addrs].Do(r)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				// The server answers 413 as soon as it sees the
				// Content-Length and closes the connection without
				// reading the body: a client still sending it may see
				// its write fail instead of the answer.
				if errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNRESET) {
					res.statuses[-1]++
					return
				}
				if len(res.problems) < 5 {
					res.problems = append(res.problems, err.Error())
				}
				res.statuses[0]++
				return
			}
			resp.Body.Close()
			res.statuses[resp.StatusCode]++
			if resp.StatusCode == http.StatusServiceUnavailable && resp.Header.Get("Retry-After") == "" && len(res.problems) < 5 {
				res.problems = append(res.problems, "503 without Retry-After")
			}
		})
	}
	close(start)
	wg.Wait()
	close(stop)
	<-sampled
	res.after = pidStatus(pid, "VmRSS")
	res.hwm = pidStatus(pid, "VmHWM")
	return res
}

func (r rssFlood) String() string {
	return fmt.Sprintf("RSS %.0f MiB before, peak %.0f MiB, %.0f MiB after (VmHWM %.0f MiB); statuses %v",
		mib(r.before), mib(r.peak), mib(r.after), mib(r.hwm), r.statuses)
}

// TestLoginFloodRSS: 600 concurrent logins with 1 MiB passwords from 6
// addresses, then 600 with 256-character passwords (which reach the
// production hashing, and fill its queue): the server's resident memory
// grows by less than 200 MiB, every login is answered (or, with a 1 MiB
// body, its connection closed at the 413), and the only 5xx is 503 with
// Retry-After. Statuses are logged by code; -1 counts connections the
// server closed while the client was still sending its body.
func TestLoginFloodRSS(t *testing.T) {
	const logins, addrs, bound = 600, 6, 200 << 20
	bin := floodBinary(t)
	cfg := sqliteConfig(t)
	p := startProcess(t, bin, serverArgs(cfg))
	pid := p.cmd.Process.Pid
	creds := map[string]string{"email": "flood@example.com", "password": "correct horse battery"}
	if r, err := sendTo(http.DefaultClient, p.base, req{method: "POST", path: "/api/register", body: creds}); err != nil || r.status != http.StatusCreated {
		t.Fatalf("register: %d %v", r.status, err)
	}

	huge := bytes.Repeat([]byte("x"), 1<<20-1024) // the body just under the general 1 MiB limit
	long := bytes.Repeat([]byte("x"), maxPasswordLen)
	for _, f := range []struct {
		name string
		body []byte
	}{{"1 MiB passwords", huge}, {"256-character passwords", long}} {
		r := processLoginFlood(t, pid, p.base, logins, addrs, f.body)
		t.Logf("%d logins with %s from %d addresses: %v", logins, f.name, addrs, r)
		if len(r.problems) > 0 {
			t.Errorf("%s: %s", f.name, strings.Join(r.problems, "; "))
		}
		for status, n := range r.statuses {
			if status == 0 || status >= 500 && status != http.StatusServiceUnavailable {
				t.Errorf("%s: %d logins answered %d; want none", f.name, n, status)
			}
		}
		if r.peak > r.before+bound {
			t.Errorf("%s: peak RSS %.0f MiB, %.0f MiB over the %.0f MiB before; want less than %.0f MiB more",
				f.name, mib(r.peak), mib(r.peak-r.before), mib(r.before), mib(bound))
		}
	}
	// The user still logs in.
	if r, err := sendTo(http.DefaultClient, p.base, req{method: "POST", path: "/api/login", body: creds}); err != nil || r.status != http.StatusOK {
		t.Errorf("login after the floods: %d %v\n%s", r.status, err, p.log())
	}
}

// idleConns opens n connections to base, sends one request on each and
// leaves them open (idle keep-alive), and returns them. It fails the test
// if a request is not answered within a minute.
func idleConns(t *testing.T, base string, n int) []net.Conn {
	t.Helper()
	addr := strings.TrimPrefix(base, "http://")
	var conns []net.Conn
	t.Cleanup(func() {
		for _, c := range conns {
			c.Close()
		}
	})
	for i := range n {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatalf("connection %d: %v", i, err)
		}
		conns = append(conns, c)
		c.SetDeadline(time.Now().Add(time.Minute))
		fmt.Fprintf(c, "GET /healthz HTTP/1.1\r\nHost: %s\r\n\r\n", addr)
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatalf("connection %d: no answer: %v", i, err)
		}
		resp.Body.Close()
		c.SetDeadline(time.Time{})
	}
	return conns
}

// stillOpen counts the connections the server has not closed: reading
// one the server closed returns at once (EOF); one it keeps open has
// nothing to read.
func stillOpen(conns []net.Conn) int {
	n := 0
	for _, c := range conns {
		c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
		var b [1]byte
		if _, err := c.Read(b[:]); err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				n++
			}
		}
	}
	return n
}

// TestIdleConnections: clients leave many more idle keep-alive
// connections open than the server may hold, and a fresh client is still
// served. First with -http-max-conns 50; then with no flag under a
// descriptor limit of 128, where the default cap (three quarters of what
// the SQLite handle limit leaves: 24 connections) keeps accept from ever
// failing: before the cap, the server's
// accept failed once the descriptors ran out, and every new client waited
// until idle connections timed out.
func TestIdleConnections(t *testing.T) {
	bin := floodBinary(t)
	prlimit, err := os.Stat("/usr/bin/prlimit")
	for _, tc := range []struct {
		name  string
		limit int // descriptor limit; 0: the test's own
		flags []string
		idle  int
	}{
		{"cap flag", 0, []string{"-http-max-conns", "50"}, 150},
		{"descriptor limit", 128, nil, 300},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := sqliteConfig(t)
			args := append(serverArgs(cfg), tc.flags...)
			cmd := bin
			if tc.limit > 0 {
				if err != nil || prlimit.IsDir() {
					t.Skip("needs /usr/bin/prlimit")
				}
				args = append([]string{"--nofile=" + strconv.Itoa(tc.limit), bin}, args...)
				cmd = "/usr/bin/prlimit"
			}
			p := startProcess(t, cmd, args)
			pid := p.cmd.Process.Pid
			base := openFDs(pid)
			conns := idleConns(t, p.base, tc.idle)
			held := openFDs(pid)

			c := &http.Client{Timeout: time.Minute, Transport: &http.Transport{DisableKeepAlives: true}}
			r, err := sendTo(c, p.base, req{method: "GET", path: "/healthz"})
			if err != nil || r.status != http.StatusOK {
				t.Fatalf("fresh client with %d idle connections left open: %d %v\n%s", tc.idle, r.status, err, p.log())
			}
			open := stillOpen(conns)
			t.Logf("%d idle connections opened: the server holds %d of them; its descriptors: %d before, %d after (limit %d)",
				tc.idle, open, base, held, tc.limit)
			if open >= tc.idle {
				t.Errorf("all %d idle connections still open; want the oldest closed for room", tc.idle)
			}
			if tc.limit > 0 && held >= tc.limit {
				t.Errorf("server holds %d descriptors; want fewer than its limit %d", held, tc.limit)
			}
			if tc.limit == 0 && open > 50 {
				t.Errorf("server holds %d idle connections; want at most -http-max-conns 50", open)
			}
		})
	}
}
