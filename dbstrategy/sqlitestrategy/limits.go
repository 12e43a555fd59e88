package sqlitestrategy

import (
	"bufio"
	"bytes"
	"math"
	"os"
	"path"
	"strconv"
	"strings"
)

// What an open tenant handle holding one connection costs, measured on
// linux/amd64 with ncruces/go-sqlite3 v0.37.0 over 1,000 handles
// (BenchmarkHandleMemory): the bases of [DefaultMaxOpen]. Each further
// connection of a busy handle is another driver instance and costs about
// as much again.
const (
	// HandleFDs is the file descriptors of a connection: the database,
	// its -wal and its -shm file.
	HandleFDs = 3

	// HandleMaps is the memory mappings (vm.max_map_count counts them)
	// of a connection: the driver's reserved linear memory, in two parts,
	// and the -shm file's.
	HandleMaps = 4

	// HandleMemory is the RSS of a connection that has run one statement
	// on a small database, about 0.32 MiB. A connection's page cache grows
	// with what it reads, up to SQLite's cache_size (2,000 KiB by
	// default), and the driver never gives that memory back while the
	// connection is open.
	HandleMemory = 330_000
)

// Bounds of [DefaultMaxOpen].
const (
	// MinDefaultMaxOpen is the least DefaultMaxOpen returns, however
	// small the process's limits.
	MinDefaultMaxOpen = 16

	// MaxDefaultMaxOpen is the most DefaultMaxOpen returns, however large
	// the process's limits.
	MaxDefaultMaxOpen = 100_000

	// FallbackMaxOpen is DefaultMaxOpen where none of the process's
	// limits can be read (outside Linux).
	FallbackMaxOpen = 2048
)

// DefaultMaxOpen returns the default of [Config.MaxOpen] in this process:
// as many handles as the process's limits leave room for, each counted
// with one connection, so that a fleet of many active tenants stays open
// without the process running out of descriptors, mappings or memory:
//
//   - descriptors: three quarters of the soft RLIMIT_NOFILE, at
//     [HandleFDs] each. The quarter left is for client sockets, the extra
//     connections of busy handles and the rest of the process. Go raises
//     the soft limit to the hard one when a program starts (since Go
//     1.19), so this is the hard limit unless the program lowered it.
//   - memory mappings: half of vm.max_map_count, at [HandleMaps] each.
//     When the kernel refuses the driver a mapping, the driver panics
//     and the process dies, so this bound is kept well clear of.
//   - memory: a quarter of the memory the process may use (its cgroup v2
//     memory.max, else the machine's MemTotal), at 1 MiB each: three times
//     [HandleMemory], for page caches that grow past a small database's
//     and for extra connections.
//
// The least of these, clamped to [MinDefaultMaxOpen] ..
// [MaxDefaultMaxOpen], is the default. A limit that cannot be read bounds
// nothing; if none can (outside Linux), the default is [FallbackMaxOpen].
//
// On a 2-core machine with 23 GiB and a descriptor limit of 20,000 (the
// one of docs/benchmarks.md), descriptors bind: 5,000 handles, about
// 1.6 GiB of RSS when each holds one connection.
func DefaultMaxOpen() int {
	return defaultMaxOpen(readLimits())
}

// limits are what the process may use; 0 means unknown.
type limits struct {
	nofile   uint64 // soft RLIMIT_NOFILE
	maxMaps  uint64 // vm.max_map_count
	memBytes uint64 // cgroup memory.max, else MemTotal
}

// defaultMaxOpen is DefaultMaxOpen's rule applied to l.
func defaultMaxOpen(l limits) int {
	n, known := uint64(MaxDefaultMaxOpen), false
	bound := func(limit, share, cost uint64) {
		if limit == 0 {
			return
		}
		known = true
		n = min(n, limit/share/cost)
	}
	if l.nofile > 0 {
		known = true
		n = min(n, l.nofile/4*3/HandleFDs)
	}
	bound(l.maxMaps, 2, HandleMaps)
	bound(l.memBytes, 4, 1<<20)
	if !known {
		return FallbackMaxOpen
	}
	return int(max(n, MinDefaultMaxOpen))
}

// readLimits reads the process's limits; what it cannot read is 0.
func readLimits() limits {
	return limits{
		nofile:   fileLimit(),
		maxMaps:  readUint("/proc/sys/vm/max_map_count"),
		memBytes: memoryLimit(),
	}
}

// memoryLimit returns the least memory.max of the process's cgroup v2 and
// its ancestors, else the machine's MemTotal, else 0.
func memoryLimit() uint64 {
	total := memTotal()
	b, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return total
	}
	for _, dir := range cgroupDirs(b) {
		if m := readUint(path.Join("/sys/fs/cgroup", dir, "memory.max")); m > 0 && (total == 0 || m < total) {
			total = m
		}
	}
	return total
}

// cgroupDirs returns, from the contents of /proc/self/cgroup, the
// process's cgroup v2 directory and each of its ancestors up to "/", all
// absolute and clean, so none leads outside the cgroup file system.
func cgroupDirs(b []byte) []string {
	var dirs []string
	for line := range strings.Lines(string(b)) {
		dir, ok := strings.CutPrefix(strings.TrimSpace(line), "0::")
		if !ok {
			continue
		}
		for dir = path.Clean("/" + dir); ; dir = path.Dir(dir) {
			dirs = append(dirs, dir)
			if dir == "/" {
				break
			}
		}
	}
	return dirs
}

// memTotal returns MemTotal from /proc/meminfo in bytes, or 0.
func memTotal() uint64 {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0
	}
	return parseMemTotal(b)
}

// parseMemTotal returns the MemTotal line of the contents of /proc/meminfo
// in bytes, or 0 if it has none, or one it cannot read.
func parseMemTotal(b []byte) uint64 {
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		rest, ok := bytes.CutPrefix(sc.Bytes(), []byte("MemTotal:"))
		if !ok {
			continue
		}
		kb, ok := bytes.CutSuffix(bytes.TrimSpace(rest), []byte(" kB"))
		if !ok {
			return 0
		}
		n, err := strconv.ParseUint(string(bytes.TrimSpace(kb)), 10, 64)
		if err != nil || n > math.MaxUint64>>10 {
			return 0
		}
		return n << 10
	}
	return 0
}

// readUint returns the number a one-line file holds, or 0 if it cannot be
// read or holds something else ("max" in a cgroup file).
func readUint(name string) uint64 {
	b, err := os.ReadFile(name)
	if err != nil {
		return 0
	}
	n, err := strconv.ParseUint(string(bytes.TrimSpace(b)), 10, 64)
	if err != nil {
		return 0
	}
	return n
}
