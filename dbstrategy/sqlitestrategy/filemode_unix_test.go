//go:build unix

package sqlitestrategy_test

import (
	"os"
	"syscall"
	"testing"

	"github.com/tenantkit/tenantkit/dbstrategy/sqlitestrategy"
)

// TestFileModes checks that a tenant's database, -wal and -shm files are
// 0600 under the usual umask 022: after Create, after Open and a write,
// and after another program removed the -wal and -shm files (as sqlite3
// does when it closes the last connection), so that Open's connection
// makes them again.
func TestFileModes(t *testing.T) {
	old := syscall.Umask(0o022)
	defer syscall.Umask(old)
	s := newStrategy(t, sqlitestrategy.Config{})
	ctx := t.Context()
	if err := s.Create(ctx, "acme"); err != nil {
		t.Fatal(err)
	}
	path, _ := s.Path("acme")
	check := func(when string) {
		t.Helper()
		for _, suffix := range []string{"", "-wal", "-shm"} {
			fi, err := os.Stat(path + suffix)
			if err != nil {
				if suffix != "" && when == "after Create" {
					continue // made by the first Open
				}
				t.Errorf("%s: %v", when, err)
				continue
			}
			if m := fi.Mode().Perm(); m != 0o600 {
				t.Errorf("%s: %s is %v, want 0600", when, path+suffix, m)
			}
		}
	}
	check("after Create")
	write := func(when string) {
		t.Helper()
		db, err := s.Open(ctx, "acme")
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		if _, err := db.ExecContext(ctx, "CREATE TABLE IF NOT EXISTS t (v TEXT); INSERT INTO t VALUES ('x')"); err != nil {
			t.Fatal(err)
		}
		check(when)
	}
	write("after Open and a write")
	for _, suffix := range []string{"-wal", "-shm"} {
		if err := os.Remove(path + suffix); err != nil {
			t.Fatal(err)
		}
	}
	write("after Open with -wal and -shm removed")
	check("after Close")
}
