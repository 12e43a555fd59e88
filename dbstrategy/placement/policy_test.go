package placement_test

import (
	"context"
	"errors"
	"testing"

	"github.com/tenantkit/tenantkit/dbstrategy/placement"
)

func TestFewestTenants(t *testing.T) {
	tests := []struct {
		name    string
		servers []string
		load    map[string]placement.ServerLoad
		want    string
		wantErr error
	}{
		{"fewest", []string{"a", "b", "c"}, map[string]placement.ServerLoad{"a": {Tenants: 3}, "b": {Tenants: 1}, "c": {Tenants: 2}}, "b", nil},
		{"absent means empty", []string{"a", "b"}, map[string]placement.ServerLoad{"a": {Tenants: 1}}, "b", nil},
		{"tie: first name", []string{"c", "b", "a"}, map[string]placement.ServerLoad{"a": {Tenants: 2}, "b": {Tenants: 1}, "c": {Tenants: 1}}, "b", nil},
		{"closed skipped", []string{"a", "b"}, map[string]placement.ServerLoad{"a": {Tenants: 0, Closed: true}, "b": {Tenants: 9}}, "b", nil},
		{"unknown ignored", []string{"a"}, map[string]placement.ServerLoad{"a": {Tenants: 5}, "z": {}}, "a", nil},
		{"all closed", []string{"a", "b"}, map[string]placement.ServerLoad{"a": {Closed: true}, "b": {Closed: true}}, "", placement.ErrNoServer},
		{"no servers", nil, nil, "", placement.ErrNoServer},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := placement.FewestTenants{
				Servers: tt.servers,
				Load: func(context.Context) (map[string]placement.ServerLoad, error) {
					return tt.load, nil
				},
			}
			got, err := p.Pick(t.Context(), "x")
			if got != tt.want || !errors.Is(err, tt.wantErr) {
				t.Errorf("Pick() = %q, %v; want %q, %v", got, err, tt.want, tt.wantErr)
			}
		})
	}
	boom := errors.New("registry down")
	p := placement.FewestTenants{Servers: []string{"a"}, Load: func(context.Context) (map[string]placement.ServerLoad, error) { return nil, boom }}
	if _, err := p.Pick(t.Context(), "x"); !errors.Is(err, boom) {
		t.Errorf("Pick() with a failing Load = %v; want it wrapped", err)
	}
}

// Picks spread tenants evenly when each pick is recorded before the next.
func TestFewestTenantsSpreads(t *testing.T) {
	reg := newRegistry()
	p := placement.FewestTenants{Servers: []string{"a", "b", "c"}, Load: reg.load}
	for i := range 30 {
		id := string(rune('a'+i%26)) + string(rune('0'+i/26))
		s, err := p.Pick(t.Context(), id)
		if err != nil {
			t.Fatal(err)
		}
		reg.set(id, s)
	}
	load, _ := reg.load(t.Context())
	for _, s := range []string{"a", "b", "c"} {
		if load[s].Tenants != 10 {
			t.Errorf("server %s has %d tenants; want 10", s, load[s].Tenants)
		}
	}
}
