package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/tenantkit/tenantkit/dbstrategy"
	"github.com/tenantkit/tenantkit/tenancy/registry"
)

// commandsUsage lists the admin subcommands of the server binary.
const commandsUsage = `Usage: server [command] [flags]

` + commandList

const commandList = `Commands:
  serve                      serve the API (the default)
  migrate                    migrate every tenant database that is behind
  migrate status             list tenants whose schema is behind, ahead or failed
  tenants list               list organizations with their state, server and schema version
  tenants create             create an organization for an existing core user
  tenants suspend ID|SLUG    stop serving a tenant (403) until resumed
  tenants resume ID|SLUG     serve a suspended tenant again
  tenants delete ID|SLUG     deprovision a tenant: its database is dropped
  tenants move ID|SLUG -to SERVER
                             move a tenant to another PostgreSQL server; its writes
                             pause (503) only for the final copy and the switch
  tenants drain SERVER       move every tenant off a server, with progress

Every command takes the configuration flags of serve; -h on a command lists its flags.
`

// runCommand runs an admin subcommand. Each opens the configured databases
// without serving, reconciling or watching; it can run next to a server.
func runCommand(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	name := args[0]
	if len(args) > 1 && !strings.HasPrefix(args[1], "-") && (name == "migrate" || name == "tenants") {
		name += " " + args[1]
		args = args[1:]
	}
	args = args[1:]
	switch name {
	case "serve":
		return serve(ctx, args, getenv, stdout)
	case "help":
		fmt.Fprint(stdout, commandsUsage)
		return nil
	case "migrate":
		return cmdMigrate(ctx, args, getenv, stdout)
	case "migrate status":
		return cmdMigrateStatus(ctx, args, getenv, stdout)
	case "tenants list":
		return cmdTenantsList(ctx, args, getenv, stdout)
	case "tenants create":
		return cmdTenantsCreate(ctx, args, getenv, stdout)
	case "tenants suspend":
		return cmdTenantsSetStatus(ctx, "suspend", args, getenv, stdout, OrgActive, OrgSuspended)
	case "tenants resume":
		return cmdTenantsSetStatus(ctx, "resume", args, getenv, stdout, OrgSuspended, OrgActive)
	case "tenants delete":
		return cmdTenantsDelete(ctx, args, getenv, stdout)
	case "tenants move":
		return cmdTenantsMove(ctx, args, getenv, stdout)
	case "tenants drain":
		return cmdTenantsDrain(ctx, args, getenv, stdout)
	case "tenants":
		return errors.New("usage: server tenants list|create|suspend|resume|delete|move|drain [flags]; -h on each lists its flags")
	}
	return fmt.Errorf("unknown command %q; run 'server help' for the list", name)
}

// command is the shared setup of the admin commands: flags, then the app
// opened in admin mode.
type command struct {
	fs     *flag.FlagSet
	finish func() (config, error)
	// moveLease, if set, is how long a move this command starts is its
	// own (tenants move, tenants drain).
	moveLease *time.Duration
}

func newCommand(name string, getenv func(string) string) *command {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	return &command{fs: fs, finish: configFlags(fs, getenv)}
}

// open parses args and opens the app. Logs below warn are dropped: the
// commands print their own output.
func (c *command) open(ctx context.Context, args []string, synopsis string, nargs int, stdout io.Writer) (*app, error) {
	if !c.fs.Parsed() { // a command may parse first, to check its own flags
		if err := parseFlags(c.fs, args, synopsis, nargs, stdout); err != nil {
			return nil, err
		}
	}
	if c.fs.NArg() < nargs {
		return nil, fmt.Errorf("usage: %s", synopsis)
	}
	cfg, err := c.finish()
	if err != nil {
		return nil, err
	}
	cfg.logLevel = "warn"
	opts := appOptions{admin: true}
	if c.moveLease != nil {
		opts.moveLease = *c.moveLease
	}
	return newApp(ctx, cfg, newLogger(cfg, stdout), opts)
}

