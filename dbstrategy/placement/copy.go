package placement

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/tenantkit/tenantkit/dbstrategy"
)

// VersionTable is the name of goose's version table, which [Copy] does
// not copy: the destination keeps the one its own migrations wrote, and
// Copy checks that both sides are at the same version.
const VersionTable = "goose_db_version"

// Table is one table of a tenant, as [Copy] and [Verify] saw it on both
// servers.
type Table struct {
	// Name is the table's name within the tenant: schema.table for a
	// tenant in a database of its own, table for one in a schema of its
	// own (whose schema's name differs from server to server).
	Name string
	// Binary reports that [Copy] moved the rows in COPY's binary format.
	// It uses the text format for a table with a column of a type whose
	// binary form names an object ID that differs between databases
	// (arrays of user-defined types, composite types).
	Binary bool
	Source Summary
	Dest   Summary
}

// Summary is a table's row count and checksum on one server.
//
// The checksum is the sum, in decimal, of a 64-bit hash of each row's text
// form (hashtextextended(ROW(columns)::text, 0)), computed by the server in
// SQL with the settings that shape the text of values (DateStyle,
// IntervalStyle, TimeZone, extra_float_digits, bytea_output) fixed. It
// needs no primary key and no sort, does not depend on the rows' order,
// and, being a sum rather than an XOR, does not cancel out duplicate rows.
// It detects lost, extra and changed rows (a changed row goes unnoticed
// with a chance of 2^-64), not a change crafted to collide: it is not a
// cryptographic digest. On 100,000 rows it costs about 90 ms a server,
// where the md5 of the rows' sorted md5s cost about 530 ms.
type Summary struct {
	Rows     int64
	Checksum string
}

// Match reports whether the table has the same rows on both servers.
func (t Table) Match() bool { return t.Source == t.Dest }

// Report tells what [Copy] or [Verify] did.
type Report struct {
	Tables    []Table // sorted by Name
	Sequences int     // sequences whose state Copy set on the destination
	// Version is the goose version both sides are at; -1 if the tenant
	// has no goose version table.
	Version int64
	// Replica reports that Copy wrote with session_replication_role =
	// replica, so that the destination's triggers and foreign key checks
	// did not fire; it needs a superuser (or, on PostgreSQL 15, the SET
	// privilege on the parameter). Without it, Copy fills the tables
	// parents first, and the destination's triggers fire.
	Replica bool
	Copy    time.Duration // time spent copying, zero for Verify
	Verify  time.Duration // time spent computing and comparing the checksums
}

// Rows returns the rows of all the tables on the source.
func (r *Report) Rows() int64 {
	var n int64
	for _, t := range r.Tables {
		n += t.Source.Rows
	}
	return n
}

// CopyOption configures [Copy].
type CopyOption interface {
	applyCopy(*copyConfig) error
}

type copyOptionFunc func(*copyConfig) error

func (f copyOptionFunc) applyCopy(c *copyConfig) error { return f(c) }

type copyConfig struct {
	progress func(Table)
}

// WithProgress makes [Copy] call fn after each table is copied, with the
// table's name, format and the rows copied (in Source.Rows; the checksums
// come later), from the goroutine that called Copy. Default: none.
func WithProgress(fn func(Table)) CopyOption {
	return copyOptionFunc(func(c *copyConfig) error {
		if fn == nil {
			return fmt.Errorf("%w: WithProgress(nil)", dbstrategy.ErrInvalidConfig)
		}
		c.progress = fn
		return nil
	})
}

