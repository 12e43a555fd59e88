package dbstrategy

import "database/sql"

// Stats is a snapshot of a Manager's handles, from [Manager.Stats].
type Stats struct {
	MaxOpen    int   // most handles open at once: WithMaxOpen, lowered by the WithMaxConns budget only for a ConnLimiter that is not a ConnBudgeter
	Open       int   // handles open now, leased or not
	Leased     int   // open handles with at least one lease
	Waiting    int   // Acquires waiting now for room to open a handle
	Opens      int64 // handles opened so far
	Evictions  int64 // unleased handles closed so far to make room for another tenant
	IdleCloses int64 // handles closed so far by the idle reaper
	Waits      int64 // Acquires so far that had to wait for room

	Migrations        int64 // tenant migrations (goose up) that succeeded so far, nothing to do included
	MigrationFailures int64 // tenant migrations that failed so far

	SparesMade    int64 // spares made and migrated so far (WithSpares); not counted in Migrations
	SparesClaimed int64 // Creates so far that claimed a spare instead of migrating
}

// Stats returns a snapshot of the Manager's handles and counters.
func (m *Manager) Stats() Stats {
	m.mu.Lock()
	defer m.mu.Unlock()
	return Stats{
		MaxOpen:    m.limit,
		Open:       m.nOpen,
		Leased:     m.nLeased,
		Waiting:    m.queue.n,
		Opens:      m.opens,
		Evictions:  m.evicted,
		IdleCloses: m.reaped,
		Waits:      m.waits,

		Migrations:        m.migrated.Load(),
		MigrationFailures: m.migrateFailed.Load(),

		SparesMade:    m.sparesMade.Load(),
		SparesClaimed: m.sparesClaimed.Load(),
	}
}

// HandleConns is what the open handles hold, from [Manager.HandleConns].
type HandleConns struct {
	Open  int // connections of the open handles' *sql.DB pools, busy or idle
	InUse int // of those, the connections in use now
}

// HandleConns sums database/sql's connection counts over the handles
// open now. On a strategy whose handles are files (sqlitestrategy), each
// connection is a driver instance that costs memory and descriptors of
// its own, so this is the fleet's real cost; where the strategy counts
// its server connections itself (pgstrategy's and schemastrategy's
// ConnStats), those figures are the ones to use. It holds the Manager's
// lock only to list the open handles, and reads their pools after, so
// it is a snapshot: handles may open and close while it runs.
func (m *Manager) HandleConns() HandleConns {
	m.mu.Lock()
	dbs := make([]*sql.DB, 0, m.nOpen)
	for _, h := range m.handles {
		if h.state == stateOpen && h.db != nil {
			dbs = append(dbs, h.db)
		}
	}
	m.mu.Unlock()
	var c HandleConns
	for _, db := range dbs {
		s := db.Stats()
		c.Open += s.OpenConnections
		c.InUse += s.InUse
	}
	return c
}
