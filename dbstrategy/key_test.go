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

// TestValidateKeyMessage checks that a refused key's error names the key,
// what is wrong with it and the alphabet expected.
func TestValidateKeyMessage(t *testing.T) {
	const rule = "a key is 1 to 48 bytes of a-z, 0-9, '_' and '-', starting with a-z or 0-9"
	long := strings.Repeat("a", 100)
	tests := []struct {
		key  string
		want []string
	}{
		{"Acme", []string{`"Acme"`, "byte 0 is 'A', not a-z or 0-9", rule}},
		{"acme.corp", []string{`"acme.corp"`, "byte 4 is '.', not a-z, 0-9, '_' or '-'", rule}},
		{"_a", []string{`"_a"`, "byte 0 is '_'", rule}},
		{"a\x00", []string{`"a\x00"`, "byte 1 is 0x00", rule}},
		{"", []string{`""`, "length 0 not in 1..48", rule}},
		{long, []string{`"` + long[:64] + `"... (100 bytes)`, "length 100 not in 1..48", rule}},
	}
	for _, tt := range tests {
		err := dbstrategy.ValidateKey(tt.key)
		if !errors.Is(err, dbstrategy.ErrInvalidKey) {
			t.Errorf("ValidateKey(%q) = %v, want ErrInvalidKey", tt.key, err)
			continue
		}
		for _, w := range tt.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("ValidateKey(%q) error %q does not contain %q", tt.key, err, w)
			}
		}
	}
	if strings.Contains(dbstrategy.ValidateKey(long).Error(), long) {
		t.Errorf("ValidateKey of a 100-byte key quotes all of it")
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
