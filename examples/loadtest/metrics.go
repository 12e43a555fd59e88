package main

import (
	"bufio"
	"context"
	"net/http"
	"strconv"
	"strings"
)

// handlesMetric is the gauge of open tenant handles the harness looks for
// on the server's /metrics (Prometheus text format).
const handlesMetric = "tenantkit_handles_open"

// scrapeHandles reads handlesMetric from base/metrics. ok is false when the
// server has no /metrics or the metric is not on it; with labels, the
// series are added up.
func scrapeHandles(ctx context.Context, client *http.Client, base string) (v float64, ok bool, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/metrics", nil)
	if err != nil {
		return 0, false, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, false, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, false, nil
	}
	v, ok = parseMetric(bufio.NewScanner(resp.Body), handlesMetric)
	return v, ok, nil
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
