package auth

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// SQLThrottle is a [Throttle] whose buckets live in a SQL database (SQLite
// or PostgreSQL) that several processes share, such as the replicas of one
// app behind a load balancer: N replicas then allow what one allows, not N
// times as many failures.
//
// It has the methods of Throttle with a context and an error, and the same
// rules: [SQLThrottle.Allow] takes an attempt at once, [SQLThrottle.Fail]
// confirms it, [SQLThrottle.Succeed] gives it back, [SQLThrottle.Reset]
// forgets the key. Each call is one statement, atomic in the database, so
// concurrent attempts on one key from several processes cannot all pass
// Allow before the first fails. A refused Allow costs a second statement
// (the wait until the next attempt). Keys are stored as 16 bytes of
// SHA-256 of the throttle's name and the key; clocks are the processes'
// own (wall clock, Unix nanoseconds), so skew between them shifts a key's
// refill by that much.
//
// Each process also keeps the buckets of its own attempts in memory, a
// [Throttle] with the same options, and asks the database only when that
// one lets the attempt through: what one process alone refuses, the
// database would refuse too, so a flood aimed at one replica is refused
// without a query. (A Reset in one process does not clear another's own
// buckets: a key that failed a burst of times on one replica waits there
// for its refill, whatever happens elsewhere.)
//
// Rows of refilled keys are the same as absent ones; [SQLThrottle.Purge]
// deletes them and should be called now and then (the table of one
// database is shared by every SQLThrottle on it, told apart by name).
//
// What the database does not answer, the caller decides: a login handler
// that cannot reach its throttle should refuse the attempt (503) rather
// than let it through unthrottled.
type SQLThrottle struct {
	local   *Throttle // this process's own attempts
	db      *sql.DB
	name    string
	burst   int64
	every   int64 // nanoseconds to regain one attempt
	now     func() time.Time
	allow   string
	fail    string
	failNew string
	succeed string
}

// sqlThrottleTable is the table every SQLThrottle uses.
const sqlThrottleTable = "tenantkit_throttle"

