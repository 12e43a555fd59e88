package dbstrategy

// ReapIdle runs one pass of the idle reaper now and reports how many
// handles it closed.
func (m *Manager) ReapIdle() int { return m.reapIdle() }

// PendingOpens reports how many Acquires wait for the tenant's handle to
// open.
func (m *Manager) PendingOpens(tenantID string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	if h := m.handles[tenantID]; h != nil && h.state == stateOpening {
		return h.pending
	}
	return 0
}

// Dropping reports whether a Drop of the tenant is waiting for its leases.
func (m *Manager) Dropping(tenantID string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	h := m.handles[tenantID]
	return h != nil && h.drained != nil
}

// DropMarked reports whether a Drop of the tenant is in progress.
func (m *Manager) DropMarked(tenantID string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.dropping[tenantID] != nil
}

// Used reports how many handles are opening, open or closing: never more
// than Stats().MaxOpen.
func (m *Manager) Used() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.used
}
