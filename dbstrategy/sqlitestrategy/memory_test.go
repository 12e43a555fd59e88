package sqlitestrategy_test

import (
	"bytes"
	"context"
	"database/sql"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"testing"

	"github.com/tenantkit/tenantkit/dbstrategy/sqlitestrategy"
)

// rss returns the process's resident set size in bytes, from
// /proc/self/statm (Linux only).
func rss(tb testing.TB) int64 {
	tb.Helper()
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		tb.Skipf("no /proc/self/statm: %v", err)
	}
	f := bytes.Fields(b)
	pages, err := strconv.ParseInt(string(f[1]), 10, 64)
	if err != nil {
		tb.Fatal(err)
	}
	return pages * int64(os.Getpagesize())
}

// fds returns how many file descriptors the process has open.
func fds(tb testing.TB) int {
	tb.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		tb.Skipf("no /proc/self/fd: %v", err)
	}
	return len(ents)
}

// maps returns how many memory mappings the process has (Linux only): the
// count vm.max_map_count bounds.
func maps(tb testing.TB) int {
	tb.Helper()
	b, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		tb.Skipf("no /proc/self/maps: %v", err)
	}
	return bytes.Count(b, []byte{'\n'})
}

// BenchmarkHandleMemory measures what an open tenant handle costs: the RSS
// grown by opening 1,000 tenant handles and running one statement on each
// (so each holds one connection with the schema read), per handle, and
// the file descriptors and memory mappings each holds. They are the
// figures behind HandleMemory, HandleFDs and HandleMaps, and so behind
// DefaultMaxOpen. Run it with -benchtime 1x.
func BenchmarkHandleMemory(b *testing.B) {
	const n = 1000
	s, err := sqlitestrategy.New(sqlitestrategy.Config{Dir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	ids := make([]string, n)
	for i := range ids {
		ids[i] = "t" + strconv.Itoa(i)
		if err := s.Create(ctx, ids[i]); err != nil {
			b.Fatal(err)
		}
		db, err := s.Open(ctx, ids[i])
		if err != nil {
			b.Fatal(err)
		}
		_, err = db.ExecContext(ctx, "CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT NOT NULL UNIQUE, name TEXT)")
		db.Close()
		if err != nil {
			b.Fatal(err)
		}
	}
	for b.Loop() {
		runtime.GC()
		debug.FreeOSMemory()
		before, fdsBefore, mapsBefore := rss(b), fds(b), maps(b)
		dbs := make([]*sql.DB, n)
		for i, id := range ids {
			db, err := s.Open(ctx, id)
			if err != nil {
				b.Fatal(err)
			}
			var c int
			if err := db.QueryRowContext(ctx, "SELECT count(*) FROM users WHERE email = $1", "x@example.com").Scan(&c); err != nil {
				b.Fatal(err)
			}
			dbs[i] = db
		}
		runtime.GC()
		debug.FreeOSMemory()
		after, fdsAfter, mapsAfter := rss(b), fds(b), maps(b)
		b.ReportMetric(float64(after-before)/n/(1<<20), "MiB/handle")
		b.ReportMetric(float64(fdsAfter-fdsBefore)/n, "fds/handle")
		b.ReportMetric(float64(mapsAfter-mapsBefore)/n, "maps/handle")
		for _, db := range dbs {
			if st := db.Stats(); st.OpenConnections != 1 {
				b.Errorf("a handle holds %d connections after one statement, want 1", st.OpenConnections)
			}
			db.Close()
		}
	}
}
