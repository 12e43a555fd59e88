package main

import (
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"time"

	"github.com/tenantkit/tenantkit/auth"
)

// Defaults of the limits on organizations (API.md, "Sessions and abuse
// limits"): each organization is a database (and on PostgreSQL a role), so
// a core user owns a few, and creates them at a human pace.
const (
	defaultOrgQuota = 10 // organizations one core user may own
	defaultOrgRate  = 5  // organizations one core user may create per hour
)

// ErrQuotaExceeded: the caller owns as many organizations as allowed.
var ErrQuotaExceeded = errors.New("organization quota exceeded")

// CreateRateError is an organization creation refused by the per-user
// rate limit.
type CreateRateError struct {
	RetryAfter time.Duration
}

func (e *CreateRateError) Error() string {
	return fmt.Sprintf("too many organizations created; retry after %s", e.RetryAfter)
}

// orgLimits bounds the organizations of each core user: how many one owns
// (quota; 0 means no limit) and how fast one creates them (rate; nil means
// no limit). The zero value limits nothing.
type orgLimits struct {
	quota int
	rate  *auth.Throttle // one attempt per creation, keyed by owner
}

// newOrgLimits allows each user quota organizations and perHour creations
// an hour, in a burst of up to perHour; 0 turns either limit off.
func newOrgLimits(quota, perHour int) (orgLimits, error) {
	l := orgLimits{quota: quota}
	if perHour > 0 {
		t, err := auth.NewThrottle(auth.WithBurst(perHour), auth.WithRefill(time.Hour/time.Duration(perHour)))
		if err != nil {
			return orgLimits{}, fmt.Errorf("organization rate limit: %w", err)
		}
		l.rate = t
	}
	return l, nil
}

// begin takes one creation from ownerID's allowance, or refuses with a
// *CreateRateError. The caller reports with done whether an organization
// was created: a creation that was not is given back.
func (l orgLimits) begin(ownerID int64) (done func(created bool), err error) {
	if l.rate == nil {
		return func(bool) {}, nil
	}
	key := strconv.FormatInt(ownerID, 10)
	ok, wait := l.rate.Allow(key)
	if !ok {
		return nil, &CreateRateError{RetryAfter: wait}
	}
	return func(created bool) {
		if created {
			l.rate.Fail(key) // a creation counts, like a failed login
		} else {
			l.rate.Succeed(key)
		}
	}, nil
}

// Paging of GET /api/organizations (API.md, "Core directory").
const (
	defaultPageSize = 100
	maxPageSize     = 1000
)

// pageReq is one page request: the items after the cursor, at most limit.
type pageReq struct {
	after int64 // the id the previous page ended with; 0 for the first page
	limit int
}

// parsePage reads ?limit= and ?cursor=. A cursor is the next_cursor of a
// previous page: opaque to clients, the id of that page's last item here.
func parsePage(q url.Values) (pageReq, error) {
	p := pageReq{limit: defaultPageSize}
	var verr ValidationError
	if v, ok := q["limit"]; ok {
		n, err := strconv.Atoi(v[0])
		if len(v) != 1 || err != nil || n < 1 || n > maxPageSize || v[0] != strconv.Itoa(n) {
			verr.add("limit", "must be an integer from 1 to "+strconv.Itoa(maxPageSize))
		} else {
			p.limit = n
		}
	}
	if v, ok := q["cursor"]; ok {
		id, valid := parseID(v[0])
		if len(v) != 1 || !valid {
			verr.add("cursor", "must be the next_cursor of a previous page")
		} else {
			p.after = id
		}
	}
	return p, verr.err()
}

// nextCursor is the cursor of the page after one that ended with id.
func nextCursor(id int64) string { return strconv.FormatInt(id, 10) }
