package tenancytest

import "fmt"

// An Option configures [Isolation].
type Option interface {
	apply(*config) error
}

type optionFunc func(*config) error

func (f optionFunc) apply(c *config) error { return f(c) }

type config struct {
	clients    int
	requests   int
	shuffle    bool
	maxReports int
}

// Bounds of the options.
const (
	defaultClients    = 8
	defaultRequests   = 25
	defaultMaxReports = 10
	maxClients        = 1024
	maxRequests       = 1 << 20
)

func newConfig(opts []Option) (config, error) {
	c := config{
		clients:    defaultClients,
		requests:   defaultRequests,
		shuffle:    true,
		maxReports: defaultMaxReports,
	}
	for i, o := range opts {
		if o == nil {
			return config{}, fmt.Errorf("option %d is nil", i+1)
		}
		if err := o.apply(&c); err != nil {
			return config{}, err
		}
	}
	return c, nil
}

// WithClients sets how many goroutines serve requests at once, from 1 to
// 1024. Default: 8.
func WithClients(n int) Option {
	return optionFunc(func(c *config) error {
		if n < 1 || n > maxClients {
			return fmt.Errorf("WithClients(%d): must be 1 to %d", n, maxClients)
		}
		c.clients = n
		return nil
	})
}

// WithRequests sets how many requests are served for each tenant, from 1
// to 1048576; the total is n times the number of tenants. Default: 25.
func WithRequests(n int) Option {
	return optionFunc(func(c *config) error {
		if n < 1 || n > maxRequests {
			return fmt.Errorf("WithRequests(%d): must be 1 to %d", n, maxRequests)
		}
		c.requests = n
		return nil
	})
}

// WithShuffle sets whether the requests of all tenants are served in a
// random order (true), or round after round, one request per tenant in the
// order given (false). Default: true.
func WithShuffle(on bool) Option {
	return optionFunc(func(c *config) error {
		c.shuffle = on
		return nil
	})
}

// WithMaxReports sets how many failed responses are reported one by one,
// leaks first; the others are counted in one last report. At least 1.
// Default: 10.
func WithMaxReports(n int) Option {
	return optionFunc(func(c *config) error {
		if n < 1 {
			return fmt.Errorf("WithMaxReports(%d): must be at least 1", n)
		}
		c.maxReports = n
		return nil
	})
}
