package pgtest

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// startTimeout bounds pg_ctl start and stop.
const startTimeout = 60 * time.Second

// Cluster is a private PostgreSQL cluster made for one test by
// [StartCluster]. Its methods are safe for concurrent use, though a test
// usually calls them from one goroutine.
type Cluster struct {
	bin    string // folder of initdb, pg_ctl
	dir    string // temporary root: data/, the socket, the log
	data   string
	log    string
	port   int
	asUser string // run the binaries as this user (via runuser); "" for the current one

	mu      sync.Mutex
	running bool
}

// StartCluster makes a new cluster in a temporary folder under
// os.TempDir() and starts it, listening on 127.0.0.1 only, on a free port.
// The superuser is postgres, with trust authentication. When tb ends, the
// cluster is stopped and its folder removed.
//
// Without PostgreSQL's server binaries (or, when running as root, without
// a postgres user to run them as), StartCluster skips tb, or fails it when
// the CI environment variable is set.
func StartCluster(tb testing.TB) *Cluster {
	tb.Helper()
	bin, err := BinDir()
	if err != nil {
		unavailable(tb, err)
	}
	c := &Cluster{bin: bin}
	if os.Geteuid() == 0 {
		c.asUser = "postgres"
	}
	var uid, gid int
	if c.asUser != "" {
		u, err := user.Lookup(c.asUser)
		if err != nil {
			unavailable(tb, fmt.Errorf("running as root, and initdb refuses root: %w", err))
		}
		if _, err := exec.LookPath("runuser"); err != nil {
			unavailable(tb, fmt.Errorf("running as root, and initdb refuses root: %w", err))
		}
		uid, _ = strconv.Atoi(u.Uid)
		gid, _ = strconv.Atoi(u.Gid)
	}

	c.dir, err = os.MkdirTemp("", "tenantkit-pgtest-")
	if err != nil {
		tb.Fatalf("pgtest: %v", err)
	}
	tb.Cleanup(func() {
		if err := c.Stop(); err != nil {
			tb.Errorf("pgtest: %v", err)
		}
		if err := os.RemoveAll(c.dir); err != nil {
			tb.Errorf("pgtest: remove cluster: %v", err)
		}
	})
	if c.asUser != "" {
		if err := os.Chown(c.dir, uid, gid); err != nil {
			tb.Fatalf("pgtest: %v", err)
		}
	}
	c.data = filepath.Join(c.dir, "data")
	c.log = filepath.Join(c.dir, "postgres.log")

	if out, err := c.run("initdb", "-D", c.data, "-U", "postgres", "--auth=trust",
		"--encoding=UTF8", "--locale=C", "--no-sync"); err != nil {
		tb.Fatalf("pgtest: initdb: %v\n%s", err, out)
	}
	conf, err := os.OpenFile(filepath.Join(c.data, "postgresql.conf"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		tb.Fatalf("pgtest: %v", err)
	}
	_, err = fmt.Fprintf(conf, "\n# pgtest\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '%s'\n"+
		"fsync = off\nsynchronous_commit = off\nfull_page_writes = off\nshared_buffers = 32MB\n", c.dir)
	if cerr := conf.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		tb.Fatalf("pgtest: write postgresql.conf: %v", err)
	}

	// A free port can be taken by someone else before the postmaster binds
	// it: try a few.
	for attempt := 1; ; attempt++ {
		if c.port, err = freePort(); err != nil {
			tb.Fatalf("pgtest: %v", err)
		}
		if err = c.Start(); err == nil {
			return c
		}
		if attempt == 3 {
			tb.Fatalf("pgtest: %v", err)
		}
	}
}

// BinDir returns the folder holding PostgreSQL's initdb and pg_ctl: the
// newest /usr/lib/postgresql/<version>/bin that has both, else the folder
// of initdb on PATH if pg_ctl is beside it.
func BinDir() (string, error) {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	version := func(d string) float64 {
		v, _ := strconv.ParseFloat(filepath.Base(filepath.Dir(d)), 64)
		return v
	}
	sort.Slice(dirs, func(i, j int) bool { return version(dirs[i]) > version(dirs[j]) })
	if p, err := exec.LookPath("initdb"); err == nil {
		dirs = append(dirs, filepath.Dir(p))
	}
	for _, d := range dirs {
		if isExec(filepath.Join(d, "initdb")) && isExec(filepath.Join(d, "pg_ctl")) {
			return d, nil
		}
	}
	return "", errors.New("PostgreSQL server binaries (initdb, pg_ctl) not found under /usr/lib/postgresql/*/bin or on PATH")
}

// DSN returns a pgx URL of the cluster's postgres database as the
// superuser postgres, over TCP.
func (c *Cluster) DSN() string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", c.port)
}

// Dir returns the cluster's temporary folder, which holds the data
// folder, the Unix socket and the server log (postgres.log). Cleanup
// removes it.
func (c *Cluster) Dir() string { return c.dir }

// Port returns the TCP port the cluster listens on, the same across
// [Cluster.Stop] and [Cluster.Start].
func (c *Cluster) Port() int { return c.port }

// Stop stops the cluster in fast mode (pg_ctl stop -m fast): sessions are
// ended, transactions rolled back, and Stop waits until the postmaster has
// exited. Stopping a stopped cluster does nothing.
func (c *Cluster) Stop() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.running {
		return nil
	}
	if out, err := c.run("pg_ctl", "stop", "-D", c.data, "-m", "fast", "-w", "-t", seconds(startTimeout)); err != nil {
		return fmt.Errorf("pg_ctl stop: %v\n%s", err, out)
	}
	c.running = false
	return nil
}

// Start starts the cluster again on the same port and data, and waits
// until it accepts connections. Starting a running cluster does nothing.
func (c *Cluster) Start() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.running {
		return nil
	}
	opts := fmt.Sprintf("-p %d", c.port)
	if out, err := c.run("pg_ctl", "start", "-D", c.data, "-l", c.log, "-o", opts, "-w", "-t", seconds(startTimeout)); err != nil {
		return fmt.Errorf("pg_ctl start: %v\n%s\n%s", err, out, c.logTail())
	}
	c.running = true
	return nil
}

// run runs one of the PostgreSQL binaries, as c.asUser if set, and returns
// its combined output.
func (c *Cluster) run(name string, args ...string) ([]byte, error) {
	path := filepath.Join(c.bin, name)
	var cmd *exec.Cmd
	if c.asUser != "" {
		cmd = exec.Command("runuser", append([]string{"-u", c.asUser, "--", path}, args...)...)
	} else {
		cmd = exec.Command(path, args...)
	}
	cmd.Dir = c.dir
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.Bytes(), err
}

// logTail returns the end of the server log, for error messages.
func (c *Cluster) logTail() string {
	b, err := os.ReadFile(c.log)
	if err != nil {
		return ""
	}
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return "server log:\n" + strings.TrimSpace(string(b))
}

// unavailable skips tb, or fails it under CI.
func unavailable(tb testing.TB, err error) {
	tb.Helper()
	if os.Getenv("CI") != "" {
		tb.Fatalf("pgtest: %v (CI is set, so this fails instead of skipping)", err)
	}
	tb.Skipf("pgtest: %v; skipping", err)
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

func isExec(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0
}

func seconds(d time.Duration) string { return strconv.Itoa(int(d / time.Second)) }
