package pgstrategy

import "context"

// ScramVerifier computes a SCRAM-SHA-256 verifier with a given salt.
var ScramVerifier = scramVerifier

// RolePassword returns the password of the tenant's role, as Open uses it;
// "" without RoleSecret or for an invalid key.
func (s *Strategy) RolePassword(tenantID string) string {
	name, err := s.DatabaseName(tenantID)
	if err != nil || s.roles == nil {
		return ""
	}
	return s.roles.rolePassword(name)
}

// DropAll drops every database and role of the strategy's prefix; see
// dropAll. Tests only: it is not part of the public API.
func (s *Strategy) DropAll(ctx context.Context) error { return s.dropAll(ctx) }
