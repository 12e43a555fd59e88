package registry

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"

	"github.com/tenantkit/tenantkit/tenancy"
)

// The dialects [OpenSQL] accepts: the names goose and dbstrategy use.
const (
	DialectSQLite   = "sqlite3"
	DialectPostgres = "postgres"
)

// VersionTable is the goose version table of the registry's own schema,
// kept apart from the app's.
const VersionTable = "tenantkit_registry_version"

// NotifyChannel is the PostgreSQL channel every change is announced on
// (pg_notify, in the change's transaction) and [SQL.Notify] listens to.
const NotifyChannel = "tenantkit_registry"

// lockID is the PostgreSQL advisory lock that serializes the registry's
// schema migrations across processes ("tkregist").
const lockID = 8388924510759908212

//go:embed migrations
var migrationFiles embed.FS

// SQL is a [Store] in tables of an SQLite or PostgreSQL database, next to
// the app's own tables if it likes: tenantkit_tenants (the records) and
// tenantkit_tenant_changes (the change log), and goose's version table
// [VersionTable]. It is safe for concurrent use, by several processes
// sharing the database. It does not own the *sql.DB it is given: the caller
// closes it (after the Watch using it returns).
//
// Timestamps are stored as microseconds since the Unix epoch. On
// PostgreSQL every change is also announced with pg_notify on
// [NotifyChannel], so [Watch] delivers it to other processes within
// milliseconds; on SQLite, Watch polls.
type SQL struct {
	db      *sql.DB
	dialect string
	cfg     storeConfig
}

// OpenSQL returns a Store on db, whose dialect is [DialectSQLite] or
// [DialectPostgres], after creating or upgrading the registry's tables
// (goose migrations embedded in this package, applied under an advisory
// lock on PostgreSQL). On SQLite, open db with a busy timeout (for example
// _pragma=busy_timeout(10000)) so that writers wait for one another. The
// only option is [WithNow].
//
// Errors: one wrapping [ErrInvalidConfig] for a nil db, an unknown dialect
// or a bad option; else the migration's error, wrapped.
func OpenSQL(ctx context.Context, db *sql.DB, dialect string, opts ...StoreOption) (*SQL, error) {
	if db == nil {
		return nil, configErrorf("OpenSQL: nil *sql.DB")
	}
	if dialect != DialectSQLite && dialect != DialectPostgres {
		return nil, configErrorf("OpenSQL: dialect %q: want %q or %q", dialect, DialectSQLite, DialectPostgres)
	}
	s := &SQL{db: db, dialect: dialect, cfg: storeConfig{now: time.Now}}
	if err := configure("OpenSQL", opts, func(o StoreOption) error { return o.applyStore(&s.cfg) }); err != nil {
		return nil, err
	}
	fsys, err := fs.Sub(migrationFiles, "migrations/"+dialect)
	if err != nil {
		return nil, fmt.Errorf("registry: migrations: %w", err)
	}
	popts := []goose.ProviderOption{
		goose.WithDisableGlobalRegistry(true),
		goose.WithTableName(VersionTable),
		goose.WithSlog(discard()),
	}
	if dialect == DialectPostgres {
		locker, err := lock.NewPostgresSessionLocker(lock.WithLockID(lockID))
		if err != nil {
			return nil, fmt.Errorf("registry: migration lock: %w", err)
		}
		popts = append(popts, goose.WithSessionLocker(locker))
	}
	// Never Close the provider: it would close db, which is the caller's.
	p, err := goose.NewProvider(goose.Dialect(dialect), db, fsys, popts...)
	if err != nil {
		return nil, fmt.Errorf("registry: migrations: %w", err)
	}
	if _, err := p.Up(ctx); err != nil {
		return nil, fmt.Errorf("registry: migrate the registry tables: %w", err)
	}
	return s, nil
}

const recordColumns = `id, slug, status, server, version, migration_error, created_us, updated_us, move_from, move_to, move_phase, move_until_us`

