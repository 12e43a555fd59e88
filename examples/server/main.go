// Command server is tenantkit's reference server: the full multi-tenant API
// of API.md (a core user directory whose users create organizations, each
// organization a tenant with its own database and its own user directory,
// reached with an X-Tenant header), assembled from the tenancy, dbstrategy
// and auth packages.
//
// With no configuration it serves on :8000 and keeps SQLite files under
// ./data:
//
//	go run ./examples/server
//
// Every setting is a flag with an environment fallback; -h lists them.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args, os.Getenv, os.Stdout); err != nil {
		if errors.Is(err, errHelp) {
			return
		}
		// One line, whatever the error holds.
		fmt.Fprintln(os.Stderr, "server:", strings.Join(strings.Fields(err.Error()), " "))
		os.Exit(1)
	}
}
