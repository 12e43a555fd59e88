// Package migrations embeds the reference server's goose SQL migrations:
// Core for the core directory database and Tenant for every tenant
// database, each with one directory per dialect ("sqlite3", "postgres").
package migrations

import (
	"embed"
	"io/fs"
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
