package main

// The SQLite counterpart of TestPostgresConnectionBudget: many more tenants
// than -db-sqlite-max-open lets stay open, many concurrent clients, and the
// process never holds more tenant files open than the limit allows, as the
// kernel counts them (the process's descriptors into the tenants'
// directory). Every request still succeeds, with its own tenant's data.

import (
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

const sqliteBudgetHandles = 10 // -db-sqlite-max-open of the server under test

func TestSQLiteHandleBudget(t *testing.T) {
	if testing.Short() {
		t.Skip("creates 200 tenants and runs a load; skipped with -short")
	}
	if _, err := os.Stat("/proc/self/fd"); err != nil {
		t.Skip("no /proc/self/fd here to count the process's descriptors")
	}
	cfg := sqliteConfig(t)
	cfg.sqliteMaxOpen = sqliteBudgetHandles
	dir := strings.TrimPrefix(cfg.tenantDB, "sqlite:")
	ts := startServer(t, cfg)
	tenants := budgetSetup(t, ts, budgetTenants)
	if real, err := filepath.EvalSymlinks(dir); err == nil {
		dir = real // as /proc/self/fd names the files
	}

	// Sample, while the load runs, the handles the Manager has open, the
	// connections they hold and the descriptors of tenant files.
	var maxHandles, maxConns, maxFiles, samples atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() { // exits when stop is closed
		for {
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
			raise(&maxHandles, int64(ts.app.dbs.Stats().Open))
			raise(&maxConns, int64(ts.app.dbs.HandleConns().Open))
			n, err := filesUnder(dir)
			if err != nil {
				t.Errorf("counting descriptors: %v", err)
				return
			}
			raise(&maxFiles, int64(n))
			samples.Add(1)
		}
	})
	done, _ := budgetLoad(t, ts, tenants)
	close(stop)
	wg.Wait()

	// Each connection holds three descriptors (the database, its -wal and
	// -shm): at most -db-tenant-conns connections a handle, and a handle
	// opening past the limit only once another's files are closed.
	maxFilesWant := int64(sqliteBudgetHandles * cfg.tenantConns * 3)
	t.Logf("%d samples: at most %d handles open (limit %d), %d connections, %d tenant file descriptors (at most %d allowed)",
		samples.Load(), maxHandles.Load(), sqliteBudgetHandles, maxConns.Load(), maxFiles.Load(), maxFilesWant)
	if samples.Load() == 0 || done == 0 {
		t.Fatalf("%d samples, %d requests; want some of each", samples.Load(), done)
	}
	if got := maxHandles.Load(); got > sqliteBudgetHandles {
		t.Errorf("the Manager had %d handles open; want at most %d (-db-sqlite-max-open)", got, sqliteBudgetHandles)
	}
	if got := maxConns.Load(); got > int64(sqliteBudgetHandles*cfg.tenantConns) {
		t.Errorf("the open handles held %d connections; want at most %d (-db-sqlite-max-open × -db-tenant-conns)", got, sqliteBudgetHandles*cfg.tenantConns)
	}
	if got := maxFiles.Load(); got > maxFilesWant {
		t.Errorf("the process had %d descriptors of tenant files open; want at most %d", got, maxFilesWant)
	}
	if maxFiles.Load() == 0 {
		t.Errorf("no descriptor of a file under %s seen; want the sampler to see the tenants' files", dir)
	}
	if maxHandles.Load() < 2 {
		t.Errorf("at most %d handles were open under a load over %d tenants; want the limit used", maxHandles.Load(), len(tenants))
	}
}

// raise sets m to v if v is greater.
func raise(m *atomic.Int64, v int64) {
	for {
		old := m.Load()
		if v <= old || m.CompareAndSwap(old, v) {
			return
		}
	}
}

// filesUnder counts the process's open descriptors of files in dir.
func filesUnder(dir string) (int, error) {
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return 0, err
	}
	n := 0
	for _, fd := range fds {
		target, err := os.Readlink(filepath.Join("/proc/self/fd", fd.Name()))
		if err != nil {
			continue // closed since ReadDir
		}
		if strings.HasPrefix(target, dir+string(filepath.Separator)) {
			n++
		}
	}
	return n, nil
}
