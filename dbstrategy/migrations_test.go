package dbstrategy_test

import (
	"context"
	"errors"
	"io/fs"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/tenantkit/tenantkit/dbstrategy"
)

// TestMigrationsConfigMistakes checks that the usual mistakes in goose
// migrations fail at NewManager, with a message naming the file (or the
// directory) and the rule, rather than at the first Create, or never.
func TestMigrationsConfigMistakes(t *testing.T) {
	file := func(s string) *fstest.MapFile { return &fstest.MapFile{Data: []byte(s)} }
	good := file(migrationSQL[0])
	nested := fstest.MapFS{"migrations/tenant/sqlite3/00001_a.sql": good}
	tenantDir, err := fs.Sub(nested, "migrations/tenant/sqlite3")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		fsys fs.FS
		want []string // substrings of the error
	}{
		{"fs.Sub one level too low", tenantDir,
			[]string{`no directory "sqlite3"`, "it holds 00001_a.sql", "pass the directory above sqlite3/"}},
		{"fs.Sub one level too high", nested,
			[]string{`no directory "sqlite3"`, "it holds migrations/", `did you mean fs.Sub(fsys, "migrations/tenant")?`}},
		{"other dialect only", onlyPostgres(),
			[]string{`no directory "sqlite3"`, "it holds postgres/", "one directory per dialect (sqlite3/, postgres/)"}},
		{"empty fs", fstest.MapFS{}, []string{`no directory "sqlite3"`, "it is empty"}},
		{"no Up annotation", fstest.MapFS{"sqlite3/00001_a.sql": good, "sqlite3/00002_b.sql": file("CREATE TABLE b (x INT);\n")},
			[]string{"sqlite3/00002_b.sql", "line 1: SQL before '-- +goose Up'"}},
		{"only comments", fstest.MapFS{"sqlite3/00001_a.sql": file("-- nothing yet\n\n")},
			[]string{"sqlite3/00001_a.sql", "no '-- +goose Up' annotation"}},
		{"indented annotation", fstest.MapFS{"sqlite3/00001_a.sql": file("  -- +goose Up\nCREATE TABLE a (x INT);\n")},
			[]string{"sqlite3/00001_a.sql", "line 1", "must start at the beginning of the line"}},
		{"unknown annotation", fstest.MapFS{"sqlite3/00001_a.sql": file("-- +goose Up\n-- +goose StatementStart\nSELECT 1;\n")},
			[]string{"sqlite3/00001_a.sql", "line 2", `unknown goose annotation "-- +goose StatementStart"`}},
		{"Down before Up", fstest.MapFS{"sqlite3/00001_a.sql": file("-- +goose Down\nDROP TABLE a;\n-- +goose Up\nCREATE TABLE a (x INT);\n")},
			[]string{"sqlite3/00001_a.sql", "line 1", "'-- +goose Down' must come once, after"}},
		{"two Ups", fstest.MapFS{"sqlite3/00001_a.sql": file("-- +goose Up\nSELECT 1;\n-- +goose Up\nSELECT 2;\n")},
			[]string{"sqlite3/00001_a.sql", "line 3: a second '-- +goose Up'"}},
		{"StatementBegin unclosed", fstest.MapFS{"sqlite3/00001_a.sql": file("-- +goose Up\n-- +goose StatementBegin\nSELECT 1;\n")},
			[]string{"sqlite3/00001_a.sql", "without '-- +goose StatementEnd'"}},
		{"no version", fstest.MapFS{"sqlite3/00001_a.sql": good, "sqlite3/init.sql": good},
			[]string{"sqlite3/init.sql", "goose would skip it", "NNNNN_description.sql"}},
		{"hyphen for underscore", fstest.MapFS{"sqlite3/00001_a.sql": good, "sqlite3/00002-b.sql": good},
			[]string{"sqlite3/00002-b.sql", "goose would skip it", "NNNNN_description.sql"}},
		{"version 0", fstest.MapFS{"sqlite3/00000_a.sql": good},
			[]string{"sqlite3/00000_a.sql", "a version above 0"}},
		{"upper-case extension", fstest.MapFS{"sqlite3/00001_a.sql": good, "sqlite3/00002_b.SQL": good},
			[]string{"sqlite3/00002_b.SQL", "only files ending in .sql, in lower case"}},
		{"duplicate version", fstest.MapFS{"sqlite3/00001_a.sql": good, "sqlite3/1_b.sql": good},
			[]string{"duplicate migration version 1"}},
		{"go migration", withGoMigration(), []string{"sqlite3/00002_code.go", "Go migrations are not supported"}},
		{"no sql migration", emptyDialectDir(), []string{`no SQL migrations (NNNNN_description.sql) in directory "sqlite3"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := dbstrategy.NewManager(newCounting(t, 0), dbstrategy.WithMigrations(tt.fsys))
			if !errors.Is(err, dbstrategy.ErrInvalidConfig) {
				t.Fatalf("NewManager() error = %v, want ErrInvalidConfig", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("NewManager() error = %q, does not contain %q", err, w)
				}
			}
		})
	}
}

// TestMigrationsAccepted checks what the checks must let through: goose's
// optional annotations in any case, comments before Up, files goose
// ignores, and a Down section with StatementBegin/End blocks.
func TestMigrationsAccepted(t *testing.T) {
	fsys := fstest.MapFS{
		"sqlite3/00001_a.sql": &fstest.MapFile{Data: []byte("-- A comment first.\n-- +goose NO TRANSACTION\n\n-- +goose up\r\nCREATE TABLE a (x INT);\r\n" +
			"-- +goose StatementBegin\nCREATE TRIGGER t AFTER INSERT ON a BEGIN SELECT 1; END;\n-- +goose StatementEnd\n" +
			"-- +goose Down\n-- +goose StatementBegin\nDROP TABLE a;\n-- +goose StatementEnd\n")},
		"sqlite3/README.md":        &fstest.MapFile{Data: []byte("notes")},
		"sqlite3/helpers.go":       &fstest.MapFile{Data: []byte("package migrations\n")},
		"sqlite3/00002_x_test.go":  &fstest.MapFile{Data: []byte("package migrations\n")},
		"sqlite3/archive/old.sql":  &fstest.MapFile{Data: []byte("not a migration")},
		"postgres/00001_a.sql":     &fstest.MapFile{Data: []byte("broken, but not this strategy's dialect")},
		"postgres/not-a-migration": &fstest.MapFile{Data: []byte("")},
	}
	m := newManager(t, newCounting(t, 0), dbstrategy.WithMigrations(fsys))
	if err := m.Create(context.Background(), "acme"); err != nil { // goose agrees
		t.Errorf("Create() error = %v", err)
	}
}
