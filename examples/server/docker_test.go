package main

// Docker itself is not available where tenantkit is built and tested, so
// neither the image nor the compose stack can be built or run here. These
// tests are lint-level instead: they read the Dockerfile and
// docker-compose.yml at the repository root and check what the issue asks
// of them.

import (
	"fmt"
	"maps"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// repoRoot is the module root, relative to this package.
var repoRoot = filepath.Join("..", "..")

var (
	buildsServer = regexp.MustCompile(`(^|\s)\./examples/server(\s|$|&&)`)
	outputFlag   = regexp.MustCompile(`\s-o\s+(\S+)`)
	goLine       = regexp.MustCompile(`(?m)^go (\d+)\.(\d+)`)
	golangImage  = regexp.MustCompile(`^(?:docker\.io/)?(?:library/)?golang:(\d+)\.(\d+)`)
	saysNoDocker = regexp.MustCompile(`(?i)(no docker\b[^.]*\bavailable|docker\b[^.]*\b(is not|isn't) available|without docker)`)
)

func readRepoFile(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot, name))
	if err != nil {
		t.Fatalf("read %s: %v", name, err)
	}
	return string(b)
}

// dockerInstr is one Dockerfile instruction: its keyword and arguments,
// continuation lines joined.
type dockerInstr struct {
	line int
	cmd  string // upper case
	args string
}

// dockerStage is one FROM stage and its instructions.
type dockerStage struct {
	image, name string
	instrs      []dockerInstr
}

