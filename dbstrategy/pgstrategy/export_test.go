package pgstrategy

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