// Copy copies the tenant's data from src to dst, two strategies of the
// same kind (each a database per tenant, or each a schema per tenant),
// typically two servers of a [Router] ([Router.Server]), and checks the
// copy.
//
// The tenant must exist on both, migrated to the same version: create and
// migrate it on dst first, with a [dbstrategy.Manager] over dst. Copy
// checks that both have the same tables, with the same columns and types,
// the same sequences, and the same version in goose's version table
// ([VersionTable]), which it does not copy; it fails with an error
// wrapping [ErrSchemaMismatch] otherwise. Materialized views are refused
// (errors.ErrUnsupported).
//
// Copy reads the source in one REPEATABLE READ READ ONLY transaction, so
// that it copies one consistent state while the tenant goes on being read
// and written, and writes the destination in one transaction: it empties
// every table (TRUNCATE), streams each table from COPY ... TO STDOUT on the
// source into COPY ... FROM STDIN on the destination (binary where the
// types allow it, see [Table]), sets each sequence (identity columns'
// too) to the source's state, then computes every table's row count and
// checksum on both servers at once and compares them, and commits only if
// they match; otherwise it returns a *[MismatchError]. So Copy can be run
// again and again, and a Copy interrupted (its context ended, a server
// lost) leaves the destination as it was; running it again converges.
//
// Sequences are read outside the snapshot: a sequence the source advances
// during the copy is set ahead of the rows copied, never behind.
//
// A move copies a tenant twice: once while it is served, to find problems
// and warm the caches, then again after [Pause], for the final state;
// writes wait only for the second copy. Copy does not replicate changes:
// logical replication would copy only the changes after a first copy, but
// it needs wal_level = logical, which is not PostgreSQL's default and
// needs a restart to set, a publication and a replication slot per
// tenant, and a role with REPLICATION; COPY needs nothing but the
// strategies' own connections, and the final copy of a tenant of 100,000
// rows takes well under a second (see the package documentation).
//
// Copy takes one connection on each server through the strategies (as a
// lease does), for its whole run, counted in the servers' connection
// budgets.
func Copy(ctx context.Context, src, dst dbstrategy.Strategy, tenantID string, opts ...CopyOption) (*Report, error) {
	var cfg copyConfig
	for i, o := range opts {
		if o == nil {
			return nil, fmt.Errorf("%w: placement.Copy: option %d is nil", dbstrategy.ErrInvalidConfig, i+1)
		}
		if err := o.applyCopy(&cfg); err != nil {
			return nil, err
		}
	}
	return run(ctx, src, dst, tenantID, &cfg)
}

// Verify compares the tenant's tables on src and dst, as [Copy] does after
// copying, each in a REPEATABLE READ READ ONLY snapshot, and returns a
// *[MismatchError] for the tables whose row count or checksum differ. The
// two snapshots are taken at about the same time, not at once: verify a
// tenant while it is paused ([Pause]), or not written to.
func Verify(ctx context.Context, src, dst dbstrategy.Strategy, tenantID string) (*Report, error) {
	return run(ctx, src, dst, tenantID, nil)
}

// run is Copy, with cfg, or Verify, without.
func run(ctx context.Context, src, dst dbstrategy.Strategy, tenantID string, cfg *copyConfig) (*Report, error) {
	op := "verify"
	if cfg != nil {
		op = "copy"
	}
	if err := dbstrategy.ValidateKey(tenantID); err != nil {
		return nil, err
	}
	if src == nil || dst == nil {
		return nil, fmt.Errorf("%w: placement.%s: nil strategy", dbstrategy.ErrInvalidConfig, op)
	}
	p := pinned(src)
	if p != pinned(dst) {
		return nil, fmt.Errorf("placement: %s tenant %q: one strategy keeps tenants in schemas, the other in databases: %w", op, tenantID, ErrSchemaMismatch)
	}
	var rep *Report
	err := withConn(ctx, src, tenantID, func(sc *pgx.Conn) error {
		return withConn(ctx, dst, tenantID, func(dc *pgx.Conn) error {
			var err error
			rep, err = copyTenant(ctx, cfg, tenantID, p, sc, dc)
			return err
		})
	})
	var mismatch *MismatchError
	if err != nil && !errors.As(err, &mismatch) {
		err = fmt.Errorf("placement: %s tenant %q: %w", op, tenantID, err)
	}
	return rep, err
}

// settingsSQL fixes the settings that shape the text form of values, in
// the transaction, for the text format of COPY and for the checksums.
const settingsSQL = `SET LOCAL DateStyle = 'ISO, MDY'; SET LOCAL IntervalStyle = 'postgres'; SET LOCAL TimeZone = 'UTC';
SET LOCAL extra_float_digits = 1; SET LOCAL bytea_output = 'hex'`

// relation is a table or sequence of the tenant on one server.
type relation struct {
	key   string // the name within the tenant: see Table.Name
	ident string // quoted, qualified
	oid   uint32
	kind  byte // pg_class.relkind
	cols  []column
}

type column struct {
	name, typ string
	binary    bool // the type's binary form holds no object ID of the database
}

