package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// target is one user the clients can act as: its tenant and credentials,
// with the request pieces made up front.
type target struct {
	tenant    string // X-Tenant
	authz     string // "Bearer <token>"
	loginBody []byte
}

// loadSpec is one measured phase.
type loadSpec struct {
	name     string
	base     string     // server URL
	tenants  [][]target // by rank: the distribution picks a rank
	dist     string     // uniform, zipf or rotate ("" for a single tenant)
	zipfS    float64
	mix      [numOps]int
	clients  int
	warmup   time.Duration
	duration time.Duration
	seed     uint64
}

// loadResult is what the clients saw in one phase.
type loadResult struct {
	elapsed  time.Duration
	requests int64
	errors   int64
	byStatus map[int]int64           // unexpected statuses; 0 is a transport error
	lat      [numOps][]time.Duration // measured requests, by operation
	tenants  int                     // distinct tenants requested
}

// liveCounters are read by the progress line while a phase runs.
type liveCounters struct {
	requests, errors atomic.Int64
}

// drive runs spec's clients until warmup+duration have passed, recording
// the requests that started after the warmup. It returns once every client
// has finished its last request.
func drive(ctx context.Context, client *http.Client, spec loadSpec, live *liveCounters) loadResult {
	start := time.Now()
	measureFrom := start.Add(spec.warmup)
	end := measureFrom.Add(spec.duration)
	totalWeight := 0
	for _, w := range spec.mix {
		totalWeight += w
	}
	type clientResult struct {
		lat      [numOps][]time.Duration
		byStatus map[int]int64
		errors   int64
		hit      []bool
		last     time.Time
	}
	results := make([]clientResult, spec.clients)
	var next atomic.Uint64 // the rotation's last rank, shared by the clients
	var wg sync.WaitGroup
	for c := range spec.clients {
		wg.Go(func() { // ends at the deadline, or when ctx ends
			res := &results[c]
			res.byStatus = map[int]int64{}
			res.hit = make([]bool, len(spec.tenants))
			r := rand.New(rand.NewPCG(spec.seed, uint64(c)+1))
			var zipf *rand.Zipf
			if spec.dist == "zipf" && len(spec.tenants) > 1 {
				zipf = rand.NewZipf(r, spec.zipfS, 1, uint64(len(spec.tenants)-1))
			}
			for ctx.Err() == nil {
				t0 := time.Now()
				if !t0.Before(end) {
					break
				}
				var rank int
				switch {
				case zipf != nil:
					rank = int(zipf.Uint64())
				case spec.dist == "rotate":
					rank = int(next.Add(1) % uint64(len(spec.tenants)))
				case len(spec.tenants) > 1:
					rank = r.IntN(len(spec.tenants))
				}
				users := spec.tenants[rank]
				tg := &users[r.IntN(len(users))]
				op := pickOp(r, spec.mix, totalWeight)
				req, err := newRequest(ctx, spec.base, tg, op, r)
				if err != nil { // cannot happen with a valid base URL
					res.errors++
					res.byStatus[0]++
					break
				}
				status := 0
				resp, err := client.Do(req)
				if err == nil {
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					status = resp.StatusCode
				}
				d := time.Since(t0)
				ok := status == http.StatusOK
				if live != nil {
					live.requests.Add(1)
					if !ok {
						live.errors.Add(1)
					}
				}
				if t0.Before(measureFrom) || ctx.Err() != nil {
					continue
				}
				res.lat[op] = append(res.lat[op], d)
				res.hit[rank] = true
				res.last = t0.Add(d)
				if !ok {
					res.errors++
					res.byStatus[status]++
				}
			}
		})
	}
	wg.Wait()
	out := loadResult{byStatus: map[int]int64{}}
	last := measureFrom
	hit := make([]bool, len(spec.tenants))
	for _, res := range results {
		for op := range numOps {
			out.lat[op] = append(out.lat[op], res.lat[op]...)
			out.requests += int64(len(res.lat[op]))
		}
		for s, n := range res.byStatus {
			out.byStatus[s] += n
		}
		out.errors += res.errors
		if res.last.After(last) {
			last = res.last
		}
		for i, h := range res.hit {
			hit[i] = hit[i] || h
		}
	}
	for _, h := range hit {
		if h {
			out.tenants++
		}
	}
	out.elapsed = last.Sub(measureFrom)
	if out.elapsed < spec.duration {
		out.elapsed = spec.duration
	}
	for op := range numOps {
		slices.Sort(out.lat[op])
	}
	return out
}

// pickOp draws an operation by the mix's weights.
func pickOp(r *rand.Rand, mix [numOps]int, total int) int {
	n := r.IntN(total)
	for op, w := range mix {
		if n < w {
			return op
		}
		n -= w
	}
	return opRead
}

// newRequest makes the request of op for tg.
func newRequest(ctx context.Context, base string, tg *target, op int, r *rand.Rand) (*http.Request, error) {
	var req *http.Request
	var err error
	switch op {
	case opRead:
		req, err = http.NewRequestWithContext(ctx, http.MethodGet, base+"/api/tenant/users/me", nil)
	case opUpdate:
		body := []byte(`{"display_name":"Load ` + strconv.FormatUint(r.Uint64()%1e6, 10) + `"}`)
		req, err = http.NewRequestWithContext(ctx, http.MethodPut, base+"/api/tenant/users/me", bytes.NewReader(body))
	case opLogin:
		req, err = http.NewRequestWithContext(ctx, http.MethodPost, base+"/api/tenant/auth/login", bytes.NewReader(tg.loginBody))
	default:
		return nil, fmt.Errorf("unknown operation %d", op)
	}
	if err != nil {
		return nil, err
	}
	req.Header["X-Tenant"] = []string{tg.tenant}
	if op != opLogin {
		req.Header["Authorization"] = []string{tg.authz}
	}
	if op != opRead {
		req.Header["Content-Type"] = []string{"application/json"}
	}
	return req, nil
}

// newLoadClient returns an HTTP client that keeps one connection per
// client alive.
func newLoadClient(clients int) *http.Client {
	tr := &http.Transport{
		MaxIdleConns:        clients * 2,
		MaxIdleConnsPerHost: clients * 2,
		IdleConnTimeout:     time.Minute,
		DisableCompression:  true,
		ForceAttemptHTTP2:   false,
	}
	return &http.Client{Transport: tr, Timeout: 60 * time.Second}
}
