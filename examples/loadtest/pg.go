package main

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"sync"

	"github.com/jackc/pgx/v5"
)

// pgIdent quotes a PostgreSQL identifier.
func pgIdent(s string) string { return pgx.Identifier{s}.Sanitize() }

// likePrefix is a LIKE pattern matching names that start with prefix.
func likePrefix(prefix string) string {
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	return r.Replace(prefix) + "%"
}

// dsnWithDB returns dsn (a URL) naming database db instead.
func dsnWithDB(dsn, db string) (string, error) {
	u, err := url.Parse(dsn)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return "", fmt.Errorf("-pg-dsn: must be a postgres:// URL")
	}
	u.Path = "/" + db
	u.RawPath = ""
	return u.String(), nil
}

// pgCreateDB creates database name unless it exists.
func pgCreateDB(ctx context.Context, dsn, name string) error {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	defer conn.Close(context.Background())
	var exists bool
	if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`, name).Scan(&exists); err != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	if exists {
		return nil
	}
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgIdent(name)); err != nil {
		return fmt.Errorf("postgres: create database %s: %w", name, err)
	}
	return nil
}

// pgDropAll drops the database named core (if not empty) and every
// database whose name starts with prefix, four at a time, then the roles
// under prefix. It returns how many databases it dropped.
func pgDropAll(ctx context.Context, dsn, core, prefix string) (int, error) {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return 0, fmt.Errorf("postgres: %w", err)
	}
	rows, err := conn.Query(ctx, `SELECT datname FROM pg_database WHERE datname LIKE $1 OR datname = $2`, likePrefix(prefix), core)
	if err != nil {
		conn.Close(context.Background())
		return 0, fmt.Errorf("postgres: %w", err)
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	conn.Close(context.Background())
	if err != nil {
		return 0, fmt.Errorf("postgres: %w", err)
	}
	work := make(chan string)
	var mu sync.Mutex
	var firstErr error
	dropped := 0
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() { // ends when work is closed
			c, err := pgx.Connect(ctx, dsn)
			if err != nil {
				mu.Lock()
				firstErr = cmpErr(firstErr, err)
				mu.Unlock()
				for range work {
				}
				return
			}
			defer c.Close(context.Background())
			for name := range work {
				_, err := c.Exec(ctx, "DROP DATABASE IF EXISTS "+pgIdent(name)+" WITH (FORCE)")
				mu.Lock()
				if err != nil {
					firstErr = cmpErr(firstErr, fmt.Errorf("drop database %s: %w", name, err))
				} else {
					dropped++
				}
				mu.Unlock()
			}
		})
	}
	for _, n := range names {
		work <- n
	}
	close(work)
	wg.Wait()
	if firstErr == nil {
		firstErr = pgDropRoles(ctx, dsn, prefix)
	}
	return dropped, firstErr
}

// pgDropRoles drops the per-tenant roles the server made under prefix
// (its databases gone first), the shared owner role last.
func pgDropRoles(ctx context.Context, dsn, prefix string) error {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	defer conn.Close(context.Background())
	rows, err := conn.Query(ctx, `SELECT rolname FROM pg_roles WHERE starts_with(rolname, $1) ORDER BY rolname = $1 || '$owner', rolname`, prefix)
	if err != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	roles, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	for _, r := range roles {
		if _, err := conn.Exec(ctx, "DROP ROLE IF EXISTS "+pgIdent(r)); err != nil {
			return fmt.Errorf("drop role %s: %w", r, err)
		}
	}
	return nil
}

func cmpErr(first, err error) error {
	if first != nil {
		return first
	}
	return err
}

// pgSampler counts the connections to tenant databases (by prefix) and to
// the core database.
type pgSampler struct {
	conn   *pgx.Conn
	like   string
	coreDB string
}

func newPGSampler(ctx context.Context, dsn, prefix, coreDB string) (*pgSampler, error) {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	return &pgSampler{conn: conn, like: likePrefix(prefix), coreDB: coreDB}, nil
}

// sample returns the current connection counts.
func (s *pgSampler) sample(ctx context.Context) (tenants, core int, err error) {
	err = s.conn.QueryRow(ctx,
		`SELECT count(*) FILTER (WHERE datname LIKE $1), count(*) FILTER (WHERE datname = $2) FROM pg_stat_activity`,
		s.like, s.coreDB).Scan(&tenants, &core)
	return tenants, core, err
}

func (s *pgSampler) close() { s.conn.Close(context.Background()) }

// pgSamplers counts the connections of the server under test: to the core
// database and the tenant databases of -pg-dsn's server, or, with
// -pg-servers, to the tenant databases of each server.
type pgSamplers struct {
	core    *pgSampler   // -pg-dsn's server
	servers []*pgSampler // -pg-servers, in order; none without it
	names   []string     // their names
}

// sample takes one sample of every server and raises run's peaks: the
// tenant connections of all servers together (in one pass, so not all at
// the same instant), each server's, and the core's.
func (p *pgSamplers) sample(ctx context.Context, run *phaseRun) {
	tc, cc, err := p.core.sample(ctx)
	if err != nil {
		return
	}
	run.peakCore = max(run.peakCore, cc)
	if len(p.servers) == 0 {
		run.peakPG = max(run.peakPG, tc)
		return
	}
	if run.peakByServer == nil {
		run.peakByServer = make(map[string]int, len(p.servers))
	}
	total := 0
	for i, s := range p.servers {
		n, _, err := s.sample(ctx)
		if err != nil {
			return
		}
		total += n
		run.peakByServer[p.names[i]] = max(run.peakByServer[p.names[i]], n)
	}
	run.peakPG = max(run.peakPG, total)
}

// close closes every sampler's connection.
func (p *pgSamplers) close() {
	for _, s := range append([]*pgSampler{p.core}, p.servers...) {
		if s != nil {
			s.close()
		}
	}
}
