// Package testenv holds helpers the tests of several packages share.
package testenv

import (
	"os"
	"testing"
)

// PostgresDSNEnv names the environment variable that holds the DSN of the
// PostgreSQL server the tests may use. The tests create databases under
// unique prefixes there and drop them when they finish.
const PostgresDSNEnv = "TENANTKIT_TEST_POSTGRES_DSN"

// PostgresDSN returns the test server's DSN. Without one it skips the test,
// or fails it when CI is set, so a missing server never passes CI silently.
func PostgresDSN(tb testing.TB) string {
	tb.Helper()
	dsn := os.Getenv(PostgresDSNEnv)
	if dsn == "" {
		if os.Getenv("CI") != "" {
			tb.Fatalf("%s must be set when CI is set", PostgresDSNEnv)
		}
		tb.Skipf("%s not set; skipping PostgreSQL test", PostgresDSNEnv)
	}
	return dsn
}
