//go:build !unix

package sqlitestrategy

import "os"

// tryLock takes no lock where flock does not exist: migrations are then
// serialized within one Manager only.
func tryLock(*os.File) (bool, error) { return true, nil }
