package main

import (
	"bufio"
	"os"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestParseMix(t *testing.T) {
	tests := []struct {
		in      string
		want    [numOps]int
		wantErr bool
	}{
		{in: "read=90,update=9,login=1", want: [numOps]int{90, 9, 1}},
		{in: "read=1", want: [numOps]int{1, 0, 0}},
		{in: " login=2 , read=3", want: [numOps]int{3, 0, 2}},
		{in: "read=0", wantErr: true},
		{in: "read=-1", wantErr: true},
		{in: "write=1", wantErr: true},
		{in: "read", wantErr: true},
		{in: "", wantErr: true},
	}
	for _, tt := range tests {
		got, err := parseMix(tt.in)
		if (err != nil) != tt.wantErr || (!tt.wantErr && got != tt.want) {
			t.Errorf("parseMix(%q) = %v, %v; want %v, error %v", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}

func FuzzParseMix(f *testing.F) {
	for _, s := range []string{"read=90,update=9,login=1", "read=1", "login=0,read=", "=,="} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		mix, err := parseMix(s)
		if err != nil {
			return
		}
		total := 0
		for _, w := range mix {
			if w < 0 {
				t.Fatalf("parseMix(%q) = %v: negative weight", s, mix)
			}
			total += w
		}
		if total <= 0 {
			t.Fatalf("parseMix(%q) = %v: no weight", s, mix)
		}
	})
}

func TestParsePhases(t *testing.T) {
	tests := []struct {
		in       string
		baseline bool
		want     string
		wantErr  bool
	}{
		{in: "baseline,one,dist", baseline: true, want: "baseline,one,dist"},
		{in: "baseline,one,dist", baseline: false, want: "one,dist"},
		{in: "dist, one", baseline: true, want: "dist,one"},
		{in: "one,one", baseline: true, wantErr: true},
		{in: "two", baseline: true, wantErr: true},
		{in: "baseline", baseline: false, wantErr: true},
	}
	for _, tt := range tests {
		got, err := parsePhases(tt.in, tt.baseline)
		if (err != nil) != tt.wantErr || strings.Join(got, ",") != tt.want {
			t.Errorf("parsePhases(%q, %v) = %q, %v; want %q, error %v", tt.in, tt.baseline, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestParseConfig(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		wantErr bool
	}{
		{name: "defaults", args: nil},
		{name: "zipf exponent 1", args: []string{"-zipf-s", "1"}, wantErr: true},
		{name: "uniform ignores exponent", args: []string{"-dist", "uniform", "-zipf-s", "1"}},
		{name: "unknown db", args: []string{"-db", "mysql"}, wantErr: true},
		{name: "clean without reuse", args: []string{"-clean"}, wantErr: true},
		{name: "mint without secret", args: []string{"-url", "http://127.0.0.1:1", "-tokens", "mint"}, wantErr: true},
		{name: "bad url", args: []string{"-url", "ftp://x"}, wantErr: true},
		{name: "positional", args: []string{"extra"}, wantErr: true},
		{name: "tenant conns", args: []string{"-db-max-conns", "10", "-db-tenant-conns", "10"}},
		{name: "tenant conns over budget", args: []string{"-db-max-conns", "10", "-db-tenant-conns", "11"}, wantErr: true},
		{name: "negative tenant conns", args: []string{"-db-tenant-conns", "-1"}, wantErr: true},
		{name: "schema per tenant", args: []string{"-db", "postgres", "-tenant-isolation", "schema"}},
		{name: "schema on SQLite", args: []string{"-tenant-isolation", "schema"}, wantErr: true},
		{name: "unknown isolation", args: []string{"-db", "postgres", "-tenant-isolation", "table"}, wantErr: true},
		{name: "two servers", args: []string{"-db", "postgres", "-pg-servers", "a=postgres://h1/postgres, b=postgres://h2/postgres"}},
		{name: "servers on SQLite", args: []string{"-pg-servers", "a=postgres://h1/postgres"}, wantErr: true},
		{name: "servers with -url", args: []string{"-db", "postgres", "-url", "http://127.0.0.1:1", "-pg-servers", "a=postgres://h1/postgres"}, wantErr: true},
		{name: "servers with -reuse", args: []string{"-db", "postgres", "-reuse", "x", "-pg-servers", "a=postgres://h1/postgres"}, wantErr: true},
		{name: "server unnamed", args: []string{"-db", "postgres", "-pg-servers", "postgres://h1/postgres"}, wantErr: true},
		{name: "server named twice", args: []string{"-db", "postgres", "-pg-servers", "a=postgres://h1/postgres,a=postgres://h2/postgres"}, wantErr: true},
		{name: "server not postgres", args: []string{"-db", "postgres", "-pg-servers", "a=mysql://h1/x"}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseConfig(tt.args, nil)
			if (err != nil) != tt.wantErr {
				t.Errorf("parseConfig(%q) error = %v, want error %v", tt.args, err, tt.wantErr)
			}
		})
	}
	c, err := parseConfig([]string{"-db", "postgres", "-pg-servers", "pg1=postgres://h1/postgres pg2=postgres://h2/postgres"}, nil)
	if want := []pgServer{{"pg1", "postgres://h1/postgres"}, {"pg2", "postgres://h2/postgres"}}; err != nil || !slices.Equal(c.pgServers, want) {
		t.Errorf("-pg-servers: %v, %v; want %v", c.pgServers, err, want)
	}
	c, err = parseConfig([]string{"-tenants", "1"}, nil)
	if err != nil || strings.Join(c.phases, ",") != "map-one,one" {
		t.Errorf("-tenants 1: phases %q, %v; want map-one,one (no dist phase over one tenant)", c.phases, err)
	}
	c, err = parseConfig([]string{"-db", "postgres"}, nil)
	if err != nil || strings.Join(c.phases, ",") != "one,dist" {
		t.Errorf("-db postgres: phases %q, %v; want one,dist (the map server is SQLite only)", c.phases, err)
	}
	if _, err := parseConfig([]string{"-db", "postgres", "-phases", "map-one,one"}, nil); err == nil {
		t.Errorf("-db postgres -phases map-one,one: no error; want one (the map server is SQLite only)")
	}
}

func TestParseMetric(t *testing.T) {
	tests := []struct {
		name   string
		text   string
		want   float64
		wantOK bool
	}{
		{name: "plain", text: "# HELP tenantkit_handles_open x\n# TYPE tenantkit_handles_open gauge\ntenantkit_handles_open 12\n", want: 12, wantOK: true},
		{name: "labels summed", text: "tenantkit_handles_open{db=\"a\"} 2\ntenantkit_handles_open{db=\"b\"} 3.5 1700000000\n", want: 5.5, wantOK: true},
		{name: "longer name is another metric", text: "tenantkit_handles_open_total 7\n", wantOK: false},
		{name: "absent", text: "http_requests_total 1\n", wantOK: false},
		{name: "malformed value", text: "tenantkit_handles_open abc\n", wantOK: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := parseMetric(bufio.NewScanner(strings.NewReader(tt.text)), handlesMetric)
			if got != tt.want || ok != tt.wantOK {
				t.Errorf("parseMetric() = %v, %v; want %v, %v", got, ok, tt.want, tt.wantOK)
			}
		})
	}
}

func FuzzParseMetric(f *testing.F) {
	f.Add("tenantkit_handles_open 12\n")
	f.Add("tenantkit_handles_open{a=\"}\"} 1\n")
	f.Add("tenantkit_handles_open")
	f.Fuzz(func(t *testing.T, text string) {
		_, _ = parseMetric(bufio.NewScanner(strings.NewReader(text)), handlesMetric)
	})
}

func TestLatencyStats(t *testing.T) {
	var d []time.Duration
	for i := 100; i >= 1; i-- {
		d = append(d, time.Duration(i)*time.Millisecond)
	}
	got := newLatencyStats(d)
	want := latencyStats{N: 100, Mean: 50.5, P50: 50, P95: 95, P99: 99, Max: 100}
	if got == nil || *got != want {
		t.Errorf("newLatencyStats(1..100 ms) = %+v, want %+v", got, want)
	}
	if got := newLatencyStats(nil); got != nil {
		t.Errorf("newLatencyStats(nil) = %+v, want nil", got)
	}
}

func TestReadProc(t *testing.T) {
	m, err := readMem(os.Getpid())
	if err != nil || m.RSS <= 0 || m.HWM < m.RSS {
		t.Errorf("readMem(self) = %+v, %v; want 0 < RSS <= HWM", m, err)
	}
	if _, err := readCPU(os.Getpid()); err != nil {
		t.Errorf("readCPU(self) = %v", err)
	}
}

func TestMedian(t *testing.T) {
	if got := median([]float64{3, 1, 2}); got != 2 {
		t.Errorf("median(3,1,2) = %v, want 2", got)
	}
	if got := median([]float64{4, 1, 2, 3}); got != 2.5 {
		t.Errorf("median(4,1,2,3) = %v, want 2.5", got)
	}
}
