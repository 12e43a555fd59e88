package schemastrategy_test

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"testing"

	"github.com/tenantkit/tenantkit/dbstrategy"
	"github.com/tenantkit/tenantkit/dbstrategy/schemastrategy"
	"github.com/tenantkit/tenantkit/internal/testenv"
)

// The pooler tests need a PgBouncer in front of the test server: they run
// when these variables name one in each mode, with a wildcard database
// entry ("* = host=... port=..."), and fail under CI when one is missing
// (.ci/run starts all three with .ci/start-pgbouncer and sets them), for
// instance
//
//	TENANTKIT_TEST_PGBOUNCER_SESSION_DSN='postgres://postgres@127.0.0.1:6498/postgres?sslmode=disable'
//	TENANTKIT_TEST_PGBOUNCER_TRANSACTION_DSN='postgres://postgres@127.0.0.1:6499/postgres?sslmode=disable'
//	TENANTKIT_TEST_PGBOUNCER_STATEMENT_DSN='postgres://postgres@127.0.0.1:6497/postgres?sslmode=disable'
const (
	sessionPoolerEnv     = "TENANTKIT_TEST_PGBOUNCER_SESSION_DSN"
	transactionPoolerEnv = "TENANTKIT_TEST_PGBOUNCER_TRANSACTION_DSN"
	statementPoolerEnv   = "TENANTKIT_TEST_PGBOUNCER_STATEMENT_DSN"
)

// poolerDSN returns the DSN in env, pointed at a fresh database
// (newDatabase); without one it skips the test, or fails it under CI.
func poolerDSN(t *testing.T, env string) string {
	t.Helper()
	dsn := testenv.Env(t, env)
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	d, err := url.Parse(newDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	u.Path = d.Path
	return u.String()
}

// TestDirectConnection: no pooler on the way, New accepts the DSN with or
// without SessionPooler.
func TestDirectConnection(t *testing.T) {
	s := newStrategy(t, schemastrategy.Config{SessionPooler: true})
	if err := s.Create(t.Context(), "t0"); err != nil {
		t.Fatal(err)
	}
}

// TestTransactionPoolerRefused: PgBouncer in transaction mode and in
// statement mode is refused, also when the configuration claims a session
// pooler.
func TestTransactionPoolerRefused(t *testing.T) {
	for _, mode := range []struct{ name, env string }{
		{"transaction", transactionPoolerEnv},
		{"statement", statementPoolerEnv},
	} {
		t.Run(mode.name, func(t *testing.T) {
			dsn := poolerDSN(t, mode.env)
			for _, session := range []bool{false, true} {
				s, err := schemastrategy.New(t.Context(), schemastrategy.Config{DSN: dsn, SessionPooler: session})
				if err == nil {
					s.Close()
					t.Fatalf("New(SessionPooler: %v) through PgBouncer in %s mode: error = nil, want ErrInvalidConfig", session, mode.name)
				}
				if !errors.Is(err, dbstrategy.ErrInvalidConfig) {
					t.Errorf("New(SessionPooler: %v) through PgBouncer in %s mode: error = %v, want ErrInvalidConfig", session, mode.name, err)
				}
				if session && !strings.Contains(err.Error(), "transaction or statement mode") {
					t.Errorf("New(SessionPooler: true) through PgBouncer in %s mode: error = %v, want it to name the mode", mode.name, err)
				}
				t.Logf("SessionPooler %v: %v", session, err)
			}
		})
	}
}

// TestSessionPooler: PgBouncer in session mode is refused unless
// SessionPooler says so; then leases work through it.
func TestSessionPooler(t *testing.T) {
	dsn := poolerDSN(t, sessionPoolerEnv)
	if s, err := schemastrategy.New(t.Context(), schemastrategy.Config{DSN: dsn}); err == nil {
		s.Close()
		t.Fatal("New through PgBouncer without SessionPooler: error = nil, want ErrInvalidConfig")
	} else if !errors.Is(err, dbstrategy.ErrInvalidConfig) {
		t.Fatalf("New through PgBouncer without SessionPooler: error = %v, want ErrInvalidConfig", err)
	} else {
		t.Log(err)
	}
	s := newStrategy(t, schemastrategy.Config{DSN: dsn, SessionPooler: true})
	m, ids := newFleet(t, s, 2, 3)
	ctx := context.Background()
	for _, id := range ids {
		l, err := m.Acquire(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		got, err := marker(ctx, l.DB())
		l.Release()
		if err != nil || got != id {
			t.Errorf("tenant %s through a session pooler: marker %q, %v", id, got, err)
		}
	}
}
