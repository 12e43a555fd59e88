//go:build !unix

package sqlitestrategy_test

// cpuTime returns 0: CPU time is read on Unix only.
func cpuTime() int64 { return 0 }
