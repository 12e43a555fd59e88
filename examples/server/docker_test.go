package main

// Docker itself is not available where tenantkit is built and tested, so
// neither the image nor the compose stack can be built or run here. These
// tests are lint-level instead: they read the Dockerfile and
// docker-compose.yml at the repository root and check what the issue asks
// of them.

import (
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// repoRoot is the module root, relative to this package.
var repoRoot = filepath.Join("..", "..")

var (
	buildsServer = regexp.MustCompile(`(^|\s)\./examples/server(\s|$|&&)`)
	outputFlag   = regexp.MustCompile(`\s-o\s+(\S+)`)
	goLine       = regexp.MustCompile(`(?m)^go (\d+)\.(\d+)`)
	golangImage  = regexp.MustCompile(`^(?:docker\.io/)?(?:library/)?golang:(\d+)\.(\d+)`)
	composeKey   = regexp.MustCompile(`^([A-Za-z0-9_.-]+):(?:\s+(.*))?$`)
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

// composeDoc is docker-compose.yml read as a flat map from dotted key
// paths to their values; list items are appended under their list's
// path.
type composeDoc map[string][]string

// readCompose reads the block-style YAML subset a compose file uses:
// nested "key: value" mappings, "- item" lists of scalars, comments.
// Anything else (tabs, flow mappings, multi-line scalars, anchors) fails
// the test rather than being misread.
func readCompose(t *testing.T, text string) composeDoc {
	t.Helper()
	doc := composeDoc{}
	type level struct {
		indent int
		key    string
	}
	var stack []level
	path := func() string {
		keys := make([]string, len(stack))
		for i, l := range stack {
			keys[i] = l.key
		}
		return strings.Join(keys, ".")
	}
	for i, raw := range strings.Split(text, "\n") {
		n := i + 1
		if strings.ContainsRune(raw, '\t') {
			t.Fatalf("docker-compose.yml line %d has a tab: YAML indents with spaces", n)
		}
		line := strings.TrimRight(raw, " \r")
		content := strings.TrimLeft(line, " ")
		if content == "" || strings.HasPrefix(content, "#") {
			continue
		}
		indent := len(line) - len(content)
		for len(stack) > 0 && stack[len(stack)-1].indent >= indent {
			stack = stack[:len(stack)-1]
		}
		if item, ok := strings.CutPrefix(content, "- "); ok {
			if len(stack) == 0 {
				t.Fatalf("docker-compose.yml line %d: list item outside a mapping", n)
			}
			doc[path()] = append(doc[path()], yamlUnquote(item))
			continue
		}
		m := composeKey.FindStringSubmatch(content)
		if m == nil {
			t.Fatalf("docker-compose.yml line %d %q is not key: value or - item", n, content)
		}
		v := m[2]
		if strings.HasPrefix(v, "{") || strings.HasPrefix(v, "|") || strings.HasPrefix(v, ">") ||
			strings.HasPrefix(v, "&") || strings.HasPrefix(v, "*") {
			t.Fatalf("docker-compose.yml line %d: %q is beyond what this check reads", n, content)
		}
		stack = append(stack, level{indent, m[1]})
		if v != "" {
			doc[path()] = append(doc[path()], yamlUnquote(v))
		} else {
			doc[path()] = doc[path()] // a key with nested content
		}
	}
	return doc
}

func yamlUnquote(s string) string {
	if c, _, ok := strings.Cut(s, " #"); ok {
		s = strings.TrimSpace(c)
	}
	if len(s) >= 2 && (s[0] == '"' && s[len(s)-1] == '"' || s[0] == '\'' && s[len(s)-1] == '\'') {
		return s[1 : len(s)-1]
	}
	return s
}

// one returns the single value at path, or "".
func (d composeDoc) one(path string) string {
	if v := d[path]; len(v) == 1 {
		return v[0]
	}
	return ""
}

// services lists the compose file's service names.
func (d composeDoc) services() []string {
	var names []string
	for p := range d {
		if rest, ok := strings.CutPrefix(p, "services."); ok {
			name, _, _ := strings.Cut(rest, ".")
			if !slices.Contains(names, name) {
				names = append(names, name)
			}
		}
	}
	slices.Sort(names)
	return names
}

// env returns a service's environment, in either the mapping or the list
// form.
func (d composeDoc) env(service string) map[string]string {
	env := map[string]string{}
	prefix := "services." + service + ".environment"
	for p, v := range d {
		if k, ok := strings.CutPrefix(p, prefix+"."); ok && len(v) == 1 {
			env[k] = v[0]
		}
	}
	for _, item := range d[prefix] {
		if k, v, ok := strings.Cut(item, "="); ok {
			env[k] = v
		}
	}
	return env
}

// TestDockerCompose checks the compose stack: a PostgreSQL service with a
// healthcheck, and the API built from the repository root, started once
// the database is healthy, published on 8000 and pointed at the database
// service for both the core and the tenant databases.
func TestDockerCompose(t *testing.T) {
	doc := readCompose(t, readRepoFile(t, "docker-compose.yml"))
	services := doc.services()
	var db, api string
	for _, s := range services {
		if strings.HasPrefix(doc.one("services."+s+".image"), "postgres") {
			db = s
		}
		if doc.one("services."+s+".build") == "." || doc.one("services."+s+".build.context") == "." {
			api = s
		}
	}
	if db == "" || api == "" {
		t.Fatalf("services %v; want one with a postgres image and one built from \".\"", services)
	}

	if test := strings.Join(doc["services."+db+".healthcheck.test"], " "); !strings.Contains(test, "pg_isready") {
		t.Errorf("service %s healthcheck test = %q; want a pg_isready check", db, test)
	}

	dep := "services." + api + ".depends_on"
	switch {
	case doc.one(dep+"."+db+".condition") == "service_healthy":
	case slices.Contains(doc[dep], db) || doc[dep+"."+db] != nil || len(doc[dep+"."+db+".condition"]) > 0:
		t.Errorf("service %s depends_on %s without condition: service_healthy; the healthcheck goes unused", api, db)
	default:
		t.Errorf("service %s does not depend on %s", api, db)
	}

	published := false
	for _, p := range doc["services."+api+".ports"] {
		f := strings.Split(p, ":")
		published = published || strings.TrimSuffix(f[len(f)-1], "/tcp") == "8000"
	}
	if !published {
		t.Errorf("service %s ports %v; want container port 8000 published", api, doc["services."+api+".ports"])
	}

	env := doc.env(api)
	dbEnv := doc.env(db)
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