// catalog is what copyTenant needs of one side.
type catalog struct {
	version   int64
	tables    map[string]*relation // relkind r, by key
	sequences map[string]*relation
}

// readCatalog lists the tenant's tables (but goose's), with their columns,
// and sequences, on c.
func readCatalog(ctx context.Context, c *pgx.Conn, pinned bool) (*catalog, error) {
	cat := &catalog{version: -1, tables: make(map[string]*relation), sequences: make(map[string]*relation)}
	var goose *uint32
	if err := c.QueryRow(ctx, "SELECT pg_catalog.to_regclass($1)::pg_catalog.oid", VersionTable).Scan(&goose); err != nil {
		return nil, fmt.Errorf("look for %s: %w", VersionTable, err)
	}
	if goose != nil {
		if err := c.QueryRow(ctx, "SELECT coalesce(max(version_id), 0) FROM "+VersionTable+" WHERE is_applied").Scan(&cat.version); err != nil {
			return nil, fmt.Errorf("read %s: %w", VersionTable, err)
		}
	}
	// goose's table, and its id sequence, are not the tenant's data.
	skip := make(map[uint32]bool)
	if goose != nil {
		skip[*goose] = true
		rows, err := c.Query(ctx, `SELECT objid FROM pg_catalog.pg_depend
WHERE classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass AND refobjid OPERATOR(pg_catalog.=) $1 AND deptype IN ('a', 'i')`, *goose)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", VersionTable, err)
		}
		owned, err := pgx.CollectRows(rows, pgx.RowTo[uint32])
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", VersionTable, err)
		}
		for _, oid := range owned {
			skip[oid] = true
		}
	}
	rows, err := c.Query(ctx, `SELECT c.oid, n.nspname, c.relname, c.relkind::text
FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace
WHERE c.relkind IN ('r', 'm', 'S') AND `+scopeFilter(pinned)+` AND `+notExtension+`
ORDER BY n.nspname, c.relname`)
	if err != nil {
		return nil, fmt.Errorf("list tables: %w", err)
	}
	var byOID []uint32
	tables := make(map[uint32]*relation)
	for rows.Next() {
		var (
			r            relation
			schema, name string
			kind         string
		)
		if err := rows.Scan(&r.oid, &schema, &name, &kind); err != nil {
			rows.Close()
			return nil, fmt.Errorf("list tables: %w", err)
		}
		if skip[r.oid] {
			continue
		}
		r.kind = kind[0]
		r.ident = quoteIdent(schema, name)
		r.key = schema + "." + name
		if pinned {
			r.key = name
		}
		switch r.kind {
		case 'm':
			rows.Close()
			return nil, fmt.Errorf("materialized view %s: %w", r.key, errors.ErrUnsupported)
		case 'S':
			cat.sequences[r.key] = &r
		default:
			cat.tables[r.key] = &r
			tables[r.oid] = &r
			byOID = append(byOID, r.oid)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list tables: %w", err)
	}
	if len(byOID) == 0 {
		return cat, nil
	}
	// FirstNormalObjectId (16384): types below it are built in, with the
	// same OID everywhere. Enums send their label.
	rows, err = c.Query(ctx, `SELECT a.attrelid, a.attname, pg_catalog.format_type(a.atttypid, a.atttypmod),
	b.oid OPERATOR(pg_catalog.<) 16384 OR b.typtype OPERATOR(pg_catalog.=) 'e'
FROM pg_catalog.pg_attribute a
JOIN pg_catalog.pg_type t ON t.oid OPERATOR(pg_catalog.=) a.atttypid
JOIN pg_catalog.pg_type b ON b.oid OPERATOR(pg_catalog.=) CASE WHEN t.typtype OPERATOR(pg_catalog.=) 'd' THEN t.typbasetype ELSE t.oid END
WHERE a.attrelid OPERATOR(pg_catalog.=) ANY($1) AND a.attnum OPERATOR(pg_catalog.>) 0 AND NOT a.attisdropped AND a.attgenerated OPERATOR(pg_catalog.=) ''
ORDER BY a.attrelid, a.attnum`, byOID)
	if err != nil {
		return nil, fmt.Errorf("list columns: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			rel uint32
			col column
		)
		if err := rows.Scan(&rel, &col.name, &col.typ, &col.binary); err != nil {
			return nil, fmt.Errorf("list columns: %w", err)
		}
		if r := tables[rel]; r != nil {
			r.cols = append(r.cols, col)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list columns: %w", err)
	}
	return cat, nil
}

// pair is one table on both sides.
type pair struct {
	src, dst *relation
	binary   bool
	cols     string // quoted column list, in the source's order
}

// match checks that the two catalogs hold the same tenant schema, and
// returns the tables paired, sorted by key.
func match(s, d *catalog) ([]*pair, error) {
	if s.version != d.version {
		return nil, fmt.Errorf("%w: migration version %d on the source, %d on the destination: migrate the destination first", ErrSchemaMismatch, s.version, d.version)
	}
	for _, k := range slices.Sorted(maps.Keys(s.sequences)) {
		if d.sequences[k] == nil {
			return nil, fmt.Errorf("%w: sequence %s missing on the destination", ErrSchemaMismatch, k)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(d.tables)) {
		if s.tables[k] == nil {
			return nil, fmt.Errorf("%w: table %s on the destination only", ErrSchemaMismatch, k)
		}
	}
	var pairs []*pair
	for _, k := range slices.Sorted(maps.Keys(s.tables)) {
		st, dt := s.tables[k], d.tables[k]
		if dt == nil {
			return nil, fmt.Errorf("%w: table %s missing on the destination", ErrSchemaMismatch, k)
		}
		if len(st.cols) != len(dt.cols) {
			return nil, fmt.Errorf("%w: table %s has %d columns on the source, %d on the destination", ErrSchemaMismatch, k, len(st.cols), len(dt.cols))
		}
		dcols := make(map[string]column, len(dt.cols))
		for _, c := range dt.cols {
			dcols[c.name] = c
		}
		p := &pair{src: st, dst: dt, binary: true}
		names := make([]string, len(st.cols))
		for i, c := range st.cols {
			dc, ok := dcols[c.name]
			if !ok || dc.typ != c.typ {
				return nil, fmt.Errorf("%w: table %s: column %s %s on the source, %s on the destination", ErrSchemaMismatch, k, c.name, c.typ, describe(dc, ok))
			}
			p.binary = p.binary && c.binary && dc.binary
			names[i] = quoteIdent(c.name)
		}
		p.cols = strings.Join(names, ", ")
		pairs = append(pairs, p)
	}
	return pairs, nil
}

func describe(c column, ok bool) string {
	if !ok {
		return "missing"
	}
	return c.typ
}

// copyTenant copies (cfg != nil) or verifies (cfg == nil) the tenant from
// sc to dc.
func copyTenant(ctx context.Context, cfg *copyConfig, tenantID string, pinned bool, sc, dc *pgx.Conn) (*Report, error) {
	started := time.Now()
	rep := &Report{}
	stx, err := sc.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return nil, fmt.Errorf("source: begin: %w", err)
	}
	defer rollback(ctx, stx)
	dtxOpts := pgx.TxOptions{}
	if cfg == nil {
		dtxOpts = pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}
	}
	dtx, err := dc.BeginTx(ctx, dtxOpts)
	if err != nil {
		return nil, fmt.Errorf("destination: begin: %w", err)
	}
	defer rollback(ctx, dtx)
	if err := execAll(ctx, sc, settingsSQL); err != nil {
		return nil, fmt.Errorf("source: %w", err)
	}
	if err := execAll(ctx, dc, settingsSQL); err != nil {
		return nil, fmt.Errorf("destination: %w", err)
	}
	scat, err := readCatalog(ctx, sc, pinned)
	if err != nil {
		return nil, fmt.Errorf("source: %w", err)
	}
	dcat, err := readCatalog(ctx, dc, pinned)
	if err != nil {
		return nil, fmt.Errorf("destination: %w", err)
	}
	pairs, err := match(scat, dcat)
	if err != nil {
		return nil, err
	}
	rep.Version = scat.version
	rep.Tables = make([]Table, len(pairs))
	for i, p := range pairs {
		rep.Tables[i] = Table{Name: p.src.key, Binary: p.binary}
	}

	if cfg != nil {
		if rep.Replica, err = replicaRole(ctx, dtx); err != nil {
			return nil, fmt.Errorf("destination: %w", err)
		}
		order := pairs
		if !rep.Replica {
			if order, err = parentsFirst(ctx, dc, pairs); err != nil {
				return nil, fmt.Errorf("destination: %w", err)
			}
		}
		if len(pairs) > 0 {
			idents := make([]string, len(pairs))
			for i, p := range pairs {
				idents[i] = p.dst.ident
			}
			if _, err := dc.Exec(ctx, "TRUNCATE "+strings.Join(idents, ", ")); err != nil {
				return nil, fmt.Errorf("destination: empty the tables: %w", err)
			}
		}
		for _, p := range order {
			n, err := copyTable(ctx, sc.PgConn(), dc.PgConn(), p)
			if err != nil {
				return nil, fmt.Errorf("table %s: %w", p.src.key, err)
			}
			if cfg.progress != nil {
				cfg.progress(Table{Name: p.src.key, Binary: p.binary, Source: Summary{Rows: n}})
			}
		}
		for _, k := range slices.Sorted(maps.Keys(scat.sequences)) {
			if err := copySequence(ctx, sc, dc, scat.sequences[k], dcat.sequences[k]); err != nil {
				return nil, fmt.Errorf("sequence %s: %w", k, err)
			}
			rep.Sequences++
		}
		rep.Copy = time.Since(started)
	}

	verifyStarted := time.Now()
	var (
		wg         sync.WaitGroup
		sErr, dErr error
		ssum, dsum []Summary
	)
	wg.Go(func() { ssum, sErr = checksums(ctx, sc, pairs, func(p *pair) *relation { return p.src }) }) // exits when the source's queries return
	dsum, dErr = checksums(ctx, dc, pairs, func(p *pair) *relation { return p.dst })
	wg.Wait()
	if sErr != nil {
		return nil, fmt.Errorf("source: %w", sErr)
	}
	if dErr != nil {
		return nil, fmt.Errorf("destination: %w", dErr)
	}
	var differ []Table
	for i := range rep.Tables {
		rep.Tables[i].Source, rep.Tables[i].Dest = ssum[i], dsum[i]
		if !rep.Tables[i].Match() {
			differ = append(differ, rep.Tables[i])
		}
	}
	rep.Verify = time.Since(verifyStarted)
	if len(differ) > 0 {
		return rep, &MismatchError{TenantID: tenantID, Tables: differ}
	}
	if cfg != nil {
		if err := dtx.Commit(ctx); err != nil {
			return nil, fmt.Errorf("destination: commit: %w", err)
		}
	}
	return rep, nil
}

