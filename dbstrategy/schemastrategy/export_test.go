package schemastrategy

import "context"

// DropAll drops every schema and role under the strategy's prefix.
func (s *Strategy) DropAll(ctx context.Context) error { return s.dropAll(ctx) }

// NoAffinity turns the lot's affinity off: a lease takes the connection
// idle longest, whatever tenant it served. It makes the shared pool
// first, if need be.
func (s *Strategy) NoAffinity() error {
	if _, err := s.getPool(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lot.mu.Lock()
	s.lot.anyScope = true
	s.lot.mu.Unlock()
	return nil
}