// dockerStages splits a Dockerfile into its stages. Comments, blank lines
// and parser directives are skipped; a trailing backslash joins the next
// line.
func dockerStages(t *testing.T, text string) []dockerStage {
	t.Helper()
	var stages []dockerStage
	var cur strings.Builder
	start := 0
	flush := func() {
		s := strings.TrimSpace(cur.String())
		cur.Reset()
		if s == "" {
			return
		}
		cmd, args, _ := strings.Cut(s, " ")
		in := dockerInstr{line: start, cmd: strings.ToUpper(cmd), args: strings.TrimSpace(args)}
		if in.cmd == "FROM" {
			f := strings.Fields(in.args)
			st := dockerStage{}
			for len(f) > 0 && strings.HasPrefix(f[0], "--") { // --platform=...
				f = f[1:]
			}
			if len(f) > 0 {
				st.image = f[0]
			}
			if len(f) == 3 && strings.EqualFold(f[1], "AS") {
				st.name = f[2]
			}
			stages = append(stages, st)
			return
		}
		if len(stages) == 0 {
			t.Errorf("Dockerfile line %d: %s before the first FROM", in.line, in.cmd)
			return
		}
		last := &stages[len(stages)-1]
		last.instrs = append(last.instrs, in)
	}
	for i, line := range strings.Split(text, "\n") {
		trimmed := strings.TrimSpace(line)
		if strings.HasPrefix(trimmed, "#") || (trimmed == "" && cur.Len() == 0) {
			continue
		}
		if cur.Len() == 0 {
			start = i + 1
		}
		if body, ok := strings.CutSuffix(trimmed, `\`); ok {
			cur.WriteString(body + " ")
			continue
		}
		cur.WriteString(trimmed)
		flush()
	}
	flush()
	return stages
}

// find returns the stage's instructions with keyword cmd.
func (s dockerStage) find(cmd string) []dockerInstr {
	var out []dockerInstr
	for _, in := range s.instrs {
		if in.cmd == cmd {
			out = append(out, in)
		}
	}
	return out
}

// TestDockerfile checks the image recipe: a build stage that compiles
// ./examples/server as a static binary (CGO_ENABLED=0) with the Go version
// go.mod asks for, and a distroless/static or scratch final stage that
// runs it as a non-root user on port 8000.
func TestDockerfile(t *testing.T) {
	stages := dockerStages(t, readRepoFile(t, "Dockerfile"))
	if len(stages) < 2 {
		t.Fatalf("Dockerfile has %d FROM stages; want a multi-stage build (at least 2)", len(stages))
	}
	build, final := stages[:len(stages)-1], stages[len(stages)-1]

	// The build: CGO_ENABLED=0 go build ./examples/server, in a Go image
	// at least as new as go.mod's go line.
	var builder *dockerStage
	var binary string
	for i := range build {
		for _, in := range build[i].find("RUN") {
			if strings.Contains(in.args, "CGO_ENABLED=0") && strings.Contains(in.args, "go build") &&
				buildsServer.MatchString(in.args) {
				builder = &build[i]
				if m := outputFlag.FindStringSubmatch(in.args); m != nil {
					binary = m[1]
				}
			}
		}
	}
	goVersion := goLine.FindStringSubmatch(readRepoFile(t, "go.mod"))
	var imgVersion []string
	if builder != nil {
		imgVersion = golangImage.FindStringSubmatch(builder.image)
	}
	switch {
	case builder == nil:
		t.Errorf("no build stage RUNs CGO_ENABLED=0 go build ... ./examples/server (a static binary)")
	case goVersion == nil:
		t.Errorf("go.mod has no go line")
	case imgVersion == nil:
		t.Errorf("build stage image %q; want golang:<major>.<minor>...", builder.image)
	case dockerAtoi(imgVersion[1])*1000+dockerAtoi(imgVersion[2]) < dockerAtoi(goVersion[1])*1000+dockerAtoi(goVersion[2]):
		t.Errorf("build stage image %q is older than go.mod's go %s.%s", builder.image, goVersion[1], goVersion[2])
	}

	// The final stage: static base, the binary, a non-root user, port 8000.
	if !strings.HasPrefix(final.image, "gcr.io/distroless/static") && final.image != "scratch" {
		t.Errorf("final stage FROM %q; want gcr.io/distroless/static... or scratch", final.image)
	}
	var copied []string // destinations of COPY --from a build stage
	for _, in := range final.find("COPY") {
		if f := strings.Fields(in.args); strings.HasPrefix(in.args, "--from=") && len(f) >= 2 {
			if binary != "" && slices.Contains(f, binary) {
				copied = append(copied, f[len(f)-1])
			}
		}
	}
	if len(copied) == 0 {
		t.Errorf("final stage does not COPY --from the build stage's %q", binary)
	}
	entry := final.find("ENTRYPOINT")
	if len(entry) == 0 {
		t.Errorf("final stage has no ENTRYPOINT")
	} else if e := entry[len(entry)-1].args; !slices.ContainsFunc(copied, func(dst string) bool { return strings.HasPrefix(e, `["`+dst+`"`) }) {
		t.Errorf("ENTRYPOINT %s; want the exec form running the copied binary %v", e, copied)
	}
	users := final.find("USER")
	if len(users) == 0 {
		t.Errorf("final stage has no USER: it would run as root")
	} else {
		user, _, _ := strings.Cut(users[len(users)-1].args, ":")
		if uid, err := strconv.Atoi(user); (err != nil || uid == 0) && user != "nonroot" {
			t.Errorf("final stage USER %q; want a numeric uid other than 0, or nonroot", users[len(users)-1].args)
		}
	}
	exposed := false
	for _, in := range final.find("EXPOSE") {
		for _, p := range strings.Fields(in.args) {
			exposed = exposed || p == "8000" || p == "8000/tcp"
		}
	}
	if !exposed {
		t.Errorf("final stage does not EXPOSE 8000")
	}

	// The build context leaves out the repository's history and data.
	ignore := strings.Fields(readRepoFile(t, ".dockerignore"))
	for _, want := range []string{".git", "data"} {
		if !slices.Contains(ignore, want) && !slices.Contains(ignore, "**/"+want) {
			t.Errorf(".dockerignore does not leave out %s", want)
		}
	}
}

func dockerAtoi(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}

// composeFile is the part of docker-compose.yml the tests read, decoded
// by go.yaml.in/yaml/v3. Members that compose accepts in two forms (build,
// depends_on, environment, healthcheck.test) decode either.
type composeFile struct {
	Services map[string]composeService `yaml:"services"`
}

type composeService struct {
	Image       string         `yaml:"image"`
	Build       composeBuild   `yaml:"build"`
	DependsOn   composeDepends `yaml:"depends_on"`
	Environment composeEnv     `yaml:"environment"`
	Ports       []yaml.Node    `yaml:"ports"`
	Healthcheck struct {
		Test composeStrings `yaml:"test"`
	} `yaml:"healthcheck"`
}

// composeBuild is build's context: "build: ." or "build: {context: .}".
type composeBuild string

func (b *composeBuild) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		*b = composeBuild(n.Value)
		return nil
	}
	var long struct {
		Context string `yaml:"context"`
	}
	if err := n.Decode(&long); err != nil {
		return fmt.Errorf("build: %w", err)
	}
	*b = composeBuild(long.Context)
	return nil
}

// composeDepends maps each service depended on to its condition ("" in
// the short, list form).
type composeDepends map[string]string

func (d *composeDepends) UnmarshalYAML(n *yaml.Node) error {
	*d = composeDepends{}
	if n.Kind == yaml.SequenceNode {
		var names []string
		if err := n.Decode(&names); err != nil {
			return fmt.Errorf("depends_on: %w", err)
		}
		for _, name := range names {
			(*d)[name] = ""
		}
		return nil
	}
	var long map[string]struct {
		Condition string `yaml:"condition"`
	}
	if err := n.Decode(&long); err != nil {
		return fmt.Errorf("depends_on: %w", err)
	}
	for name, dep := range long {
		(*d)[name] = dep.Condition
	}
	return nil
}

// composeEnv is environment in either the mapping or the list ("K=V")
// form.
type composeEnv map[string]string

func (e *composeEnv) UnmarshalYAML(n *yaml.Node) error {
	*e = composeEnv{}
	if n.Kind == yaml.SequenceNode {
		var items []string
		if err := n.Decode(&items); err != nil {
			return fmt.Errorf("environment: %w", err)
		}
		for _, item := range items {
			k, v, _ := strings.Cut(item, "=")
			(*e)[k] = v
		}
		return nil
	}
	m := map[string]string(*e)
	if err := n.Decode(&m); err != nil {
		return fmt.Errorf("environment: %w", err)
	}
	return nil
}

// composeStrings is a string or a list of strings.
type composeStrings []string

func (c *composeStrings) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		*c = composeStrings{n.Value}
		return nil
	}
	var list []string
	if err := n.Decode(&list); err != nil {
		return err
	}
	*c = list
	return nil
}

// readCompose decodes a compose file; YAML that does not parse, or a member
// of the wrong shape, fails the test.
func readCompose(t *testing.T, text string) composeFile {
	t.Helper()
	var f composeFile
	if err := yaml.Unmarshal([]byte(text), &f); err != nil {
		t.Fatalf("docker-compose.yml: %v", err)
	}
	return f
}

// TestDockerCompose checks the compose stack: a PostgreSQL service with a
// healthcheck, and the API built from the repository root, started once
// the database is healthy, published on 8000 and pointed at the database
// service for both the core and the tenant databases.
func TestDockerCompose(t *testing.T) {
	doc := readCompose(t, readRepoFile(t, "docker-compose.yml"))
	services := slices.Sorted(maps.Keys(doc.Services))
	var db, api string
	for _, s := range services {
		if strings.HasPrefix(doc.Services[s].Image, "postgres") {
			db = s
		}
		if doc.Services[s].Build == "." {
			api = s
		}
	}
	if db == "" || api == "" {
		t.Fatalf("services %v; want one with a postgres image and one built from \".\"", services)
	}
	dbSvc, apiSvc := doc.Services[db], doc.Services[api]

	if test := strings.Join(dbSvc.Healthcheck.Test, " "); !strings.Contains(test, "pg_isready") {
		t.Errorf("service %s healthcheck test = %q; want a pg_isready check", db, test)
	}

	switch cond, ok := apiSvc.DependsOn[db]; {
	case ok && cond == "service_healthy":
	case ok:
		t.Errorf("service %s depends_on %s without condition: service_healthy; the healthcheck goes unused", api, db)
	default:
		t.Errorf("service %s does not depend on %s", api, db)
	}

	published := false
	var ports []string
	for _, p := range apiSvc.Ports {
		if p.Kind != yaml.ScalarNode { // the long form
			var long struct {
				Target string `yaml:"target"`
			}
			if err := p.Decode(&long); err != nil {
				t.Fatalf("service %s ports: %v", api, err)
			}
			ports = append(ports, long.Target)
			published = published || long.Target == "8000"
			continue
		}
		ports = append(ports, p.Value)
		f := strings.Split(p.Value, ":")
		published = published || strings.TrimSuffix(f[len(f)-1], "/tcp") == "8000"
	}
	if !published {
		t.Errorf("service %s ports %v; want container port 8000 published", api, ports)
	}

	env := apiSvc.Environment
	dbEnv := dbSvc.Environment
	for _, name := range []string{"CORE_DATABASE_URL", "TENANT_DATABASE_URL"} {
		u, err := url.Parse(env[name])
		if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") || u.Hostname() != db {
			t.Errorf("service %s %s = %q; want a postgres:// URL on host %s", api, name, env[name], db)
			continue
		}
		pw, _ := u.User.Password()
		if want := dbEnv["POSTGRES_USER"]; want != "" && u.User.Username() != want {
			t.Errorf("%s user %q; want the %s service's POSTGRES_USER %q", name, u.User.Username(), db, want)
		}
		if want := dbEnv["POSTGRES_PASSWORD"]; want != "" && pw != want {
			t.Errorf("%s password does not match the %s service's POSTGRES_PASSWORD", name, db)
		}
	}
	if s := env["JWT_SECRET"]; s != "" && len(s) < 32 {
		t.Errorf("service %s JWT_SECRET has %d bytes; the server refuses fewer than 32", api, len(s))
	}
}

// TestReadmeSaysNoDocker checks the README is honest that Docker could not
// build or run the image and the compose stack where tenantkit is tested.
func TestReadmeSaysNoDocker(t *testing.T) {
	readme := readRepoFile(t, "README.md")
	if !strings.Contains(readme, "Dockerfile") || !strings.Contains(readme, "docker-compose.yml") {
		t.Errorf("README.md does not mention the Dockerfile and docker-compose.yml")
	}
	if !saysNoDocker.MatchString(strings.Join(strings.Fields(readme), " ")) {
		t.Errorf("README.md does not say Docker is not available to build or test the image here")
	}
}
