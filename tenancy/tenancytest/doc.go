// Package tenancytest proves tenant isolation in an application's own
// HTTP handlers, for use in the application's tests.
//
// Package dbstrategytest checks that a storage strategy keeps tenants
// apart; this package checks that the handlers built on top do too: that
// no cache keyed without the tenant, no "current tenant" kept in a shared
// variable, no query that forgets a WHERE clause hands one tenant's data
// to another under concurrent load.
//
// # How it works
//
// [Isolation] makes a unique, unguessable marker per tenant
// ("marker" and 32 hexadecimal digits, 128 random bits, only a-z and 0-9
// so it fits a note, a name, a slug or an e-mail's local part, and needs
// no escaping in JSON or HTML). It has the application write each
// tenant's marker into that tenant's data (a [SeedFunc]), then serves many
// requests for all the tenants at once (each built by a [RequestFunc]),
// from several goroutines and in shuffled order, and fails the test for
// every response that
//
//   - carries the marker of another tenant in its body (a leak),
//   - lacks the marker of its own tenant (the handler did not read the
//     tenant's data, so the test proves nothing), or
//   - has a status outside 2xx.
//
// Each failure names the request (its number, tenant, method and URL), the
// tenant whose marker leaked and a short excerpt of the body around it.
//
// # Usage
//
//	func TestIsolation(t *testing.T) {
//		h := newServer(t) // the app's http.Handler, over a fresh database
//		tokens := map[string]string{}
//		seed := func(ctx context.Context, tenant, marker string) error {
//			tokens[tenant] = signUp(t, h, tenant)             // through the handler,
//			return postNote(h, tenant, tokens[tenant], marker) // or straight into the database
//		}
//		request := func(tenant, marker string) *http.Request {
//			r := httptest.NewRequest("GET", "/notes", nil)
//			r.Header.Set("X-Tenant", tenant)
//			r.Header.Set("Authorization", "Bearer "+tokens[tenant])
//			return r
//		}
//		tenancytest.Isolation(t, h, []string{"acme", "globex", "initech"}, seed, request)
//	}
//
// [SeedRequest] makes a SeedFunc out of one request served by the
// handler, for apps where one request stores the marker.
//
// # Concurrency
//
// The seed function and the request function are called from the
// goroutine that called Isolation, one call at a time, all seeds before
// any request, so they may share state without locks (a map of tokens
// filled while seeding, read while building requests). Only the handler
// is called concurrently, as a server would call it. The package keeps no
// global state, and Isolation starts goroutines that all end before it
// returns, so it runs under go test -race (which also reports any data
// race in the handler) and in parallel tests.
package tenancytest