// codeInsufficientPrivilege is the SQLSTATE of a setting the role may not
// change.
const codeInsufficientPrivilege = "42501"

// replicaRole sets session_replication_role to replica for the rest of tx
// if the role may, and reports whether it did.
func replicaRole(ctx context.Context, tx pgx.Tx) (bool, error) {
	sp, err := tx.Begin(ctx)
	if err != nil {
		return false, err
	}
	if _, err := sp.Exec(ctx, "SET LOCAL session_replication_role = replica"); err != nil {
		if rerr := sp.Rollback(ctx); rerr != nil {
			return false, rerr
		}
		if hasCode(err, codeInsufficientPrivilege) {
			return false, nil
		}
		return false, err
	}
	return true, sp.Commit(ctx)
}

// parentsFirst orders pairs so that a table comes after the tables its
// foreign keys reference, as the destination's catalog says; a table that
// references itself is fine (foreign keys are checked at the end of each
// COPY). It fails on a cycle between tables.
func parentsFirst(ctx context.Context, dc *pgx.Conn, pairs []*pair) ([]*pair, error) {
	byOID := make(map[uint32]*pair, len(pairs))
	oids := make([]uint32, len(pairs))
	for i, p := range pairs {
		byOID[p.dst.oid] = p
		oids[i] = p.dst.oid
	}
	rows, err := dc.Query(ctx, `SELECT conrelid, confrelid FROM pg_catalog.pg_constraint
WHERE contype OPERATOR(pg_catalog.=) 'f' AND conrelid OPERATOR(pg_catalog.=) ANY($1) AND confrelid OPERATOR(pg_catalog.=) ANY($1)
	AND conrelid OPERATOR(pg_catalog.<>) confrelid`, oids)
	if err != nil {
		return nil, fmt.Errorf("list foreign keys: %w", err)
	}
	parents := make(map[*pair]map[*pair]bool)
	for rows.Next() {
		var child, parent uint32
		if err := rows.Scan(&child, &parent); err != nil {
			rows.Close()
			return nil, fmt.Errorf("list foreign keys: %w", err)
		}
		c := byOID[child]
		if parents[c] == nil {
			parents[c] = make(map[*pair]bool)
		}
		parents[c][byOID[parent]] = true
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list foreign keys: %w", err)
	}
	order := make([]*pair, 0, len(pairs))
	done := make(map[*pair]bool, len(pairs))
	for len(order) < len(pairs) {
		progressed := false
		for _, p := range pairs { // sorted: the order is deterministic
			if done[p] {
				continue
			}
			ready := true
			for parent := range parents[p] {
				ready = ready && done[parent]
			}
			if ready {
				done[p] = true
				order = append(order, p)
				progressed = true
			}
		}
		if !progressed {
			var left []string
			for _, p := range pairs {
				if !done[p] {
					left = append(left, p.src.key)
				}
			}
			return nil, fmt.Errorf("foreign keys form a cycle between %s: copying needs session_replication_role = replica (a superuser)", strings.Join(left, ", "))
		}
	}
	return order, nil
}

