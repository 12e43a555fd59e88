package tenancy_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/tenantkit/tenantkit/tenancy"
)

type otherKey struct{}

func TestContext(t *testing.T) {
	tests := []struct {
		name   string
		ctx    context.Context
		want   tenancy.Tenant
		wantOK bool
	}{
		{"empty", context.Background(), tenancy.Tenant{}, false},
		{"nil", nil, tenancy.Tenant{}, false},
		{"stored", tenancy.NewContext(context.Background(), acme), acme, true},
		{"zero tenant stored", tenancy.NewContext(context.Background(), tenancy.Tenant{}), tenancy.Tenant{}, true},
		{"inner value wins", tenancy.NewContext(tenancy.NewContext(context.Background(), acme), globex), globex, true},
		{"other values do not hide it", context.WithValue(tenancy.NewContext(context.Background(), acme), otherKey{}, "x"), acme, true},
		{"not found under another key", context.WithValue(context.Background(), otherKey{}, acme), tenancy.Tenant{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := tenancy.FromContext(tt.ctx)
			if got != tt.want || ok != tt.wantOK {
				t.Errorf("FromContext() = %+v, %v; want %+v, %v", got, ok, tt.want, tt.wantOK)
			}
		})
	}
}

func TestFromContextCopies(t *testing.T) {
	ctx := tenancy.NewContext(context.Background(), acme)
	got, _ := tenancy.FromContext(ctx)
	got.ID = "mutated"
	if again, _ := tenancy.FromContext(ctx); again != acme {
		t.Errorf("FromContext() after mutating a copy = %+v; want %+v", again, acme)
	}
}

func TestCheckStatus(t *testing.T) {
	tests := []struct {
		tenant tenancy.Tenant
		want   error
	}{
		{acme, nil},
		{newco, tenancy.ErrTenantNotReady},
		{banned, tenancy.ErrTenantSuspended},
		{leaving, tenancy.ErrUnknownTenant},
		{weird, tenancy.ErrUnknownTenant},
		{blank, tenancy.ErrIncompleteTenant},
	}
	for _, tt := range tests {
		t.Run(string(tt.tenant.Status), func(t *testing.T) {
			err := tenancy.CheckStatus(tt.tenant)
			if (err == nil) != (tt.want == nil) || (tt.want != nil && !errors.Is(err, tt.want)) {
				t.Errorf("CheckStatus(%+v) = %v; want %v", tt.tenant, err, tt.want)
			}
		})
	}
}

func TestIDFunc(t *testing.T) {
	withTenant := func(ctx context.Context) context.Context {
		return tenancy.NewContext(ctx, tenancy.Tenant{ID: "42", Slug: "acme", Status: tenancy.StatusActive})
	}
	tests := []struct {
		name    string
		prefix  string
		ctx     func(context.Context) context.Context
		want    string
		wantErr error
	}{
		{"prefix", "tenant:", withTenant, "tenant:42", nil},
		{"no prefix", "", withTenant, "42", nil},
		{"no tenant", "tenant:", func(ctx context.Context) context.Context { return ctx }, "", tenancy.ErrInvalidConfig},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			r = r.WithContext(tt.ctx(r.Context()))
			got, err := tenancy.IDFunc(tt.prefix)(r)
			if got != tt.want || !errors.Is(err, tt.wantErr) || (tt.wantErr == nil && err != nil) {
				t.Errorf("IDFunc(%q)(r) = %q, %v; want %q, %v", tt.prefix, got, err, tt.want, tt.wantErr)
			}
			if err != nil {
				if errors.Is(err, tenancy.ErrNoTenant) {
					t.Errorf("error %v matches ErrNoTenant: a wiring bug would be answered 400", err)
				}
				if code, _ := tenancy.HTTPStatus(err); code != 0 {
					t.Errorf("HTTPStatus(%v) = %d; want 0 (not the client's fault)", err, code)
				}
			}
		})
	}
}
