package main

import (
	"database/sql"
	"errors"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/ncruces/go-sqlite3"
	"github.com/ncruces/go-sqlite3/driver"
)

// openPrivateSQLite opens the SQLite database at path with the DSN query
// params. The file and its -wal and -shm are created 0600 first, as every
// file the server makes: SQLite would create them 0666 less the umask,
// readable by every local user under the usual umask 022, and they hold
// password and refresh token hashes. The -wal and -shm files are kept
// when the last connection closes (FCNTL_PERSIST_WAL), so SQLite never
// creates them again with its own mode.
func openPrivateSQLite(path, params string) (*sql.DB, error) {
	for _, f := range []string{path, path + "-wal", path + "-shm"} {
		if err := createPrivate(f); err != nil {
			return nil, err
		}
	}
	// modeof: the driver gives each file it opens (the -wal, which SQLite
	// deletes and makes again) the mode of the database file.
	// SQLite decodes %XX in a URI, but not '+' as a space.
	modeof := strings.ReplaceAll(url.Values{"modeof": {path}}.Encode(), "+", "%20")
	u := url.URL{Scheme: "file", Path: filepath.ToSlash(path), RawQuery: params + "&" + modeof}
	return driver.Open(u.String(), func(c *sqlite3.Conn) error {
		_, err := c.FileControl("main", sqlite3.FCNTL_PERSIST_WAL, true)
		return err
	})
}

// createPrivate creates an empty file at path with mode 0600, unless one
// exists. A file that exists keeps its mode.
func createPrivate(path string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return nil
	}
	if err != nil {
		return err
	}
	return f.Close()
}
