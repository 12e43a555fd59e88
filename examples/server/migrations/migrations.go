// Package migrations embeds the reference server's goose SQL migrations:
// Core for the core directory database and Tenant for every tenant
// database, each with one directory per dialect ("sqlite3", "postgres").
package migrations

import (
	"embed"
	"fmt"
	"io/fs"
	"strconv"
	"strings"
)

//go:embed core
var core embed.FS

//go:embed tenant
var tenant embed.FS

// Core returns the core database's migrations, one directory per dialect.
func Core() fs.FS { return sub(core, "core") }

// Tenant returns the tenant databases' migrations, one directory per dialect.
func Tenant() fs.FS { return sub(tenant, "tenant") }

func sub(fsys embed.FS, dir string) fs.FS {
	s, err := fs.Sub(fsys, dir)
	if err != nil {
		// fs.Sub fails only for an invalid path, and dir is a constant.
		return fsys
	}
	return s
}

// Latest returns the newest migration version in fsys/dialect: the
// version a fully migrated database reports. Versions are the leading
// digits of goose file names.
func Latest(fsys fs.FS, dialect string) (int64, error) {
	entries, err := fs.ReadDir(fsys, dialect)
	if err != nil {
		return 0, err
	}
	var latest int64
	for _, e := range entries {
		digits, _, ok := strings.Cut(e.Name(), "_")
		if !ok || !strings.HasSuffix(e.Name(), ".sql") {
			continue
		}
		v, err := strconv.ParseInt(digits, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("migration %s: version is not a number", e.Name())
		}
		latest = max(latest, v)
	}
	return latest, nil
}
