package sqlitestrategy

import "syscall"

// fileLimit returns the soft RLIMIT_NOFILE, or 0 if it cannot be read or
// is unlimited.
func fileLimit() uint64 {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil || l.Cur == ^uint64(0) {
		return 0
	}
	return l.Cur
}
