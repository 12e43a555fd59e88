package sqlitestrategy_test

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// otherSQLite3Tag builds othersqlite3_test.go: its init registers another
// driver as "sqlite3", as an app that imports github.com/mattn/go-sqlite3
// does.
const otherSQLite3Tag = "tenantkit_othersqlite3"

// TestDriverNameUnregistered builds this package's tests with another
// driver registered as "sqlite3" and the ncruces driver registered under
// no name (the -ldflags of the package doc), and runs
// TestOtherSQLite3Driver there: the build does not panic at start-up, and
// sqlitestrategy creates, opens, migrates and drops tenants without any
// driver name.
func TestDriverNameUnregistered(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the package's tests again; skipped in -short mode")
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skipf("the go command is not on PATH: %v", err)
	}
	cmd := exec.Command(goBin, "test", "-count=1", "-tags", otherSQLite3Tag,
		"-ldflags=-X github.com/ncruces/go-sqlite3/driver.driverName=",
		"-run", "^TestOtherSQLite3Driver$", "-v", ".") // the test runs in the package folder
	cmd.Env = append(os.Environ(), "GOFLAGS=")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("go test -tags %s: %v\n%s", otherSQLite3Tag, err, out)
	}
	if !strings.Contains(string(out), "--- PASS: TestOtherSQLite3Driver") {
		t.Fatalf("go test -tags %s did not run TestOtherSQLite3Driver:\n%s", otherSQLite3Tag, out)
	}
}
