package dbstrategy_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/tenantkit/tenantkit/dbstrategy"
)

func TestValidateKey(t *testing.T) {
	tests := []struct {
		key     string
		wantErr bool
	}{
		{"a", false},
		{"acme", false},
		{"tenant_42", false},
		{"0", false},
		{"_", false},
		{strings.Repeat("z", dbstrategy.MaxKeyLen), false},
		{"", true},
		{strings.Repeat("z", dbstrategy.MaxKeyLen+1), true},
		{"Acme", true},
		{"a-b", true},
		{"a.b", true},
		{"../a", true},
		{"a/b", true},
		{"a b", true},
		{"a\x00", true},
		{"é", true},
		{"+1", true},
		{"a;drop", true},
		{`a"b`, true},
	}
	for _, tt := range tests {
		err := dbstrategy.ValidateKey(tt.key)
		if (err != nil) != tt.wantErr || (err != nil && !errors.Is(err, dbstrategy.ErrInvalidKey)) {
			t.Errorf("ValidateKey(%q) = %v, want error %v (ErrInvalidKey)", tt.key, err, tt.wantErr)
		}
	}
}

func FuzzValidateKey(f *testing.F) {
	for _, s := range []string{"acme", "", "A", "a-b", "../x", "1_0", "01", "+1", strings.Repeat("a", 49), "é"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, key string) {
		err := dbstrategy.ValidateKey(key)
		ok := len(key) >= 1 && len(key) <= dbstrategy.MaxKeyLen &&
			strings.Trim(key, "abcdefghijklmnopqrstuvwxyz0123456789_") == ""
		if (err == nil) != ok {
			t.Fatalf("ValidateKey(%q) = %v, want ok %v", key, err, ok)
		}
		if err != nil && !errors.Is(err, dbstrategy.ErrInvalidKey) {
			t.Fatalf("ValidateKey(%q) error %v does not wrap ErrInvalidKey", key, err)
		}
	})
}
