package main

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// handlesMetric is the gauge of open tenant handles the harness looks for
// on the server's /metrics (Prometheus text format); opensMetric counts
// the handles opened, one per miss of the server's handle cache.
const (
	handlesMetric = "tenantkit_handles_open"
	opensMetric   = "tenantkit_handle_opens_total"
)

// handleSample is one scrape of the server's handle metrics.
type handleSample struct {
	open  float64   // handlesMetric
	opens float64   // opensMetric; 0 if absent
	at    time.Time // when it was read
}

// scrapeHandles reads handlesMetric and opensMetric from base/metrics. ok is
// false when the server has no /metrics or handlesMetric is not on it; with
// labels, the series are added up.
func scrapeHandles(ctx context.Context, client *http.Client, base string) (s handleSample, ok bool, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/metrics", nil)
	if err != nil {
		return s, false, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return s, false, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return s, false, nil
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return s, false, err
	}
	s.at = time.Now()
	s.open, ok = parseMetric(bufio.NewScanner(bytes.NewReader(body)), handlesMetric)
	s.opens, _ = parseMetric(bufio.NewScanner(bytes.NewReader(body)), opensMetric)
	return s, ok, nil
}

// parseMetric adds up the samples of one metric in Prometheus text format.
func parseMetric(sc *bufio.Scanner, name string) (float64, bool) {
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	var sum float64
	found := false
	for sc.Scan() {
		line := sc.Text()
		rest, ok := strings.CutPrefix(line, name)
		if !ok || (rest != "" && rest[0] != ' ' && rest[0] != '{' && rest[0] != '\t') {
			continue
		}
		if i := strings.LastIndexByte(rest, '}'); i >= 0 {
			rest = rest[i+1:]
		}
		fields := strings.Fields(rest)
		if len(fields) == 0 {
			continue
		}
		f, err := strconv.ParseFloat(fields[0], 64)
		if err != nil {
			continue
		}
		sum += f
		found = true
	}
	return sum, found
}
