// Package migrations holds the schema of every tenant's database of the
// notes example: goose SQL files in one directory per dialect, as
// dbstrategy.WithMigrations wants them.
package migrations

import "embed"

// FS holds sqlite3/, the migrations of SQLite tenants.
//
//go:embed sqlite3
var FS embed.FS
