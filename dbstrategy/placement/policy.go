package placement

import (
	"context"
	"fmt"
	"slices"
)

// Policy picks the server a new tenant is placed on. The application
// records the pick in its registry before it creates the tenant through a
// [Router].
type Policy interface {
	Pick(ctx context.Context, tenantID string) (server string, err error)
}

// PolicyFunc adapts a function to a [Policy].
type PolicyFunc func(ctx context.Context, tenantID string) (string, error)

// Pick returns f(ctx, tenantID).
func (f PolicyFunc) Pick(ctx context.Context, tenantID string) (string, error) {
	return f(ctx, tenantID)
}

// ServerLoad is what a [FewestTenants] policy knows of one server.
type ServerLoad struct {
	Tenants int  // tenants placed on the server now
	Closed  bool // the server takes no new tenants (it is being drained, or full)
}

// LoadFunc reports the load of the servers, by name, typically from one
// query of the registry (a count of tenants grouped by server, and the
// servers marked closed). A server it leaves out has no tenants and is
// open.
type LoadFunc func(ctx context.Context) (map[string]ServerLoad, error)

// FewestTenants is the default [Policy]: it picks, among Servers, the
// server open to new tenants with the fewest tenants, as Load reports
// them; ties go to the server whose name sorts first, so the pick is
// deterministic. Servers that Load reports but Servers does not hold are
// ignored. Pick returns [ErrNoServer] if every server is closed. It does
// no I/O but Load's, and two concurrent picks may choose the same server:
// the counts even out over many tenants.
type FewestTenants struct {
	Servers []string // the servers a tenant may be placed on, as given to the Router
	Load    LoadFunc
}

var _ Policy = FewestTenants{}

// Pick returns the open server with the fewest tenants.
func (p FewestTenants) Pick(ctx context.Context, tenantID string) (string, error) {
	if len(p.Servers) == 0 || p.Load == nil {
		return "", fmt.Errorf("placement: FewestTenants needs Servers and Load: %w", ErrNoServer)
	}
	load, err := p.Load(ctx)
	if err != nil {
		return "", fmt.Errorf("placement: pick a server for tenant %q: %w", tenantID, err)
	}
	names := slices.Sorted(slices.Values(p.Servers))
	best, bestN := "", 0
	for _, name := range names {
		l := load[name]
		if l.Closed {
			continue
		}
		if best == "" || l.Tenants < bestN {
			best, bestN = name, l.Tenants
		}
	}
	if best == "" {
		return "", fmt.Errorf("placement: pick a server for tenant %q: %w", tenantID, ErrNoServer)
	}
	return best, nil
}
