package registry

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/tenantkit/tenantkit/tenancy"
)

// Memory is a [Store] that keeps everything in the process's memory: for
// tests, examples and single-process apps whose tenants may be lost on
// restart. It is safe for concurrent use and holds no resources; it
// implements [Notifier], so [Watch] on it is woken by every change.
type Memory struct {
	cfg storeConfig

	mu      sync.Mutex
	records map[string]Record
	slugs   map[string]string // slug → ID
	log     []Change
	seq     int64
	changed chan struct{} // closed and replaced on every change
}

// NewMemory returns an empty Memory store. The only option is [WithNow].
func NewMemory(opts ...StoreOption) (*Memory, error) {
	m := &Memory{
		cfg:     storeConfig{now: time.Now},
		records: map[string]Record{},
		slugs:   map[string]string{},
		changed: make(chan struct{}),
	}
	if err := configure("NewMemory", opts, func(o StoreOption) error { return o.applyStore(&m.cfg) }); err != nil {
		return nil, err
	}
	return m, nil
}

// logLocked appends a change of rec, now in status, and wakes the
// notifiers. m.mu must be held.
func (m *Memory) logLocked(rec Record, status tenancy.Status, at time.Time) {
	m.seq++
	m.log = append(m.log, Change{Seq: m.seq, ID: rec.ID, Slug: rec.Slug, Status: status, Server: rec.Server, At: at})
	close(m.changed)
	m.changed = make(chan struct{})
}

