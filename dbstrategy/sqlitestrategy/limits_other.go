//go:build !linux

package sqlitestrategy

// fileLimit returns 0: the descriptor limit is read on Linux only.
func fileLimit() uint64 { return 0 }
