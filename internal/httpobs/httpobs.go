package httpobs

import (
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// RequestID returns the client's X-Request-ID value when it is 1 to 64
// letters, digits, '-', '_' or '.', so that a client's id cannot forge log
// lines, and otherwise a new random id of 16 hex digits.
func RequestID(header string) string {
	if validRequestID(header) {
		return header
	}
	var b [8]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return hex.EncodeToString(b[:])
}

func validRequestID(id string) bool {
	if len(id) == 0 || len(id) > 64 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

// Method is the method label of a request: the method if it is one of
// HTTP's nine standard ones, else "OTHER". Any token is a valid method to
// net/http, and an unmatched route passes it on, so the raw value would let
// clients add series without end.
func Method(method string) string {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions, http.MethodConnect, http.MethodTrace:
		return method
	}
	return "OTHER"
}

// RequestMetrics counts requests by route pattern, method and status
// (http_requests_total) and records their latency by route pattern and
// method (http_request_duration_seconds). It is safe for concurrent use.
type RequestMetrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec

	// series caches the counter and histogram of each (route, method,
	// status), so a request skips the label hashing and lookups of
	// WithLabelValues. Its keys are as bounded as the labels.
	series sync.Map // seriesKey -> *series
}

type seriesKey struct {
	route, method string
	status        int
}

type series struct {
	requests prometheus.Counter
	duration prometheus.Observer
}

// NewRequestMetrics returns request metrics registered with reg.
func NewRequestMetrics(reg prometheus.Registerer) (*RequestMetrics, error) {
	m := &RequestMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "http_requests_total",
			Help: "HTTP requests by route pattern, method and status.",
		}, []string{"route", "method", "status"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "http_request_duration_seconds",
			Help:    "HTTP request latency by route pattern and method.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}, []string{"route", "method"}),
	}
	for _, c := range []prometheus.Collector{m.requests, m.duration} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// Observe records one finished request. route must be a bounded value, a
// route pattern and never a raw path; method is folded by [Method].
func (m *RequestMetrics) Observe(route, method string, status int, took time.Duration) {
	method = Method(method)
	k := seriesKey{route, method, status}
	v, ok := m.series.Load(k)
	if !ok {
		v, _ = m.series.LoadOrStore(k, &series{
			requests: m.requests.WithLabelValues(route, method, strconv.Itoa(status)),
			duration: m.duration.WithLabelValues(route, method),
		})
	}
	s := v.(*series)
	s.requests.Inc()
	s.duration.Observe(took.Seconds())
}