// errCopyAborted closes the pipe of a COPY when the destination stopped
// reading early.
var errCopyAborted = errors.New("placement: copy aborted")

// copyTable streams one table from the source's COPY TO into the
// destination's COPY FROM and returns the rows copied.
func copyTable(ctx context.Context, sc, dc *pgconn.PgConn, p *pair) (int64, error) {
	format := ""
	if p.binary {
		format = " (FORMAT binary)"
	}
	out := "COPY " + p.src.ident + " (" + p.cols + ") TO STDOUT" + format
	in := "COPY " + p.dst.ident + " (" + p.cols + ") FROM STDIN" + format
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	// Exits when CopyTo returns: at the end of the data, on the source's
	// error, when ctx ends, or when pr is closed below.
	go func() {
		// The source sends a message per row: write them to the pipe
		// in large chunks.
		bw := bufio.NewWriterSize(pw, 64<<10)
		_, err := sc.CopyTo(ctx, bw, out)
		if err == nil {
			err = bw.Flush()
		}
		pw.CloseWithError(err) // nil: the reader sees io.EOF
		done <- err
	}()
	tag, err := dc.CopyFrom(ctx, pr, in)
	pr.CloseWithError(errCopyAborted)
	srcErr := <-done
	if srcErr != nil && !errors.Is(srcErr, errCopyAborted) {
		return 0, fmt.Errorf("source: %w", srcErr)
	}
	if err != nil {
		return 0, fmt.Errorf("destination: %w", err)
	}
	return tag.RowsAffected(), nil
}

