package schemastrategy

import "context"

// DropAll drops every schema and role under the strategy's prefix.
func (s *Strategy) DropAll(ctx context.Context) error { return s.dropAll(ctx) }