type scanner interface{ Scan(dest ...any) error }

func scanRecord(row scanner) (Record, error) {
	var rec Record
	var slug sql.NullString
	var status string
	var created, updated, until int64
	var phase string
	if err := row.Scan(&rec.ID, &slug, &status, &rec.Server, &rec.Version, &rec.MigrationError, &created, &updated,
		&rec.Move.From, &rec.Move.To, &phase, &until); err != nil {
		return Record{}, err
	}
	rec.Slug, rec.Status = slug.String, tenancy.Status(status)
	rec.Move.Phase, rec.Move.Until = MovePhase(phase), untilTime(until)
	rec.CreatedAt, rec.UpdatedAt = time.UnixMicro(created).UTC(), time.UnixMicro(updated).UTC()
	return rec, nil
}

func nullSlug(slug string) sql.NullString { return sql.NullString{String: slug, Valid: slug != ""} }

// Insert implements [Store.Insert] in a transaction of its own.
func (s *SQL) Insert(ctx context.Context, rec Record) (Record, error) {
	if err := checkRecord(rec); err != nil {
		return Record{}, err
	}
	var out Record
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		var err error
		out, err = s.InsertTx(ctx, tx, rec)
		return err
	})
	return out, err
}

// InsertTx is [SQL.Insert] in the caller's transaction tx, which must be
// on the same database: an app inserts its own row for the tenant (an
// organization with its owner, after a quota check, with an idempotency
// key) and the registry's record in one transaction, and commits or rolls
// back both. The change is logged (and, on PostgreSQL, announced) when tx
// commits. A taken ID or slug does not abort tx (ON CONFLICT DO NOTHING):
// InsertTx returns an error wrapping [ErrExists] and tx can go on.
func (s *SQL) InsertTx(ctx context.Context, tx *sql.Tx, rec Record) (Record, error) {
	if err := checkRecord(rec); err != nil {
		return Record{}, err
	}
	if tx == nil {
		return Record{}, fmt.Errorf("registry: insert tenant %q: nil *sql.Tx", rec.ID)
	}
	rec.CreatedAt = s.cfg.stamp()
	rec.UpdatedAt = rec.CreatedAt
	var id string
	err := tx.QueryRowContext(ctx,
		`INSERT INTO tenantkit_tenants (id, slug, status, server, version, migration_error, created_us, updated_us)
		 VALUES ($1, $2, $3, $4, $5, $6, $7, $7)
		 ON CONFLICT DO NOTHING RETURNING id`,
		rec.ID, nullSlug(rec.Slug), string(rec.Status), rec.Server, rec.Version, rec.MigrationError,
		rec.CreatedAt.UnixMicro()).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return Record{}, exists(rec.ID, rec.Slug)
	}
	if err == nil {
		err = s.logChange(ctx, tx, rec, rec.Status, rec.CreatedAt)
	}
	if err != nil {
		return Record{}, fmt.Errorf("registry: insert tenant %q: %w", rec.ID, err)
	}
	return rec, nil
}

// logChange appends a change of rec, now in status, to the log in tx
// and, on PostgreSQL, announces it at commit.
func (s *SQL) logChange(ctx context.Context, tx *sql.Tx, rec Record, status tenancy.Status, at time.Time) error {
	var seq int64
	err := tx.QueryRowContext(ctx,
		`INSERT INTO tenantkit_tenant_changes (tenant_id, slug, status, server, changed_us) VALUES ($1, $2, $3, $4, $5) RETURNING seq`,
		rec.ID, rec.Slug, string(status), rec.Server, at.UnixMicro()).Scan(&seq)
	if err != nil {
		return fmt.Errorf("log change: %w", err)
	}
	if s.dialect == DialectPostgres {
		if _, err := tx.ExecContext(ctx, `SELECT pg_notify($1, $2)`, NotifyChannel, strconv.FormatInt(seq, 10)); err != nil {
			return fmt.Errorf("notify change: %w", err)
		}
	}
	return nil
}

