//go:build unix

package sqlitestrategy_test

import "syscall"

// cpuTime returns the CPU time (user and system) this process has used, in
// nanoseconds: on a machine shared with other work, CPU per operation
// varies less than wall time per operation.
func cpuTime() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}
