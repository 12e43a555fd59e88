package main

import (
	"context"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/tenantkit/tenantkit/auth"
)

// mapCommand is the hidden first argument that runs the map-of-handles
// server: the harness starts its own binary with it.
const mapCommand = "serve-map"

// mapConfig configures serve-map.
type mapConfig struct {
	addr      string
	dir       string // the reference server's tenant folder
	prefix    string
	secret    string
	logLevel  string
	pprofAddr string
	ttl       time.Duration
}

// serveMap runs the map-of-handles server until ctx ends: what an
// application would write instead of adopting tenantkit. It serves the
// reference server's own tenant databases (its SQLite files, read and
// written in place) with the reference server's tokens, from a map of
// every tenant's open *sql.DB, opened on a tenant's first request and never
// closed: no handle budget, no eviction, no tenant registry (the X-Tenant
// header is the tenant id, and a tenant exists when its file does), no
// lifecycle states. Its HTTP layers are the baseline's, which are the
// reference server's (security header, request id, request metrics,
// request log, panic recovery), so that the two differ by tenancy only.
func serveMap(ctx context.Context, args []string, stdout io.Writer) error {
	var c mapConfig
	fs := flag.NewFlagSet(mapCommand, flag.ContinueOnError)
	fs.StringVar(&c.addr, "addr", "127.0.0.1:0", "listen address")
	fs.StringVar(&c.dir, "dir", "", "the reference server's SQLite tenant folder")
	fs.StringVar(&c.prefix, "prefix", "tenant_", "tenant file prefix")
	fs.StringVar(&c.secret, "jwt-secret", "", "the reference server's master secret")
	fs.StringVar(&c.logLevel, "log-level", "info", "request log level")
	fs.StringVar(&c.pprofAddr, "pprof", "", "serve net/http/pprof on this address")
	fs.DurationVar(&c.ttl, "token-ttl", 24*time.Hour, "lifetime of tokens from login")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if c.dir == "" || len(c.secret) < 32 {
		return errors.New("serve-map: needs -dir and -jwt-secret (32+ bytes)")
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(c.logLevel)); err != nil {
		return fmt.Errorf("serve-map: -log-level: %w", err)
	}
	log := slog.New(slog.NewTextHandler(stdout, &slog.HandlerOptions{Level: level}))
	hasher, err := auth.NewHasher()
	if err != nil {
		return err
	}
	m := &handleMap{cfg: c, dirs: map[string]*directory{}}
	defer m.close()
	h, err := baselineHandler(log, m.tenantOf, hasher)
	if err != nil {
		return err
	}
	return serveHandler(ctx, log, h, c.addr, c.pprofAddr)
}

// handleMap is the map of open tenant databases.
type handleMap struct {
	cfg  mapConfig
	mu   sync.RWMutex
	dirs map[string]*directory // by tenant id
}

// tenantOf returns the directory of the request's tenant, opening it on
// first use.
func (m *handleMap) tenantOf(r *http.Request) (*directory, error) {
	id := r.Header.Get("X-Tenant")
	m.mu.RLock()
	d := m.dirs[id]
	m.mu.RUnlock()
	if d != nil {
		return d, nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if d := m.dirs[id]; d != nil {
		return d, nil
	}
	d, err := m.open(id)
	if err != nil {
		return nil, err
	}
	m.dirs[id] = d
	return d, nil
}

// open opens tenant id's database file and derives its token keys, as the
// reference server does ("tenant:<id>").
func (m *handleMap) open(id string) (*directory, error) {
	if n, err := strconv.ParseInt(id, 10, 64); err != nil || n < 1 || strconv.FormatInt(n, 10) != id {
		return nil, errUnknownTenant
	}
	path := filepath.Join(m.cfg.dir, m.cfg.prefix+id+".db")
	if _, err := os.Stat(path); err != nil {
		return nil, errUnknownTenant
	}
	db, err := sql.Open("sqlite3", sqliteURL(path, "rw"))
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(4)
	db.SetMaxIdleConns(4)
	name := "tenant:" + id
	key, err := auth.DeriveKey([]byte(m.cfg.secret), name)
	if err != nil {
		db.Close()
		return nil, err
	}
	v, err := auth.NewVerifier(tokenIssuer, name, []auth.Key{key})
	if err != nil {
		db.Close()
		return nil, err
	}
	iss, err := auth.NewIssuer(tokenIssuer, name, key, auth.WithTTL(m.cfg.ttl))
	if err != nil {
		db.Close()
		return nil, err
	}
	return &directory{db: db, verifier: v, issuer: iss}, nil
}

// close closes every open database.
func (m *handleMap) close() {
	m.mu.Lock()
	defer m.mu.Unlock()
	for id, d := range m.dirs {
		d.db.Close()
		delete(m.dirs, id)
	}
}
