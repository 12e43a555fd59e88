// Package pgtest runs private PostgreSQL clusters for tests that must do
// what no test may do to the shared test server: stop it, start it again,
// or fill it to its limits. [DropPrefix] cleans up what a test made on a
// shared server under a name prefix of its own: databases, several at a
// time, then roles.
//
// A [Cluster] is made by initdb in a temporary folder and served by its own
// postmaster on a free port of 127.0.0.1, with trust authentication, its
// Unix socket in that folder and fsync off (it holds nothing worth keeping).
// The binaries are found under /usr/lib/postgresql/*/bin (the newest
// version first) or on PATH. initdb refuses to run as root, so a test
// process running as root runs them as the postgres user, through runuser.
// Without the binaries, or as root without a postgres user, [StartCluster]
// skips the test, or fails it when CI is set: CI must never pass a test it
// did not run.
//
// # Usage
//
//	func TestOutage(t *testing.T) {
//		c := pgtest.StartCluster(t) // stopped and removed when t ends
//		db, err := sql.Open("pgx", c.DSN())
//		// ...
//		if err := c.Stop(); err != nil { // pg_ctl stop -m fast
//			t.Fatal(err)
//		}
//		// ... the server is down ...
//		if err := c.Start(); err != nil { // same port, same data
//			t.Fatal(err)
//		}
//	}
//
// On a shared server, drop what the test made when it ends:
//
//	t.Cleanup(func() {
//		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
//		defer cancel()
//		if err := pgtest.DropPrefix(ctx, dsn, prefix, 8); err != nil {
//			t.Error(err)
//		}
//	})
//
// Starting a cluster takes a second or two (initdb); share one per test,
// not per subtest. A test process killed before its cleanup leaves the
// postmaster running and the folder behind.
package pgtest
