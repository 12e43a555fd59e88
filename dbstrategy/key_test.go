package dbstrategy_test

import (
	"errors"
	"regexp"
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
		{"a-b", false},
		{"a_b-c", false},
		{"0-", false},
		{"a--", false},
		{strings.Repeat("z", dbstrategy.MaxKeyLen-1) + "-", false},
		{"_", true},
		{"-", true},
		{"-a", true},
		{"_a", true},
		{strings.Repeat("z", dbstrategy.MaxKeyLen), false},
		{"", true},
		{strings.Repeat("z", dbstrategy.MaxKeyLen+1), true},
		{"Acme", true},
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
	for _, s := range []string{"acme", "", "A", "a-b", "-a", "_a", "../x", "1_0", "01", "+1", strings.Repeat("a", 49), "é", "a\n"} {
		f.Add(s)
	}
	// The documented rule, which tenancy's default hint validator shares.
	rule := regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,47}$`)
	f.Fuzz(func(t *testing.T, key string) {
		err := dbstrategy.ValidateKey(key)
		ok := rule.MatchString(key) // Go's $ is the end of the text
		if (err == nil) != ok {
			t.Fatalf("ValidateKey(%q) = %v, want ok %v", key, err, ok)
		}
		if err != nil && !errors.Is(err, dbstrategy.ErrInvalidKey) {
			t.Fatalf("ValidateKey(%q) error %v does not wrap ErrInvalidKey", key, err)
		}
	})
}
