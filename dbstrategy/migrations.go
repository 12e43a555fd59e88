package dbstrategy

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strings"

	"github.com/pressly/goose/v3"
)

// migrationsFor returns the dialect's directory of fsys, checked as goose
// will read it, so that a configuration mistake fails at NewManager with
// the file and the rule rather than at the first Create, or never: a
// missing dialect directory (with a hint when fsys is rooted one level too
// high or too low), a .sql file goose would skip for its name, a file
// whose goose annotations do not parse, a Go migration, or no migration at
// all.
func migrationsFor(fsys fs.FS, dialect string) (fs.FS, error) {
	if dialect == "" || !fs.ValidPath(dialect) || strings.Contains(dialect, "/") {
		return nil, fmt.Errorf("%w: WithMigrations: strategy dialect %q cannot name a directory", ErrInvalidConfig, dialect)
	}
	if fi, err := fs.Stat(fsys, dialect); err != nil || !fi.IsDir() {
		return nil, fmt.Errorf("%w: WithMigrations: no directory %q (the strategy's dialect) at the root of the migrations: %s",
			ErrInvalidConfig, dialect, rootHint(fsys, dialect))
	}
	sub, err := fs.Sub(fsys, dialect)
	if err != nil {
		return nil, fmt.Errorf("%w: WithMigrations: %w", ErrInvalidConfig, err)
	}
	entries, err := fs.ReadDir(sub, ".")
	if err != nil {
		return nil, fmt.Errorf("%w: WithMigrations: reading directory %q: %w", ErrInvalidConfig, dialect, err)
	}
	sqlFiles := 0
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() {
			continue
		}
		file := dialect + "/" + name
		ext := path.Ext(name)
		switch {
		case ext == ".sql":
			if _, err := goose.NumericComponent(name); err != nil {
				return nil, fmt.Errorf("%w: WithMigrations: %s: goose would skip it (%v): "+
					"a migration is named NNNNN_description.sql, a version above 0, '_', then a description", ErrInvalidConfig, file, err)
			}
			data, err := fs.ReadFile(sub, name)
			if err != nil {
				return nil, fmt.Errorf("%w: WithMigrations: %w", ErrInvalidConfig, err)
			}
			if err := checkAnnotations(string(data)); err != nil {
				return nil, fmt.Errorf("%w: WithMigrations: %s: %w", ErrInvalidConfig, file, err)
			}
			sqlFiles++
		case strings.EqualFold(ext, ".sql"):
			return nil, fmt.Errorf("%w: WithMigrations: %s: goose would skip it: "+
				"it reads only files ending in .sql, in lower case", ErrInvalidConfig, file)
		case ext == ".go" && !strings.HasSuffix(name, "_test.go"):
			if _, err := goose.NumericComponent(name); err == nil {
				return nil, fmt.Errorf("%w: WithMigrations: %s: Go migrations are not supported", ErrInvalidConfig, file)
			}
		}
	}
	if sqlFiles == 0 {
		return nil, fmt.Errorf("%w: WithMigrations: no SQL migrations (NNNNN_description.sql) in directory %q", ErrInvalidConfig, dialect)
	}
	return sub, nil
}

// rootHint says what the migrations fs holds instead of the dialect
// directory, and what was probably meant.
func rootHint(fsys fs.FS, dialect string) string {
	const want = "WithMigrations wants an fs.FS holding one directory per dialect (sqlite3/, postgres/)"
	entries, err := fs.ReadDir(fsys, ".")
	if err != nil {
		return fmt.Sprintf("%s; reading its root: %v", want, err)
	}
	var names []string
	sqlAtRoot := false
	for _, e := range entries {
		n := e.Name()
		if e.IsDir() {
			n += "/"
		} else if path.Ext(n) == ".sql" {
			sqlAtRoot = true
		}
		names = append(names, n)
	}
	held := "it is empty"
	if len(names) > 0 {
		if len(names) > 6 {
			names = append(names[:6], "...")
		}
		held = "it holds " + strings.Join(names, ", ")
	}
	switch {
	case sqlAtRoot:
		return fmt.Sprintf("%s; %s: pass the directory above %s/, not %s/ itself", want, held, dialect, dialect)
	case findDir(fsys, dialect) != "":
		return fmt.Sprintf("%s; %s: did you mean fs.Sub(fsys, %q)?", want, held, findDir(fsys, dialect))
	}
	return want + "; " + held
}

