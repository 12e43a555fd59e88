package placement

import (
	"fmt"
	"log/slog"

	"github.com/tenantkit/tenantkit/dbstrategy"
)

// Option configures a [Router]. Options are checked by [New] and
// [NewPinned], which return the first error, wrapping
// [dbstrategy.ErrInvalidConfig]; a nil Option is such an error too. When an
// option is given twice for the same thing, the last one wins.
type Option interface {
	apply(*config) error
}

type optionFunc func(*config) error

func (f optionFunc) apply(c *config) error { return f(c) }

type config struct {
	budgets map[string]int // per-server connection budgets, by server name
	logger  *slog.Logger
}

func defaultConfig() config {
	return config{
		budgets: make(map[string]int),
		logger:  slog.New(slog.DiscardHandler),
	}
}

// WithServerBudget gives the server named server a connection budget of n
// of its own, in place of the n that [Router.SetConnBudget] hands every
// server (a [dbstrategy.Manager] calls it for [dbstrategy.WithMaxConns]).
// Use it for a server with a larger or smaller max_connections than the
// others. server must be one of the servers given to [New]; n is at least
// 1. Default: every server gets the Manager's budget.
func WithServerBudget(server string, n int) Option {
	return optionFunc(func(c *config) error {
		if n < 1 {
			return fmt.Errorf("%w: WithServerBudget(%q, %d): must be at least 1", dbstrategy.ErrInvalidConfig, server, n)
		}
		c.budgets[server] = n
		return nil
	})
}

// WithLogger sets the logger the Router writes to when it serves on
// through a failure it does not return, such as one server's template that
// could not be prepared ([Router.PrepareTemplate]). Default: discard.
func WithLogger(l *slog.Logger) Option {
	return optionFunc(func(c *config) error {
		if l == nil {
			return fmt.Errorf("%w: WithLogger(nil)", dbstrategy.ErrInvalidConfig)
		}
		c.logger = l
		return nil
	})
}