// fleet returns the organizations a migration concerns: active and
// suspended ones (provisioning ones are finished by a serving process).
func fleet(ctx context.Context, a *app) ([]Organization, error) {
	all, err := a.store.AllOrganizations(ctx)
	if err != nil {
		return nil, err
	}
	orgs := all[:0]
	for _, o := range all {
		if o.Status == OrgActive || o.Status == OrgSuspended {
			orgs = append(orgs, o)
		}
	}
	return orgs, nil
}

func cmdMigrate(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	c := newCommand("migrate", getenv)
	parallel := c.fs.Int("parallel", 4, "tenants migrated at once")
	all := c.fs.Bool("all", false, "check every tenant database, not only those the registry lists as behind or failed")
	if err := parseFlags(c.fs, args, "server migrate [flags]", 0, stdout); err != nil {
		return err
	}
	if *parallel < 1 {
		return errors.New("invalid -parallel: must be at least 1")
	}
	a, err := c.open(ctx, args, "server migrate [flags]", 0, stdout)
	if err != nil {
		return err
	}
	defer a.Close()
	orgs, err := fleet(ctx, a)
	if err != nil {
		return err
	}
	var todo []string
	byKey := map[string]Organization{}
	for _, o := range orgs {
		if *all || o.SchemaVersion != a.version || o.MigrationError != "" {
			todo = append(todo, tenantKey(o.ID))
			byKey[tenantKey(o.ID)] = o
		}
	}
	fmt.Fprintf(stdout, "%d tenants, %d to migrate to version %d\n", len(orgs), len(todo), a.version)
	if len(todo) == 0 {
		return nil
	}
	start := time.Now()
	var done, failed int
	var failures []string
	lastPrint := time.Time{}
	a.dbs.MigrateAll(ctx, todo, dbstrategy.MigrateAllOptions{Parallel: *parallel, Progress: func(key string, version int64, err error) {
		done++
		o := byKey[key]
		msg := ""
		if err != nil {
			failed++
			msg = err.Error()
			failures = append(failures, fmt.Sprintf("  tenant %s (%s): %s", key, o.Slug, msg))
		}
		// Record the version the database reports, which is newer than
		// this binary's if a newer release migrated it.
		if rerr := a.reg.RecordMigration(ctx, key, version, msg); rerr != nil && err == nil {
			failed++
			failures = append(failures, fmt.Sprintf("  tenant %s (%s): record version: %v", key, o.Slug, rerr))
		}
		if now := time.Now(); now.Sub(lastPrint) >= 500*time.Millisecond || done == len(todo) {
			lastPrint = now
			elapsed := now.Sub(start).Seconds()
			rate := float64(done) / max(elapsed, 1e-9)
			left := time.Duration(float64(len(todo)-done) / rate * float64(time.Second))
			fmt.Fprintf(stdout, "migrate: %d/%d done, %d failed, %.1f tenants/s, %s left\n",
				done, len(todo), failed, rate, left.Round(100*time.Millisecond))
		}
	}})
	fmt.Fprintf(stdout, "migrated %d of %d tenants to version %d in %s; %d failed\n",
		len(todo)-failed, len(todo), a.version, time.Since(start).Round(time.Millisecond), failed)
	for _, f := range failures {
		fmt.Fprintln(stdout, f)
	}
	if failed > 0 {
		return fmt.Errorf("%d tenant(s) failed to migrate; run migrate again after fixing them", failed)
	}
	return nil
}

func cmdMigrateStatus(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	c := newCommand("migrate status", getenv)
	a, err := c.open(ctx, args, "server migrate status [flags]", 0, stdout)
	if err != nil {
		return err
	}
	defer a.Close()
	start := time.Now()
	orgs, err := fleet(ctx, a)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	drift := 0
	for _, o := range orgs {
		state := ""
		switch {
		case o.MigrationError != "":
			state = "failed: " + o.MigrationError
		case o.SchemaVersion < a.version:
			state = "behind"
		case o.SchemaVersion > a.version:
			state = "ahead"
		default:
			continue
		}
		if drift == 0 {
			fmt.Fprintln(tw, "ID\tSLUG\tVERSION\tSTATE")
		}
		drift++
		fmt.Fprintf(tw, "%d\t%s\t%d\t%s\n", o.ID, o.Slug, o.SchemaVersion, state)
	}
	tw.Flush()
	fmt.Fprintf(stdout, "%d tenants at version %d, %d drifted (checked in %s)\n",
		len(orgs)-drift, a.version, drift, time.Since(start).Round(time.Microsecond))
	return nil
}

