package sqlitestrategy

import (
	"runtime"
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
