package sqlitestrategy

import (
	"path"
	"runtime"
	"slices"
	"strings"
	"testing"
)

// TestDefaultMaxOpenRule checks DefaultMaxOpen's rule: the least of what
// the descriptors, the memory mappings and the memory leave room for,
// clamped, with unknown limits bounding nothing.
func TestDefaultMaxOpenRule(t *testing.T) {
	const gib = 1 << 30
	tests := []struct {
		name string
		l    limits
		want int
	}{
		// The machine of docs/benchmarks.md: descriptors bind.
		{"benchmark machine", limits{nofile: 20_000, maxMaps: 65_530, memBytes: 23 * gib}, 5_000},
		{"default Linux limits", limits{nofile: 1_048_576, maxMaps: 65_530, memBytes: 64 * gib}, 8_191},
		{"small container", limits{nofile: 1_048_576, maxMaps: 65_530, memBytes: 2 * gib}, 512},
		{"soft limit 1024", limits{nofile: 1024, maxMaps: 65_530, memBytes: 64 * gib}, 256},
		{"tiny limits", limits{nofile: 32, maxMaps: 65_530, memBytes: 64 * gib}, MinDefaultMaxOpen},
		{"huge limits", limits{nofile: 1 << 30, maxMaps: 1 << 30, memBytes: 1 << 50}, MaxDefaultMaxOpen},
		{"only descriptors known", limits{nofile: 20_000}, 5_000},
		{"only memory known", limits{memBytes: 8 * gib}, 2_048},
		{"nothing known", limits{}, FallbackMaxOpen},
	}
	for _, tt := range tests {
		if got := defaultMaxOpen(tt.l); got != tt.want {
			t.Errorf("%s: defaultMaxOpen(%+v) = %d, want %d", tt.name, tt.l, got, tt.want)
		}
	}
}

// TestDefaultMaxOpenHere checks that this process's limits are read on
// Linux, that the default never needs more descriptors than the process
// may open, and that New's default is DefaultMaxOpen().
func TestDefaultMaxOpenHere(t *testing.T) {
	l := readLimits()
	t.Logf("limits here: %+v; DefaultMaxOpen() = %d", l, DefaultMaxOpen())
	if runtime.GOOS == "linux" && (l.nofile == 0 || l.maxMaps == 0 || l.memBytes == 0) {
		t.Errorf("on Linux every limit should be readable: %+v", l)
	}
	if l.nofile > 0 && uint64(DefaultMaxOpen())*HandleFDs > l.nofile && DefaultMaxOpen() > MinDefaultMaxOpen {
		t.Errorf("DefaultMaxOpen() = %d handles need %d descriptors, more than the limit %d", DefaultMaxOpen(), DefaultMaxOpen()*HandleFDs, l.nofile)
	}
	s, err := New(Config{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := s.MaxHandles(), DefaultMaxOpen(); got != want {
		t.Errorf("MaxHandles() with Config.MaxOpen 0 = %d, want DefaultMaxOpen() = %d", got, want)
	}
	s, err = New(Config{Dir: t.TempDir(), MaxOpen: 7})
	if err != nil {
		t.Fatal(err)
	}
	if got := s.MaxHandles(); got != 7 {
		t.Errorf("MaxHandles() with Config.MaxOpen 7 = %d", got)
	}
}

func TestParseLimits(t *testing.T) {
	meminfo := "MemFree:        1000 kB\nMemTotal:       24576000 kB\n"
	if got := parseMemTotal([]byte(meminfo)); got != 24576000<<10 {
		t.Errorf("parseMemTotal = %d, want %d", got, uint64(24576000)<<10)
	}
	for _, bad := range []string{"", "MemTotal: 12 MB\n", "MemTotal: x kB\n", "MemTotal: 99999999999999999999 kB\n"} {
		if got := parseMemTotal([]byte(bad)); got != 0 {
			t.Errorf("parseMemTotal(%q) = %d, want 0", bad, got)
		}
	}
	got := cgroupDirs([]byte("1:name=systemd:/x\n0::/system.slice/app.service\n"))
	want := []string{"/system.slice/app.service", "/system.slice", "/"}
	if !slices.Equal(got, want) {
		t.Errorf("cgroupDirs = %q, want %q", got, want)
	}
	if got := cgroupDirs([]byte("0::/../../etc\n")); !slices.Equal(got, []string{"/etc", "/"}) {
		t.Errorf("cgroupDirs of a path climbing out = %q, want it kept under /", got)
	}
}

// FuzzParseLimits checks that the parsers of /proc files never panic, that
// a MemTotal read is whole kB, and that every cgroup directory is absolute
// and clean, so none leads outside /sys/fs/cgroup.
func FuzzParseLimits(f *testing.F) {
	f.Add([]byte("MemTotal:       24576000 kB\n0::/a/b\n"))
	f.Add([]byte("0::/../x\n0::\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if n := parseMemTotal(b); n%1024 != 0 {
			t.Errorf("parseMemTotal(%q) = %d, not whole kB", b, n)
		}
		for _, dir := range cgroupDirs(b) {
			if !strings.HasPrefix(dir, "/") || path.Clean(dir) != dir {
				t.Errorf("cgroupDirs(%q) gave %q", b, dir)
			}
			if j := path.Join("/sys/fs/cgroup", dir); !strings.HasPrefix(j, "/sys/fs/cgroup") {
				t.Errorf("cgroupDirs(%q) gave %q, outside the cgroup file system", b, dir)
			}
		}
	})
}
