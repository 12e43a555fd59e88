// Package dbstrategytest is the conformance suite every
// [dbstrategy.Strategy] must pass, for use in the strategy's own tests.
//
// The suite checks the contract of Strategy (idempotent and concurrent
// Create, Open never creating and failing with [dbstrategy.ErrNotFound],
// isolation between tenants, idempotent Drop), the optional
// [dbstrategy.ConnLimiter], [dbstrategy.ConnBudgeter] and
// [dbstrategy.ConnPinner], and the strategy under a [dbstrategy.Manager]:
// invalid keys, migrations, [dbstrategy.WithPendingMigrations], and a
// concurrent stress through few handles (run it with -race).
//
// # Usage
//
//	func TestConformance(t *testing.T) {
//		dbstrategytest.Run(t, func(t *testing.T) dbstrategy.Strategy {
//			s, err := sqlitestrategy.New(sqlitestrategy.Config{Dir: t.TempDir()})
//			if err != nil {
//				t.Fatal(err)
//			}
//			return s
//		})
//	}
//
// newStrategy is called once per subtest and must return a strategy over
// fresh, empty state (a new directory, or a unique database name prefix)
// and register its own cleanup with t.Cleanup.
package dbstrategytest