// NewSQLThrottle returns a throttle named name, whose buckets live in db.
// dialect is "sqlite3" or "postgres" (as goose spells them). It creates
// the table tenantkit_throttle if it does not exist. Throttles with
// different names on one database do not share keys; two processes that
// should share limits use the same name and the same options.
//
// [WithBurst], [WithRefill] and [WithNow] apply as for [NewThrottle];
// [WithMaxKeys] bounds the process's own buckets (the database holds every
// key until [SQLThrottle.Purge]). It
// returns an error wrapping [ErrInvalidConfig] for a nil db, an unknown
// dialect, an empty name or an invalid option, and the database's error,
// wrapped, if the table cannot be created.
func NewSQLThrottle(ctx context.Context, db *sql.DB, dialect, name string, opts ...ThrottleOption) (*SQLThrottle, error) {
	cfg := throttleConfig{burst: 10, every: time.Minute, maxKeys: 1, now: time.Now}
	if err := configure("NewSQLThrottle", opts, func(o ThrottleOption) error { return o.applyThrottle(&cfg) }); err != nil {
		return nil, err
	}
	if db == nil {
		return nil, configErrorf("auth: NewSQLThrottle: nil *sql.DB")
	}
	if name == "" {
		return nil, configErrorf("auth: NewSQLThrottle: empty name")
	}
	var maxFn, minFn, keyType string
	switch dialect {
	case "sqlite3":
		maxFn, minFn, keyType = "MAX", "MIN", "BLOB"
	case "postgres":
		maxFn, minFn, keyType = "GREATEST", "LEAST", "BYTEA"
	default:
		return nil, configErrorf("auth: NewSQLThrottle: dialect %q: must be sqlite3 or postgres", dialect)
	}
	local, err := NewThrottle(opts...)
	if err != nil {
		return nil, err
	}
	t := &SQLThrottle{local: local, db: db, name: name, burst: int64(cfg.burst), every: int64(cfg.every), now: cfg.now}
	// Placeholders are numbered in order of first use: SQLite binds $N
	// by position of first appearance. In allow, fail and failNew: $1 key,
	// $2 now, $3 every, $4 the most debt an attempt may find ((burst-1) ×
	// every; in failNew, the most debt at all, burst × every).
	tbl := sqlThrottleTable
	t.allow = `INSERT INTO ` + tbl + ` AS t (k, full_ns, pending) VALUES ($1, CAST($2 AS BIGINT) + CAST($3 AS BIGINT), 1)
		ON CONFLICT (k) DO UPDATE SET full_ns = ` + maxFn + `(t.full_ns, $2) + $3, pending = CASE WHEN t.full_ns <= $2 THEN 1 ELSE t.pending + 1 END
		WHERE ` + maxFn + `(t.full_ns, $2) - $2 <= CAST($4 AS BIGINT)
		RETURNING full_ns`
	t.fail = `UPDATE ` + tbl + ` SET pending = pending - 1 WHERE k = $1 AND pending > 0 AND full_ns > $2`
	t.failNew = `INSERT INTO ` + tbl + ` AS t (k, full_ns, pending) VALUES ($1, CAST($2 AS BIGINT) + CAST($3 AS BIGINT), 0)
		ON CONFLICT (k) DO UPDATE SET full_ns = CASE WHEN t.full_ns <= $2 THEN $2 + $3 ELSE ` + minFn + `(t.full_ns + $3, $2 + CAST($4 AS BIGINT)) END,
			pending = CASE WHEN t.full_ns <= $2 THEN 0 ELSE t.pending END`
	t.succeed = `UPDATE ` + tbl + ` SET pending = pending - 1, full_ns = full_ns - CAST($1 AS BIGINT) WHERE k = $2 AND pending > 0 AND full_ns > $3`
	_, err = db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS `+tbl+` (
		k       `+keyType+` PRIMARY KEY,
		full_ns BIGINT NOT NULL,
		pending BIGINT NOT NULL DEFAULT 0
	)`)
	if err != nil && !isDuplicateTable(err) {
		return nil, fmt.Errorf("auth: NewSQLThrottle: create table %s: %w", tbl, err)
	}
	return t, nil
}

// isDuplicateTable reports whether err is PostgreSQL's answer to two
// processes creating the table at once (CREATE TABLE IF NOT EXISTS is not
// atomic there): the table exists, which is what was asked.
func isDuplicateTable(err error) bool {
	var sc interface{ SQLState() string }
	return errors.As(err, &sc) && (sc.SQLState() == "42P07" || sc.SQLState() == "23505")
}

// key returns the stored form of key.
func (t *SQLThrottle) key(key string) []byte {
	h := sha256.New()
	h.Write([]byte(t.name))
	h.Write([]byte{0})
	h.Write([]byte(key))
	return h.Sum(nil)[:16]
}

// clock returns the throttle's clock: Unix nanoseconds, shared by
// processes on one database (to the skew of their clocks).
func (t *SQLThrottle) clock() int64 { return t.now().UnixNano() }

// Allow reports whether an attempt for key may go ahead and, if so, counts
// it as a failure until [SQLThrottle.Succeed] gives it back; if not, how
// long until the key regains an attempt. See [Throttle.Allow]. An error
// (the database's, wrapped) leaves ok false.
func (t *SQLThrottle) Allow(ctx context.Context, key string) (ok bool, retryAfter time.Duration, err error) {
	if ok, wait := t.local.Allow(key); !ok {
		return false, wait, nil
	}
	k, now := t.key(key), t.clock()
	var full int64
	err = t.db.QueryRowContext(ctx, t.allow, k, now, t.every, (t.burst-1)*t.every).Scan(&full)
	if err == nil {
		return true, 0, nil
	}
	t.local.Succeed(key) // not taken after all
	if !errors.Is(err, sql.ErrNoRows) {
		return false, 0, fmt.Errorf("auth: throttle %s: allow: %w", t.name, err)
	}
	// Refused: the row exists and is too far in debt.
	if err := t.db.QueryRowContext(ctx, `SELECT full_ns FROM `+sqlThrottleTable+` WHERE k = $1`, k).Scan(&full); err != nil {
		return false, 0, fmt.Errorf("auth: throttle %s: allow: %w", t.name, err)
	}
	wait := full - now - (t.burst-1)*t.every
	return false, time.Duration(max(wait, 1)), nil
}

// Fail records that an attempt for key failed: it confirms the failure
// Allow counted or, without an attempt pending, counts a new one (never
// beyond an empty bucket). See [Throttle.Fail].
func (t *SQLThrottle) Fail(ctx context.Context, key string) error {
	t.local.Fail(key)
	k, now := t.key(key), t.clock()
	res, err := t.db.ExecContext(ctx, t.fail, k, now)
	if err != nil {
		return fmt.Errorf("auth: throttle %s: fail: %w", t.name, err)
	}
	if n, err := res.RowsAffected(); err == nil && n > 0 {
		return nil
	}
	if _, err := t.db.ExecContext(ctx, t.failNew, k, now, t.every, t.burst*t.every); err != nil {
		return fmt.Errorf("auth: throttle %s: fail: %w", t.name, err)
	}
	return nil
}

// Succeed records that an attempt Allow let through succeeded: it no
// longer counts. Without an attempt pending it does nothing. See
// [Throttle.Succeed].
func (t *SQLThrottle) Succeed(ctx context.Context, key string) error {
	t.local.Succeed(key)
	if _, err := t.db.ExecContext(ctx, t.succeed, t.every, t.key(key), t.clock()); err != nil {
		return fmt.Errorf("auth: throttle %s: succeed: %w", t.name, err)
	}
	return nil
}

// Reset forgets every failure of key and its pending attempts. See
// [Throttle.Reset].
func (t *SQLThrottle) Reset(ctx context.Context, key string) error {
	t.local.Reset(key)
	if _, err := t.db.ExecContext(ctx, `DELETE FROM `+sqlThrottleTable+` WHERE k = $1`, t.key(key)); err != nil {
		return fmt.Errorf("auth: throttle %s: reset: %w", t.name, err)
	}
	return nil
}

// Failures returns how many attempts currently count against key. See
// [Throttle.Failures].
func (t *SQLThrottle) Failures(ctx context.Context, key string) (int, error) {
	k, now := t.key(key), t.clock()
	var full int64
	err := t.db.QueryRowContext(ctx, `SELECT full_ns FROM `+sqlThrottleTable+` WHERE k = $1`, k).Scan(&full)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return 0, nil
	case err != nil:
		return 0, fmt.Errorf("auth: throttle %s: failures: %w", t.name, err)
	case full <= now:
		return 0, nil
	}
	return int((full - now + t.every - 1) / t.every), nil
}

// Purge deletes the rows of keys whose bucket refilled before now (they
// are the same as absent keys), for every throttle on the database, and
// returns how many it deleted. Rows another process still counts on are
// kept: only refilled ones go.
func (t *SQLThrottle) Purge(ctx context.Context) (int64, error) {
	res, err := t.db.ExecContext(ctx, `DELETE FROM `+sqlThrottleTable+` WHERE full_ns <= $1`, t.clock())
	if err != nil {
		return 0, fmt.Errorf("auth: throttle %s: purge: %w", t.name, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("auth: throttle %s: purge: %w", t.name, err)
	}
	return n, nil
}