func cmdTenantsList(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	c := newCommand("tenants list", getenv)
	a, err := c.open(ctx, args, "server tenants list [flags]", 0, stdout)
	if err != nil {
		return err
	}
	defer a.Close()
	orgs, err := a.store.AllOrganizations(ctx)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSLUG\tSTATUS\tSERVER\tVERSION\tCREATED\tNAME")
	for _, o := range orgs {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%d\t%s\t%s\n", o.ID, o.Slug, o.Status, a.servers.server(o.Server), o.SchemaVersion, formatTime(o.CreatedAt), o.Name)
	}
	return tw.Flush()
}

func cmdTenantsCreate(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	c := newCommand("tenants create", getenv)
	owner := c.fs.String("owner", "", "`email` of the core user who owns the organization (required)")
	name := c.fs.String("name", "", "organization `name` (required)")
	slug := c.fs.String("slug", "", "organization `slug` (default: derived from the name)")
	a, err := c.open(ctx, args, "server tenants create -owner EMAIL -name NAME [-slug SLUG] [flags]", 0, stdout)
	if err != nil {
		return err
	}
	defer a.Close()
	if *owner == "" || *name == "" {
		return errors.New("tenants create: -owner and -name are required")
	}
	u, err := a.store.UserByEmail(ctx, normalizeEmail(*owner))
	if err != nil {
		return fmt.Errorf("owner %s: %w", *owner, err)
	}
	var sp *string
	if *slug != "" {
		sp = slug
	}
	o, err := a.core.CreateOrganization(ctx, u.ID, *name, sp, "")
	if err != nil {
		return describe(err)
	}
	fmt.Fprintf(stdout, "created organization %d (%s), %s\n", o.ID, o.Slug, o.Status)
	return nil
}

func cmdTenantsSetStatus(ctx context.Context, verb string, args []string, getenv func(string) string, stdout io.Writer, from, to OrgStatus) error {
	c := newCommand("tenants "+verb, getenv)
	a, err := c.open(ctx, args, "server tenants "+verb+" [flags] ID|SLUG", 1, stdout)
	if err != nil {
		return err
	}
	defer a.Close()
	o, err := findOrg(ctx, a, c.fs.Arg(0))
	if err != nil {
		return err
	}
	if o, err = a.core.SetStatus(ctx, o.ID, from, to); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "organization %d (%s) is %s\n", o.ID, o.Slug, o.Status)
	return nil
}

func cmdTenantsDelete(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	c := newCommand("tenants delete", getenv)
	a, err := c.open(ctx, args, "server tenants delete [flags] ID|SLUG", 1, stdout)
	if err != nil {
		return err
	}
	defer a.Close()
	o, err := findOrg(ctx, a, c.fs.Arg(0))
	if err != nil {
		return err
	}
	if err := a.core.deleteOrg(ctx, o); err != nil {
		return describe(err)
	}
	fmt.Fprintf(stdout, "deleted organization %d (%s)\n", o.ID, o.Slug)
	return nil
}

