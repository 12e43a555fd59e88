package schemastrategy

import "context"

// DropAll drops every schema and role under the strategy's prefix.
func (s *Strategy) DropAll(ctx context.Context) error { return s.dropAll(ctx) }

// NoAffinity turns the lot's affinity off: a lease takes the connection
// given back last, whatever tenant it served, as pgxpool would. It makes the shared pool
// first, if need be.
func (s *Strategy) NoAffinity() error {
	l, err := s.getLot()
	if err != nil {
		return err
	}
	l.mu.Lock()
	l.anyScope = true
	l.mu.Unlock()
	return nil
}
