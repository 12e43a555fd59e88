// Command loadtest drives the reference server (examples/server) with
// concurrent clients over many tenants and compares its throughput with a
// baseline that has no tenancy at all, measured back to back in the same run.
//
// It provisions -tenants organizations with -users-per-tenant users each
// (through the HTTP API, with -provision-workers workers), then runs these
// phases, each -warmup long unmeasured and -duration long measured, with
// -clients concurrent clients:
//
//   - baseline: the same request (token verification and the same query) on
//     one pre-opened SQLite database with no tenancy, behind the same HTTP
//     stack, served by this binary in a child process (the hidden
//     "serve-baseline" mode);
//   - one: tenantkit, every request for one tenant;
//   - dist: tenantkit, tenants drawn uniformly or from a Zipf distribution.
//
// It prints a live progress line per second to stderr, then a table of
// requests per second, latency percentiles, errors by status, peak server
// RSS, open tenant handles (from /metrics when the server exposes
// tenantkit_handles_open), peak PostgreSQL connections, and the throughput
// ratios between phases. -json writes the same figures as JSON.
//
// # Usage
//
//	go run ./examples/loadtest -tenants 1000 -clients 32 -duration 20s
//	go run ./examples/loadtest -tenants 10000 -dist zipf -zipf-s 1.1 -reuse /tmp/lt10k
//	go run ./examples/loadtest -db postgres -pg-dsn postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable \
//		-tenants 1000 -db-max-conns 40 -clients 64
//	go run ./examples/loadtest -url http://127.0.0.1:8000 -tenants 10 # an existing server
//
// With no -url, the server is built with `go build` into a temporary folder
// (or -server-bin is used) and started on a loopback port with its own data
// folder, which is removed at the end unless -reuse DIR is given: then the
// data folder and a manifest of tenants, users and tokens are kept in DIR,
// and a later run with the same DIR skips provisioning (adding tenants if it
// asks for more). PostgreSQL runs create a core database and a unique
// tenant-database prefix, and drop them all at the end (unless -reuse).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args, os.Stdout, os.Stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return
		}
		fmt.Fprintln(os.Stderr, "loadtest:", err)
		os.Exit(1)
	}
}

// run is the whole program. args[0] is the program name; a first argument
// "serve-baseline" runs the baseline server instead of the harness.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 {
		args = args[1:]
	}
	if len(args) > 0 && args[0] == mapCommand {
		return serveMap(ctx, args[1:], stdout)
	}
	if len(args) > 0 && args[0] == baselineCommand {
		return serveBaseline(ctx, args[1:], stdout)
	}
	cfg, err := parseConfig(args, stderr)
	if err != nil {
		return err
	}
	res, err := harness(ctx, cfg, stderr)
	if res != nil {
		printReport(stdout, res)
		if cfg.jsonPath != "" {
			if jerr := writeJSON(cfg.jsonPath, res); jerr != nil {
				err = errors.Join(err, jerr)
			}
		}
	}
	return err
}
