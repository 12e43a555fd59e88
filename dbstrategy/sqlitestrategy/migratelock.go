package sqlitestrategy

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/pressly/goose/v3/lock"
)

// migrateLockSuffix names the lock file beside a tenant database that
// serializes its migrations across processes: path + migrateLockSuffix.
const migrateLockSuffix = "-migrate-lock"

// lockPoll is how often a migration waiting for another process's lock
// tries again.
const lockPoll = 10 * time.Millisecond

// MigrationLocker returns a goose session locker that serializes the
// migrations of one tenant database across processes, for
// [dbstrategy.MigrationLocker]: two processes (replicas on one machine, an
// admin command beside a server) that migrate one tenant at once would
// otherwise both read the same version and the second fail ("table already
// exists"). It takes an exclusive lock (flock) on a file beside the
// database, "<file>-migrate-lock", found from the connection goose hands
// it, and waits for it until the context ends; the file is removed when
// the migrations end (and by [Strategy.Drop], after a crash). Where flock does not exist (not Unix), migrations are serialized
// within one Manager only.
func (s *Strategy) MigrationLocker() (lock.SessionLocker, error) {
	return &fileLocker{held: make(map[*sql.Conn]*os.File)}, nil
}

// fileLocker is the SessionLocker of MigrationLocker: the lock file each
// locked connection holds.
type fileLocker struct {
	mu   sync.Mutex
	held map[*sql.Conn]*os.File
}

// SessionLock locks the lock file of conn's database, waiting for another
// holder until ctx ends.
func (l *fileLocker) SessionLock(ctx context.Context, conn *sql.Conn) error {
	var path string
	if err := conn.QueryRowContext(ctx, `SELECT file FROM pragma_database_list WHERE name = 'main'`).Scan(&path); err != nil {
		return fmt.Errorf("sqlitestrategy: migration lock: database file: %w", err)
	}
	if path == "" {
		return nil // an in-memory database: nobody else can migrate it
	}
	f, err := lockFile(ctx, path+migrateLockSuffix)
	if err != nil {
		return err
	}
	l.mu.Lock()
	l.held[conn] = f
	l.mu.Unlock()
	return nil
}

// lockFile creates (or opens) the lock file name and takes an exclusive
// flock on it, waiting until ctx ends. The holder removes the file before
// it lets go (SessionUnlock), so a waiter that gets the lock checks that
// the name still is the file it locked, and starts again if not.
func lockFile(ctx context.Context, name string) (*os.File, error) {
	for {
		f, err := os.OpenFile(name, os.O_CREATE|os.O_RDWR, 0o600)
		if err != nil {
			return nil, fmt.Errorf("sqlitestrategy: migration lock: %w", err)
		}
		for {
			ok, err := tryLock(f)
			if err != nil {
				f.Close()
				return nil, fmt.Errorf("sqlitestrategy: migration lock %s: %w", name, err)
			}
			if ok {
				break
			}
			select {
			case <-ctx.Done():
				f.Close()
				return nil, fmt.Errorf("sqlitestrategy: migration lock %s: %w", name, ctx.Err())
			case <-time.After(lockPoll):
			}
		}
		held, err := f.Stat()
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("sqlitestrategy: migration lock %s: %w", name, err)
		}
		if named, err := os.Stat(name); err == nil && os.SameFile(held, named) {
			return f, nil
		}
		f.Close() // removed by the holder before: lock the file now there
	}
}

// SessionUnlock releases the lock SessionLock took for conn: it removes
// the lock file, so none is left beside the database, then closes it,
// which releases the lock.
func (l *fileLocker) SessionUnlock(_ context.Context, conn *sql.Conn) error {
	l.mu.Lock()
	f := l.held[conn]
	delete(l.held, conn)
	l.mu.Unlock()
	if f == nil {
		return nil
	}
	rerr := os.Remove(f.Name())
	if err := f.Close(); err != nil || rerr != nil {
		if err == nil {
			err = rerr
		}
		return fmt.Errorf("sqlitestrategy: migration unlock: %w", err)
	}
	return nil
}