// inTx runs fn in a transaction and commits it if fn returns nil.
func (s *SQL) inTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("registry: begin: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit
	if err := fn(tx); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("registry: commit: %w", err)
	}
	return nil
}

// Get implements [Store.Get].
func (s *SQL) Get(ctx context.Context, id string) (Record, error) {
	rec, err := scanRecord(s.db.QueryRowContext(ctx, `SELECT `+recordColumns+` FROM tenantkit_tenants WHERE id = $1`, id))
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return Record{}, notFound(id)
	case err != nil:
		return Record{}, fmt.Errorf("registry: get tenant %q: %w", id, err)
	}
	return rec, nil
}

// BySlug implements [Store.BySlug].
func (s *SQL) BySlug(ctx context.Context, slug string) (Record, error) {
	rec, err := scanRecord(s.db.QueryRowContext(ctx, `SELECT `+recordColumns+` FROM tenantkit_tenants WHERE slug = $1`, slug))
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return Record{}, fmt.Errorf("%w: slug %q", ErrNotFound, slug)
	case err != nil:
		return Record{}, fmt.Errorf("registry: tenant with slug %q: %w", slug, err)
	}
	return rec, nil
}

// List implements [Store.List].
func (s *SQL) List(ctx context.Context, f Filter) ([]Record, error) {
	var q strings.Builder
	args := []any{f.After}
	q.WriteString(`SELECT ` + recordColumns + ` FROM tenantkit_tenants WHERE id > $1`)
	if len(f.Status) > 0 {
		q.WriteString(` AND status IN (`)
		for i, st := range f.Status {
			if i > 0 {
				q.WriteString(", ")
			}
			args = append(args, string(st))
			q.WriteString("$" + strconv.Itoa(len(args)))
		}
		q.WriteString(`)`)
	}
	if f.Moving {
		q.WriteString(` AND move_phase <> ''`)
	}
	q.WriteString(` ORDER BY id`)
	if f.Limit > 0 {
		args = append(args, f.Limit)
		q.WriteString(` LIMIT $` + strconv.Itoa(len(args)))
	}
	rows, err := s.db.QueryContext(ctx, q.String(), args...)
	if err != nil {
		return nil, fmt.Errorf("registry: list tenants: %w", err)
	}
	defer rows.Close()
	var out []Record
	for rows.Next() {
		rec, err := scanRecord(rows)
		if err != nil {
			return nil, fmt.Errorf("registry: list tenants: %w", err)
		}
		out = append(out, rec)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("registry: list tenants: %w", err)
	}
	return out, nil
}

// SetStatus implements [Store.SetStatus].
func (s *SQL) SetStatus(ctx context.Context, id string, from, to tenancy.Status) (Record, error) {
	if to == "" || to == StatusDeleted {
		return Record{}, fmt.Errorf("%w: tenant %q: status %q", ErrInvalidRecord, id, to)
	}
	var rec Record
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		var err error
		rec, err = scanRecord(tx.QueryRowContext(ctx,
			`UPDATE tenantkit_tenants SET status = $1, updated_us = $2 WHERE id = $3 AND status = $4 RETURNING `+recordColumns,
			string(to), s.cfg.stamp().UnixMicro(), id, string(from)))
		if errors.Is(err, sql.ErrNoRows) {
			var cur string
			err = tx.QueryRowContext(ctx, `SELECT status FROM tenantkit_tenants WHERE id = $1`, id).Scan(&cur)
			switch {
			case errors.Is(err, sql.ErrNoRows):
				return notFound(id)
			case err == nil:
				return &StatusError{ID: id, Status: tenancy.Status(cur), Want: from}
			}
		}
		if err == nil {
			err = s.logChange(ctx, tx, rec, to, rec.UpdatedAt)
		}
		if err != nil {
			return fmt.Errorf("registry: set status of tenant %q: %w", id, err)
		}
		return nil
	})
	if err != nil {
		return Record{}, err
	}
	return rec, nil
}

