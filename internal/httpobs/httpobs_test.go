package httpobs

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

func TestRequestID(t *testing.T) {
	for _, id := range []string{"abc", "A-b_c.9", strings.Repeat("x", 64)} {
		if got := RequestID(id); got != id {
			t.Errorf("RequestID(%q) = %q, want it kept", id, got)
		}
	}
	for _, id := range []string{"", strings.Repeat("x", 65), "a b", "a\nb", "é", "a=b"} {
		got := RequestID(id)
		if got == id || len(got) != 16 || !validRequestID(got) {
			t.Errorf("RequestID(%q) = %q, want a new 16-digit id", id, got)
		}
	}
	if a, b := RequestID(""), RequestID(""); a == b {
		t.Errorf("two new ids are both %q", a)
	}
}

func TestMethod(t *testing.T) {
	for in, want := range map[string]string{"GET": "GET", "DELETE": "DELETE", "TRACE": "TRACE", "get": "OTHER", "X1": "OTHER", "": "OTHER"} {
		if got := Method(in); got != want {
			t.Errorf("Method(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestRequestMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	m, err := NewRequestMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	m.Observe("GET /x", "GET", 200, time.Millisecond)
	m.Observe("GET /x", "GET", 200, time.Millisecond)
	m.Observe("unmatched", "FOO", 404, time.Millisecond)
	m.Observe("unmatched", "BAR", 404, time.Millisecond)
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, f := range fams {
		if f.GetName() != "http_requests_total" {
			continue
		}
		for _, mt := range f.GetMetric() {
			var labels []string
			for _, l := range mt.GetLabel() {
				labels = append(labels, l.GetValue())
			}
			got[strings.Join(labels, " ")] = mt.GetCounter().GetValue()
		}
	}
	// Labels come sorted by name: method, route, status.
	want := map[string]float64{"GET GET /x 200": 2, "OTHER unmatched 404": 2}
	if len(got) != len(want) || got["GET GET /x 200"] != 2 || got["OTHER unmatched 404"] != 2 {
		t.Errorf("http_requests_total = %v, want %v", got, want)
	}
	if _, err := NewRequestMetrics(reg); err == nil {
		t.Error("registering twice: no error")
	}
}