// Insert implements [Store.Insert].
func (m *Memory) Insert(ctx context.Context, rec Record) (Record, error) {
	if err := checkRecord(rec); err != nil {
		return Record{}, err
	}
	if err := ctx.Err(); err != nil {
		return Record{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	_, idTaken := m.records[rec.ID]
	_, slugTaken := m.slugs[rec.Slug]
	if idTaken || rec.Slug != "" && slugTaken {
		return Record{}, exists(rec.ID, rec.Slug)
	}
	rec.CreatedAt = m.cfg.stamp()
	rec.UpdatedAt = rec.CreatedAt
	m.records[rec.ID] = rec
	if rec.Slug != "" {
		m.slugs[rec.Slug] = rec.ID
	}
	m.logLocked(rec, rec.Status, rec.CreatedAt)
	return rec, nil
}

// checkRecord checks what every Store requires of a new record.
func checkRecord(rec Record) error {
	switch {
	case rec.ID == "":
		return fmt.Errorf("%w: empty ID", ErrInvalidRecord)
	case rec.Status == "":
		return fmt.Errorf("%w: tenant %q: empty Status", ErrInvalidRecord, rec.ID)
	case rec.Status == StatusDeleted:
		return fmt.Errorf("%w: tenant %q: status %s", ErrInvalidRecord, rec.ID, rec.Status)
	case rec.Move != Move{}:
		return fmt.Errorf("%w: tenant %q: a new record has no move", ErrInvalidRecord, rec.ID)
	}
	return nil
}

// checkMove checks a move [Store.SetMove] may set in place of old.
func checkMove(id string, old, m Move) error {
	switch m.Phase {
	case "":
		if m == (Move{}) {
			return nil
		}
	case MoveCopying, MoveAborting:
		if m.From != m.To {
			return nil
		}
	case MoveSwitched:
		if old.Phase == MoveSwitched && old.From == m.From && old.To == m.To {
			return nil
		}
	}
	return fmt.Errorf("%w: tenant %q: SetMove cannot set the move %+v", ErrInvalidRecord, id, m)
}

// Get implements [Store.Get].
func (m *Memory) Get(ctx context.Context, id string) (Record, error) {
	if err := ctx.Err(); err != nil {
		return Record{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	rec, ok := m.records[id]
	if !ok {
		return Record{}, notFound(id)
	}
	return rec, nil
}

// BySlug implements [Store.BySlug].
func (m *Memory) BySlug(ctx context.Context, slug string) (Record, error) {
	if err := ctx.Err(); err != nil {
		return Record{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	id, ok := m.slugs[slug]
	if !ok || slug == "" {
		return Record{}, fmt.Errorf("%w: slug %q", ErrNotFound, slug)
	}
	return m.records[id], nil
}

// List implements [Store.List].
func (m *Memory) List(ctx context.Context, f Filter) ([]Record, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	m.mu.Lock()
	var out []Record
	for _, rec := range m.records {
		if rec.ID > f.After && statusIn(rec.Status, f.Status) && (!f.Moving || rec.Move.Active()) {
			out = append(out, rec)
		}
	}
	m.mu.Unlock()
	slices.SortFunc(out, func(a, b Record) int { return strings.Compare(a.ID, b.ID) })
	if f.Limit > 0 && len(out) > f.Limit {
		out = out[:f.Limit]
	}
	return out, nil
}

// SetStatus implements [Store.SetStatus].
func (m *Memory) SetStatus(ctx context.Context, id string, from, to tenancy.Status) (Record, error) {
	if err := ctx.Err(); err != nil {
		return Record{}, err
	}
	if to == "" || to == StatusDeleted {
		return Record{}, fmt.Errorf("%w: tenant %q: status %q", ErrInvalidRecord, id, to)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	rec, ok := m.records[id]
	switch {
	case !ok:
		return Record{}, notFound(id)
	case rec.Status != from:
		return Record{}, &StatusError{ID: id, Status: rec.Status, Want: from}
	}
	rec.Status = to
	rec.UpdatedAt = m.cfg.stamp()
	m.records[id] = rec
	m.logLocked(rec, to, rec.UpdatedAt)
	return rec, nil
}

// SetMove implements [Store.SetMove].
func (m *Memory) SetMove(ctx context.Context, id string, old, move Move) (Record, error) {
	if err := ctx.Err(); err != nil {
		return Record{}, err
	}
	if err := checkMove(id, old, move); err != nil {
		return Record{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	rec, ok := m.records[id]
	switch {
	case !ok:
		return Record{}, notFound(id)
	case !rec.Move.equal(old), move.Active() && rec.Server != move.server():
		return Record{}, moveConflict(id, rec, old)
	}
	rec.Move = move.normal()
	m.records[id] = rec
	m.logLocked(rec, rec.Status, m.cfg.stamp())
	return rec, nil
}

// SwitchServer implements [Store.SwitchServer].
func (m *Memory) SwitchServer(ctx context.Context, id string, move Move) (Record, error) {
	if err := ctx.Err(); err != nil {
		return Record{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	rec, ok := m.records[id]
	switch {
	case !ok:
		return Record{}, notFound(id)
	case move.Phase != MoveCopying, !rec.Move.equal(move), rec.Server != move.From:
		return Record{}, moveConflict(id, rec, move)
	}
	rec.Server = move.To
	rec.Move.Phase = MoveSwitched
	m.records[id] = rec
	m.logLocked(rec, rec.Status, m.cfg.stamp())
	return rec, nil
}

// RecordMigration implements [Store.RecordMigration].
func (m *Memory) RecordMigration(ctx context.Context, id string, version int64, failure string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	rec, ok := m.records[id]
	if !ok {
		return notFound(id)
	}
	if failure == "" {
		rec.Version = version
	}
	rec.MigrationError = failure
	m.records[id] = rec
	return nil
}

// Delete implements [Store.Delete].
func (m *Memory) Delete(ctx context.Context, id string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	rec, ok := m.records[id]
	if !ok {
		return nil
	}
	delete(m.records, id)
	if rec.Slug != "" {
		delete(m.slugs, rec.Slug)
	}
	m.logLocked(rec, StatusDeleted, m.cfg.stamp())
	return nil
}

// Changes implements [Store.Changes].
func (m *Memory) Changes(ctx context.Context, after int64, limit int) ([]Change, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	i, _ := slices.BinarySearchFunc(m.log, after+1, func(c Change, seq int64) int {
		switch {
		case c.Seq < seq:
			return -1
		case c.Seq > seq:
			return 1
		}
		return 0
	})
	end := len(m.log)
	if limit > 0 {
		end = min(end, i+limit)
	}
	return slices.Clone(m.log[i:end]), nil
}

// Head implements [Store.Head].
func (m *Memory) Head(ctx context.Context) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.seq, nil
}

// TrimChanges implements [Store.TrimChanges].
func (m *Memory) TrimChanges(ctx context.Context, before time.Time) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	n := len(m.log)
	m.log = slices.DeleteFunc(m.log, func(c Change) bool { return c.At.Before(before) })
	return int64(n - len(m.log)), nil
}

// Notify implements [Notifier]: it calls wake at once and after every
// change, until ctx is done, and returns ctx.Err().
func (m *Memory) Notify(ctx context.Context, wake func()) error {
	for {
		m.mu.Lock()
		ch := m.changed
		m.mu.Unlock()
		wake()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}
