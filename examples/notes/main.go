// Command notes is a small multi-tenant notes API built on tenantkit, as
// an adopter would write it: the tenant from a subdomain or the X-Tenant
// header, one SQLite database per tenant, tokens per tenant, and errors as
// application/problem+json. glue.go holds all the wiring of the library;
// notes.go the application. See README.md.
package main

import (
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/tenantkit/tenantkit/auth"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args, os.Getenv, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

// config is the app's configuration, from flags with environment
// fallbacks.
type config struct {
	addr    string
	dataDir string
	domain  string   // base domain: acme.<domain> is tenant acme
	tenants []string // the tenants served; their databases are made at start-up
	secret  []byte   // master secret of the tokens, 32+ bytes

	hasherOptions []auth.HasherOption // tests use cheap parameters
}

func parseConfig(args []string, getenv func(string) string, stderr io.Writer) (config, error) {
	env := func(key, def string) string {
		if v := getenv(key); v != "" {
			return v
		}
		return def
	}
	var c config
	var tenants string
	fs := flag.NewFlagSet(args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.addr, "addr", env("NOTES_ADDR", "localhost:8080"), "listen address (NOTES_ADDR)")
	fs.StringVar(&c.dataDir, "data", env("NOTES_DATA", "data/notes"), "directory of the tenant databases (NOTES_DATA)")
	fs.StringVar(&c.domain, "domain", env("NOTES_DOMAIN", "localhost"), "base domain: <tenant>.<domain> names a tenant (NOTES_DOMAIN)")
	fs.StringVar(&tenants, "tenants", env("NOTES_TENANTS", "acme,globex"), "comma-separated tenant names (NOTES_TENANTS)")
	if err := fs.Parse(args[1:]); err != nil {
		return config{}, err
	}
	c.tenants = strings.Split(tenants, ",")
	c.secret = []byte(getenv("NOTES_SECRET"))
	if len(c.secret) == 0 {
		fmt.Fprintln(stderr, "notes: NOTES_SECRET is not set: tokens signed with a random secret die with the process")
		c.secret = []byte(rand.Text() + rand.Text())
	}
	return c, nil
}

func run(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) error {
	c, err := parseConfig(args, getenv, stderr)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))
	dbs, err := openTenants(ctx, log, c)
	if err != nil {
		return err
	}
	defer dbs.Close()
	h, err := newHandler(log, c, dbs)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", c.addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 30 * time.Second, WriteTimeout: 30 * time.Second}
	log.Info("notes: listening", "addr", ln.Addr().String(), "tenants", c.tenants, "domain", c.domain)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }() // ends when Shutdown is called
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdown); err != nil {
		return err
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
