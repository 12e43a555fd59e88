package placement_test

import (
	"context"
	"fmt"
	"hash/fnv"
	"slices"
	"sync"
	"testing"

	"github.com/tenantkit/tenantkit/dbstrategy"
	"github.com/tenantkit/tenantkit/dbstrategy/placement"
)

// byHash places every tenant on one of names by a hash of its key: a
// placement for tests that create tenants without recording them.
func byHash(names ...string) placement.LocateFunc {
	names = slices.Sorted(slices.Values(names))
	return func(_ context.Context, id string) (string, error) {
		h := fnv.New32a()
		h.Write([]byte(id))
		return names[h.Sum32()%uint32(len(names))], nil
	}
}

// registry is a placement kept in memory, as an application keeps it in
// its core database.
type registry struct {
	mu sync.Mutex
	m  map[string]string
}

func newRegistry() *registry { return &registry{m: make(map[string]string)} }

func (r *registry) set(id, server string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.m[id] = server
}

func (r *registry) locate(_ context.Context, id string) (string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	s, ok := r.m[id]
	if !ok {
		return "", fmt.Errorf("tenant %q: %w", id, dbstrategy.ErrNotFound)
	}
	return s, nil
}

func (r *registry) load(context.Context) (map[string]placement.ServerLoad, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	load := make(map[string]placement.ServerLoad)
	for _, s := range r.m {
		l := load[s]
		l.Tenants++
		load[s] = l
	}
	return load, nil
}

func newManager(tb testing.TB, s dbstrategy.Strategy, opts ...dbstrategy.Option) *dbstrategy.Manager {
	tb.Helper()
	m, err := dbstrategy.NewManager(s, opts...)
	if err != nil {
		tb.Fatalf("NewManager() error = %v", err)
	}
	tb.Cleanup(func() {
		if err := m.Close(); err != nil {
			tb.Errorf("Manager.Close() = %v", err)
		}
	})
	return m
}