// SetMove implements [Store.SetMove].
func (s *SQL) SetMove(ctx context.Context, id string, old, move Move) (Record, error) {
	if err := checkMove(id, old, move); err != nil {
		return Record{}, err
	}
	q := `UPDATE tenantkit_tenants SET move_from = $1, move_to = $2, move_phase = $3, move_until_us = $4
		WHERE id = $5 AND move_from = $6 AND move_to = $7 AND move_phase = $8 AND move_until_us = $9`
	switch move.Phase {
	case MoveCopying, MoveAborting:
		q += ` AND server = $1`
	case MoveSwitched:
		q += ` AND server = $2`
	}
	return s.changeMove(ctx, "set the move of", id, old, q+` RETURNING `+recordColumns,
		move.From, move.To, string(move.Phase), untilMicros(move.Until),
		id, old.From, old.To, string(old.Phase), untilMicros(old.Until))
}

// SwitchServer implements [Store.SwitchServer].
func (s *SQL) SwitchServer(ctx context.Context, id string, move Move) (Record, error) {
	if move.Phase != MoveCopying {
		return Record{}, fmt.Errorf("%w: tenant %q: switch with a move in phase %q", ErrMoveConflict, id, move.Phase)
	}
	return s.changeMove(ctx, "switch the server of", id, move,
		`UPDATE tenantkit_tenants SET server = $1, move_phase = $2
		WHERE id = $3 AND server = $4 AND move_from = $4 AND move_to = $1 AND move_phase = $5 AND move_until_us = $6
		RETURNING `+recordColumns,
		move.To, string(MoveSwitched), id, move.From, string(move.Phase), untilMicros(move.Until))
}

// changeMove runs update, a compare-and-set UPDATE ... RETURNING the
// record, and logs the change; no row updated is a conflict with want
// (or ErrNotFound).
func (s *SQL) changeMove(ctx context.Context, op, id string, want Move, update string, args ...any) (Record, error) {
	var rec Record
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		var err error
		rec, err = scanRecord(tx.QueryRowContext(ctx, update, args...))
		if errors.Is(err, sql.ErrNoRows) {
			cur, err := scanRecord(tx.QueryRowContext(ctx, `SELECT `+recordColumns+` FROM tenantkit_tenants WHERE id = $1`, id))
			switch {
			case errors.Is(err, sql.ErrNoRows):
				return notFound(id)
			case err == nil:
				return moveConflict(id, cur, want)
			}
			return fmt.Errorf("registry: %s tenant %q: %w", op, id, err)
		}
		if err == nil {
			err = s.logChange(ctx, tx, rec, rec.Status, s.cfg.stamp())
		}
		if err != nil {
			return fmt.Errorf("registry: %s tenant %q: %w", op, id, err)
		}
		return nil
	})
	if err != nil {
		return Record{}, err
	}
	return rec, nil
}

// RecordMigration implements [Store.RecordMigration].
func (s *SQL) RecordMigration(ctx context.Context, id string, version int64, failure string) error {
	var res sql.Result
	var err error
	if failure == "" {
		res, err = s.db.ExecContext(ctx, `UPDATE tenantkit_tenants SET version = $1, migration_error = '' WHERE id = $2`, version, id)
	} else {
		res, err = s.db.ExecContext(ctx, `UPDATE tenantkit_tenants SET migration_error = $1 WHERE id = $2`, failure, id)
	}
	var n int64
	if err == nil {
		n, err = res.RowsAffected()
	}
	switch {
	case err != nil:
		return fmt.Errorf("registry: record migration of tenant %q: %w", id, err)
	case n == 0:
		return notFound(id)
	}
	return nil
}

