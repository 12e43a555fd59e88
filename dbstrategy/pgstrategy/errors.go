package pgstrategy

import "errors"

// ErrClosed is returned by every [Strategy] method that needs the server
// after [Strategy.Close].
var ErrClosed = errors.New("pgstrategy: strategy closed")

// ErrInvalidConfig is returned by [New] when a [Config] field is out of
// range, such as a prefix outside the allowed alphabet.
var ErrInvalidConfig = errors.New("pgstrategy: invalid config")
