package main

import (
	"flag"
	"fmt"
	"strconv"
	"time"
)

// limitsConfig holds the limits on what one user may create and how long
// spent records are kept. Its zero value means: no organization limits,
// default retentions (tests start servers from zero values; the flags
// default to the limits a real deployment wants).
type limitsConfig struct {
	orgQuota       int           // organizations one core user may own; 0: no limit
	orgRate        int           // organizations one core user may create per hour; 0: no limit
	tokenRetention time.Duration // expired or revoked refresh tokens are kept this long; 0: default
	idemRetention  time.Duration // idempotency records are kept this long; 0: default
}

// Default retentions of the background purge (purge.go).
const (
	defaultTokenRetention = 24 * time.Hour
	defaultIdemRetention  = 24 * time.Hour
)

// limitFlags registers the flags of c on fs, with defaults from getenv,
// and returns a function that checks them once fs is parsed.
func limitFlags(fs *flag.FlagSet, getenv func(string) string, c *limitsConfig) func() error {
	env := func(name, def string) string {
		if v := getenv(name); v != "" {
			return v
		}
		return def
	}
	quota := fs.String("org-quota", env("ORG_QUOTA", strconv.Itoa(defaultOrgQuota)), "most `organizations` one core user may own; past it, creating one answers 403; 0 for no limit (env ORG_QUOTA)")
	rate := fs.String("org-rate", env("ORG_RATE", strconv.Itoa(defaultOrgRate)), "most `organizations` one core user may create per hour, in a burst of up to as many; past it, 429 with Retry-After; 0 for no limit (env ORG_RATE)")
	tokens := fs.String("token-retention", env("TOKEN_RETENTION", "24h"), "keep expired and revoked refresh tokens this `duration` before the background purge deletes them, 1m to 8760h (env TOKEN_RETENTION)")
	idem := fs.String("idempotency-retention", env("IDEMPOTENCY_RETENTION", "24h"), "remember an Idempotency-Key of POST /api/organizations this `duration`, 1m to 8760h (env IDEMPOTENCY_RETENTION)")
	return func() error {
		var err error
		if c.orgQuota, err = strconv.Atoi(*quota); err != nil || c.orgQuota < 0 {
			return fmt.Errorf("invalid -org-quota %q: must be a whole number, 0 for no limit", *quota)
		}
		if c.orgRate, err = strconv.Atoi(*rate); err != nil || c.orgRate < 0 || c.orgRate > 3600 {
			return fmt.Errorf("invalid -org-rate %q: must be a whole number from 0 (no limit) to 3600", *rate)
		}
		for _, r := range []struct {
			flag, v string
			dst     *time.Duration
		}{{"-token-retention", *tokens, &c.tokenRetention}, {"-idempotency-retention", *idem, &c.idemRetention}} {
			d, err := time.ParseDuration(r.v)
			if err != nil || d < time.Minute || d > 365*24*time.Hour {
				return fmt.Errorf("invalid %s %q: must be a Go duration from 1m to 8760h", r.flag, r.v)
			}
			*r.dst = d
		}
		return nil
	}
}