// Delete implements [Store.Delete].
func (s *SQL) Delete(ctx context.Context, id string) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		rec, err := scanRecord(tx.QueryRowContext(ctx, `DELETE FROM tenantkit_tenants WHERE id = $1 RETURNING `+recordColumns, id))
		if errors.Is(err, sql.ErrNoRows) {
			return nil // already gone
		}
		if err == nil {
			err = s.logChange(ctx, tx, rec, StatusDeleted, s.cfg.stamp())
		}
		if err != nil {
			return fmt.Errorf("registry: delete tenant %q: %w", id, err)
		}
		return nil
	})
}

// Changes implements [Store.Changes].
func (s *SQL) Changes(ctx context.Context, after int64, limit int) ([]Change, error) {
	q := `SELECT seq, tenant_id, slug, status, server, changed_us FROM tenantkit_tenant_changes WHERE seq > $1 ORDER BY seq`
	args := []any{after}
	if limit > 0 {
		q += ` LIMIT $2`
		args = append(args, limit)
	}
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("registry: changes: %w", err)
	}
	defer rows.Close()
	var out []Change
	for rows.Next() {
		var c Change
		var status string
		var at int64
		if err := rows.Scan(&c.Seq, &c.ID, &c.Slug, &status, &c.Server, &at); err != nil {
			return nil, fmt.Errorf("registry: changes: %w", err)
		}
		c.Status, c.At = tenancy.Status(status), time.UnixMicro(at).UTC()
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("registry: changes: %w", err)
	}
	return out, nil
}

// Head implements [Store.Head].
func (s *SQL) Head(ctx context.Context) (int64, error) {
	var seq int64
	if err := s.db.QueryRowContext(ctx, `SELECT COALESCE(MAX(seq), 0) FROM tenantkit_tenant_changes`).Scan(&seq); err != nil {
		return 0, fmt.Errorf("registry: head of the change log: %w", err)
	}
	return seq, nil
}

// TrimChanges implements [Store.TrimChanges].
func (s *SQL) TrimChanges(ctx context.Context, before time.Time) (int64, error) {
	res, err := s.db.ExecContext(ctx, `DELETE FROM tenantkit_tenant_changes WHERE changed_us < $1`, before.UnixMicro())
	var n int64
	if err == nil {
		n, err = res.RowsAffected()
	}
	if err != nil {
		return 0, fmt.Errorf("registry: trim the change log: %w", err)
	}
	return n, nil
}

// Notify implements [Notifier]. On PostgreSQL it takes one connection of
// the *sql.DB out of its pool, LISTENs on [NotifyChannel] there and calls
// wake for each notification, until ctx is done or the connection fails;
// the connection is then closed, not returned to the pool. On SQLite it
// returns an error wrapping errors.ErrUnsupported at once.
func (s *SQL) Notify(ctx context.Context, wake func()) error {
	if s.dialect != DialectPostgres {
		return fmt.Errorf("registry: notify on %s: %w", s.dialect, errors.ErrUnsupported)
	}
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("registry: notify: %w", err)
	}
	defer conn.Close()
	var listenErr error
	_ = conn.Raw(func(dc any) error {
		pc, ok := dc.(interface{ Conn() *pgx.Conn })
		if !ok {
			listenErr = fmt.Errorf("registry: notify: driver connection %T is not pgx's: %w", dc, errors.ErrUnsupported)
			return nil
		}
		c := pc.Conn()
		if _, err := c.Exec(ctx, `LISTEN `+NotifyChannel); err != nil {
			listenErr = fmt.Errorf("registry: listen: %w", err)
		} else {
			wake()
			for {
				if _, err := c.WaitForNotification(ctx); err != nil {
					listenErr = fmt.Errorf("registry: wait for notification: %w", err)
					break
				}
				wake()
			}
		}
		// The connection listens (or is broken): never hand it back to
		// the pool.
		return driver.ErrBadConn
	})
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return listenErr
}