// findDir returns the directory holding a directory named name, at most
// three levels down in fsys, or "".
func findDir(fsys fs.FS, name string) string {
	found := ""
	errFound := errors.New("found")
	_ = fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() || p == "." {
			return nil
		}
		if d.Name() == name {
			found = path.Dir(p)
			return errFound
		}
		if strings.Count(p, "/") >= 2 {
			return fs.SkipDir
		}
		return nil
	})
	return found
}

// gooseAnnotations are the annotations goose's SQL parser knows, as it
// spells them; it compares them without regard to case.
var gooseAnnotations = []string{"Up", "Down", "StatementBegin", "StatementEnd", "NO TRANSACTION", "ENVSUB ON", "ENVSUB OFF"}

// checkAnnotations checks a goose SQL migration's annotations by the rules
// of goose's parser, which goose applies only when it runs the file: every
// annotation line starts at the beginning of the line and names a known
// annotation; the file starts with "-- +goose Up" (blank and comment lines
// aside), once; "-- +goose Down", if any, follows it, once; StatementBegin
// and StatementEnd pair up. It does not check the SQL itself.
func checkAnnotations(text string) error {
	const rule = "a goose migration starts with a '-- +goose Up' line"
	up, down, inStmt := false, false, false
	n := 0
	for line := range strings.Lines(text) {
		n++
		line = strings.TrimRight(line, "\r\n")
		trimmed := strings.TrimSpace(line)
		if trimmed == "" {
			continue
		}
		if !strings.HasPrefix(trimmed, "--") {
			if !up {
				return fmt.Errorf("line %d: SQL before '-- +goose Up': %s", n, rule)
			}
			continue
		}
		if !strings.Contains(line, "+goose") {
			continue // a comment
		}
		if line != strings.TrimLeft(line, " \t") {
			return fmt.Errorf("line %d: goose annotation %q must start at the beginning of the line", n, trimmed)
		}
		cmd := strings.Replace(strings.ReplaceAll(line, "--", ""), "+goose", "", 1)
		cmd = strings.TrimSpace(cmd)
		known := ""
		for _, a := range gooseAnnotations {
			if strings.EqualFold(a, cmd) {
				known = a
			}
		}
		switch known {
		case "":
			return fmt.Errorf("line %d: unknown goose annotation %q (goose knows -- +goose %s)",
				n, trimmed, strings.Join(gooseAnnotations, ", "))
		case "Up":
			if up {
				return fmt.Errorf("line %d: a second '-- +goose Up'", n)
			}
			up = true
		case "Down":
			if !up || down || inStmt {
				return fmt.Errorf("line %d: '-- +goose Down' must come once, after the Up section's statements: %s", n, rule)
			}
			down = true
		case "StatementBegin":
			if !up || inStmt {
				return fmt.Errorf("line %d: '-- +goose StatementBegin' must follow '-- +goose Up' or Down, outside another StatementBegin", n)
			}
			inStmt = true
		case "StatementEnd":
			if !inStmt {
				return fmt.Errorf("line %d: '-- +goose StatementEnd' without '-- +goose StatementBegin'", n)
			}
			inStmt = false
		}
	}
	switch {
	case !up:
		return errors.New("no '-- +goose Up' annotation: " + rule)
	case inStmt:
		return errors.New("'-- +goose StatementBegin' without '-- +goose StatementEnd'")
	}
	return nil
}
