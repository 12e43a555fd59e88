package dbstrategy

import "errors"

// ErrInvalidKey is returned by [ValidateKey], and by every [Manager] method
// and strategy given a tenant key that [ValidateKey] refuses.
var ErrInvalidKey = errors.New("dbstrategy: invalid tenant key")

// ErrNotFound is returned by [Strategy.Open] and by [Manager.Acquire] when
// the tenant's database does not exist.
var ErrNotFound = errors.New("dbstrategy: tenant database not found")

// ErrClosed is returned by [Manager] methods called after [Manager.Close].
var ErrClosed = errors.New("dbstrategy: manager closed")
