//go:build unix

package main

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// TestFilesPrivate: the core database, the tenants' databases and their
// -wal and -shm files are created 0600 even in a data folder that is
// 0755 and under the usual umask 022: they hold password and refresh
// token hashes. Also after the handles close and the files are opened
// again.
func TestFilesPrivate(t *testing.T) {
	old := syscall.Umask(0o022) // what most services run with
	t.Cleanup(func() { syscall.Umask(old) })
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	cfg := sqliteConfig(t)
	cfg.dataDir = dir
	cfg.coreDB = "sqlite:" + filepath.Join(dir, "core.db")
	cfg.tenantDB = "sqlite:" + filepath.Join(dir, "tenants")

	check := func(when string) {
		t.Helper()
		files := []string{"core.db", "core.db-wal", "core.db-shm"}
		tenants, _ := filepath.Glob(filepath.Join(dir, "tenants", "*"))
		if len(tenants) < 3 {
			t.Fatalf("%s: tenant files %v; want a .db, -wal and -shm", when, tenants)
		}
		for _, f := range tenants {
			rel, _ := filepath.Rel(dir, f)
			files = append(files, rel)
		}
		for _, f := range files {
			fi, err := os.Stat(filepath.Join(dir, f))
			if err != nil {
				if f != "core.db-wal" && f != "core.db-shm" || when == "serving" {
					t.Errorf("%s: %v", when, err)
				}
				continue
			}
			if m := fi.Mode().Perm(); m&0o077 != 0 {
				t.Errorf("%s: %s has mode %04o; want 0600", when, f, m)
			}
		}
	}

	ts := startServer(t, cfg)
	owner := ts.coreUser(t, "owner@example.com")
	id, _ := ts.org(t, owner, "Private")
	ts.tenantUser(t, id, "user@example.com")
	check("serving")

	// Close everything (the -wal and -shm files of the core go away, or
	// stay), start again on the same files, and use both databases.
	ts.Close()
	if err := ts.app.Close(); err != nil {
		t.Fatal(err)
	}
	check("closed")
	ts2 := startServer(t, cfg)
	loginPair(t, ts2, "", "owner@example.com")
	loginPair(t, ts2, id, "user@example.com")
	check("serving again")
}