// copySequence sets the destination's sequence to the source's state.
func copySequence(ctx context.Context, sc, dc *pgx.Conn, s, d *relation) error {
	var (
		last   int64
		called bool
	)
	if err := sc.QueryRow(ctx, "SELECT last_value, is_called FROM "+s.ident).Scan(&last, &called); err != nil {
		return fmt.Errorf("source: %w", err)
	}
	if _, err := dc.Exec(ctx, "SELECT pg_catalog.setval($1::pg_catalog.oid::pg_catalog.regclass, $2, $3)", d.oid, last, called); err != nil {
		return fmt.Errorf("destination: %w", err)
	}
	return nil
}

// checksums returns the row count and checksum of each pair's table on c,
// side choosing which relation of the pair is c's.
func checksums(ctx context.Context, c *pgx.Conn, pairs []*pair, side func(*pair) *relation) ([]Summary, error) {
	out := make([]Summary, len(pairs))
	for i, p := range pairs {
		q := `SELECT count(*), coalesce(sum(pg_catalog.hashtextextended(ROW(` + p.cols + `)::text, 0)::numeric), 0)::text FROM ` + side(p).ident
		if err := c.QueryRow(ctx, q).Scan(&out[i].Rows, &out[i].Checksum); err != nil {
			return nil, fmt.Errorf("checksum of %s: %w", p.src.key, err)
		}
	}
	return out, nil
}
