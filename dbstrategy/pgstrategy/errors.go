package pgstrategy

import (
	"errors"

	"github.com/tenantkit/tenantkit/dbstrategy"
)

// ErrClosed is returned by every [Strategy] method that needs the server
// after [Strategy.Close].
var ErrClosed = errors.New("pgstrategy: strategy closed")

// errInvalidConfig is [dbstrategy.ErrInvalidConfig], which every
// configuration error of [New] wraps.
var errInvalidConfig = dbstrategy.ErrInvalidConfig
