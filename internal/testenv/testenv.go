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
	return Env(tb, PostgresDSNEnv)
}

// Env returns the value of the environment variable name, which names a
// server a test needs (a PostgreSQL server, a PgBouncer). When it is empty, Env skips
// the test, or fails it when CI is set: CI provides every such server, so
// a test that needs one never passes CI by skipping.
func Env(tb testing.TB, name string) string {
	tb.Helper()
	v := os.Getenv(name)
	if v == "" {
		if os.Getenv("CI") != "" {
			tb.Fatalf("%s must be set when CI is set", name)
		}
		tb.Skipf("%s not set; skipping", name)
	}
	return v
}
