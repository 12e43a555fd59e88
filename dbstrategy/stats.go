package dbstrategy

// Stats is a snapshot of a Manager's handles, from [Manager.Stats].
type Stats struct {
	MaxOpen    int   // most handles open at once: WithMaxOpen, lowered by the WithMaxConns budget
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