func cmdTenantsMove(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	c := newCommand("tenants move", getenv)
	to := c.fs.String("to", "", "`name` of the server to move the tenant to (required)")
	c.moveLease = c.fs.Duration("lease", registry.DefaultMoveTimeout, "how long the move is this process's: if it dies, a rerun may take the move over only after this `duration`")
	a, err := c.open(ctx, args, "server tenants move -to SERVER [flags] ID|SLUG", 1, stdout)
	if err != nil {
		return err
	}
	defer a.Close()
	if *to == "" {
		return errors.New("tenants move: -to is required")
	}
	if !a.servers.placed() {
		return errors.New("tenants move: only one tenant server is configured; give each with -tenant-db NAME=URL")
	}
	o, err := findOrg(ctx, a, c.fs.Arg(0))
	if err != nil {
		return err
	}
	from, err := a.servers.locate(ctx, tenantKey(o.ID))
	if err != nil {
		return err
	}
	start := time.Now()
	rec, err := a.core.reg.Move(ctx, tenantKey(o.ID), *to)
	if err != nil {
		return fmt.Errorf("move organization %d (%s) from %s to %s: %w", o.ID, o.Slug, from, *to, err)
	}
	fmt.Fprintf(stdout, "moved organization %d (%s) from %s to %s in %s\n", o.ID, o.Slug, from, rec.Server, time.Since(start).Round(time.Millisecond))
	return nil
}

func cmdTenantsDrain(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	c := newCommand("tenants drain", getenv)
	parallel := c.fs.Int("parallel", registry.DefaultDrainParallel, "tenants moved at once")
	c.moveLease = c.fs.Duration("lease", registry.DefaultMoveTimeout, "how long each move is this process's: if it dies, a rerun may take a move over only after this `duration`")
	if err := parseFlags(c.fs, args, "server tenants drain [flags] SERVER", 1, stdout); err != nil {
		return err
	}
	if *parallel < 1 {
		return errors.New("invalid -parallel: must be at least 1")
	}
	a, err := c.open(ctx, args, "server tenants drain [flags] SERVER", 1, stdout)
	if err != nil {
		return err
	}
	defer a.Close()
	from := c.fs.Arg(0)
	if !a.servers.placed() {
		return errors.New("tenants drain: only one tenant server is configured; give each with -tenant-db NAME=URL")
	}
	if _, ok := a.servers.strategies[from]; !ok {
		return fmt.Errorf("tenants drain: no server %q; the servers are %s", from, strings.Join(a.servers.names, ", "))
	}
	start := time.Now()
	var failed int
	err = a.core.reg.Drain(ctx, from, a.servers.drainPick(a.coreDB, from), registry.DrainOptions{Parallel: *parallel, Progress: func(p registry.DrainProgress) {
		if p.Err != nil {
			failed++
			fmt.Fprintf(stdout, "drain: %d/%d tenant %s: %v\n", p.Done, p.All, p.ID, p.Err)
			return
		}
		fmt.Fprintf(stdout, "drain: %d/%d tenant %s to %s in %s\n", p.Done, p.All, p.ID, p.To, p.Took.Round(time.Millisecond))
	}})
	fmt.Fprintf(stdout, "drained %s in %s; %d failed\n", from, time.Since(start).Round(time.Millisecond), failed)
	if err != nil {
		return fmt.Errorf("tenants drain %s: %w", from, err)
	}
	return nil
}

// findOrg finds an organization by id or slug.
func findOrg(ctx context.Context, a *app, ref string) (Organization, error) {
	var o Organization
	var err error
	if id, ok := parseID(ref); ok {
		o, err = a.store.Organization(ctx, id)
	} else if validSlug(ref) {
		o, err = a.store.OrganizationBySlug(ctx, ref)
	} else {
		return Organization{}, fmt.Errorf("%q is not an organization id or slug", ref)
	}
	if errors.Is(err, ErrNotFound) {
		return Organization{}, fmt.Errorf("no organization %q", ref)
	}
	return o, err
}

// describe turns a use case's error into one readable line.
func describe(err error) error {
	if errors.Is(err, ErrConflict) {
		return errors.New("that slug is already taken")
	}
	var verr *ValidationError
	if !errors.As(err, &verr) {
		return err
	}
	var parts []string
	for _, e := range verr.Errors {
		parts = append(parts, strings.TrimSpace(e.Field+" "+e.Message))
	}
	return errors.New(strings.Join(parts, "; "))
}
