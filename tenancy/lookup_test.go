package tenancy_test

import (
	"context"
	"errors"
	"testing"

	"github.com/tenantkit/tenantkit/tenancy"
)

func TestStatic(t *testing.T) {
	tests := []struct {
		name    string
		l       tenancy.Static
		hint    string
		want    tenancy.Tenant
		wantErr error
	}{
		{"first", tenancy.Static{"acme", "globex"}, "acme", tenancy.Tenant{ID: "acme", Slug: "acme", Status: tenancy.StatusActive}, nil},
		{"second", tenancy.Static{"acme", "globex"}, "globex", tenancy.Tenant{ID: "globex", Slug: "globex", Status: tenancy.StatusActive}, nil},
		{"unknown", tenancy.Static{"acme", "globex"}, "initech", tenancy.Tenant{}, tenancy.ErrUnknownTenant},
		{"exact match only", tenancy.Static{"1"}, "01", tenancy.Tenant{}, tenancy.ErrUnknownTenant},
		{"no case folding", tenancy.Static{"acme"}, "ACME", tenancy.Tenant{}, tenancy.ErrUnknownTenant},
		{"empty set", nil, "acme", tenancy.Tenant{}, tenancy.ErrUnknownTenant},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.l.Lookup(context.Background(), tt.hint)
			if got != tt.want || !errors.Is(err, tt.wantErr) || (tt.wantErr == nil && err != nil) {
				t.Errorf("Lookup(%q) = %+v, %v; want %+v, %v", tt.hint, got, err, tt.want, tt.wantErr)
			}
		})
	}
}
