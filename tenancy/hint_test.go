package tenancy_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/tenantkit/tenantkit/tenancy"
)

func TestValidHint(t *testing.T) {
	tests := []struct {
		name string
		hint string
		ok   bool
	}{
		{"slug", "acme", true},
		{"digits", "1", true},
		{"leading zero kept as is", "01", true},
		{"inner hyphen", "acme-corp", true},
		{"punycode", "xn--bcher-kva", true},
		{"48 bytes", strings.Repeat("a", 48), true},
		{"underscore", "1_0", true},
		{"trailing hyphen", "acme-", true},
		{"trailing underscore", "acme_", true},
		{"digit first", "0_a-b", true},
		{"49 bytes", strings.Repeat("a", 49), false},
		{"63 bytes", strings.Repeat("a", 63), false},
		{"leading underscore", "_a", false},
		{"empty", "", false},
		{"64 bytes", strings.Repeat("a", 64), false},
		{"very long", strings.Repeat("a", 1<<16), false},
		{"plus", "+1", false},
		{"minus", "-1", false},
		{"leading space", " 1", false},
		{"trailing space", "1 ", false},
		{"inner space", "a b", false},
		{"path traversal", "../x", false},
		{"slash", "a/b", false},
		{"dot", "acme.corp", false},
		{"upper case", "Acme", false},
		{"unicode", "ácme", false},
		{"fullwidth digit", "１", false},
		{"kelvin sign", "\u212aey", false},
		{"nul", "a\x00", false},
		{"newline", "a\nb", false},
		{"tab", "a\tb", false},
		{"percent", "a%20b", false},
		{"sql", "1;drop", false},
		{"quote", "a'b", false},
		{"invalid utf8", "a\xffb", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tenancy.ValidHint(tt.hint)
			if got := err == nil; got != tt.ok {
				t.Fatalf("ValidHint(%.80q) = %v; want ok=%v", tt.hint, err, tt.ok)
			}
			if err != nil && !errors.Is(err, tenancy.ErrInvalidTenant) {
				t.Errorf("ValidHint(%.80q) = %v; want an error wrapping ErrInvalidTenant", tt.hint, err)
			}
		})
	}
}

func TestValidHintAllocs(t *testing.T) {
	for _, hint := range []string{"acme", "1_0", "", strings.Repeat("x", 100), "-a"} {
		if n := testing.AllocsPerRun(100, func() { _ = tenancy.ValidHint(hint) }); n != 0 {
			t.Errorf("ValidHint(%.20q) allocates %v times; want 0", hint, n)
		}
	}
}
