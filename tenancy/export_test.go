package tenancy

// SetWaitHook makes c call f each time a caller starts waiting for a
// lookup another caller started, so tests can prove single flight without
// sleeping. Call it before c is shared.
func SetWaitHook(c *Cache, f func()) { c.testHookWait = f }
