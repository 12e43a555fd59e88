// Package httpobs holds the request observability that the reference server
// (examples/server) and the load test's no-tenancy baseline
// (examples/loadtest) share, so that both run the same code: request ids
// and the request metrics.
package httpobs
