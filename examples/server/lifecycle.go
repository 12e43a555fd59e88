package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/tenantkit/tenantkit/tenancy/registry"
)

// lifecycleTimeout bounds provisioning or deleting one tenant, which goes
// on even if the client that asked for it goes away.
const lifecycleTimeout = 2 * time.Minute

// maxIdemKeyLen is the longest Idempotency-Key accepted.
const maxIdemKeyLen = 255

// CreateOrganization registers an organization owned by ownerID and
// provisions its database. It returns only once the database exists and is
// migrated and the organization is active. With an idempotency key, a
// retry with the same key and request returns the organization the first
// request made; the same key with another request is a validation error.
func (s *CoreService) CreateOrganization(ctx context.Context, ownerID int64, name string, slug *string, idemKey string) (Organization, error) {
	var verr ValidationError
	checkOrgName(&verr, &name)
	checkSlug(&verr, slug)
	if idemKey != "" && !validIdemKey(idemKey) {
		verr.add("", "the Idempotency-Key header must be 1 to 255 printable ASCII characters")
	}
	if err := verr.err(); err != nil {
		return Organization{}, err
	}
	name, _ = cleanText(name, 1, maxNameLen)
	var idem *IdemRecord
	if idemKey != "" {
		idem = &IdemRecord{Key: idemKey, Hash: requestHash(name, slug)}
		if o, done, err := s.replay(ctx, ownerID, *idem); done {
			return o, err
		}
	}
	// A replay above creates nothing and costs nothing; a creation takes
	// one from the caller's rate, given back if nothing is created.
	done, err := s.limits.begin(ownerID)
	if err != nil {
		return Organization{}, err
	}
	o := Organization{Name: name, Status: OrgProvisioning, OwnerID: ownerID, CreatedAt: now(s.now)}
	if slug != nil {
		o.Slug = *slug
		o, err = s.store.CreateOrganization(ctx, o, idem, s.limits.quota)
	} else {
		// Pick the first free slug among base, base-2, base-3, ... from
		// the taken ones, and retry if a concurrent request took it first.
		base := deriveSlug(name)
		for attempt := 0; ; attempt++ {
			var taken []string
			if taken, err = s.store.SlugsLike(ctx, base); err != nil {
				break
			}
			o.Slug = nextFreeSlug(base, taken)
			var created Organization
			created, err = s.store.CreateOrganization(ctx, o, idem, s.limits.quota)
			if !errors.Is(err, ErrConflict) || attempt >= 10 {
				o = created
				break
			}
		}
	}
	done(err == nil)
	if errors.Is(err, errIdemTaken) {
		// A concurrent request with the same key won the race.
		if o, done, err := s.replay(ctx, ownerID, *idem); done {
			return o, err
		}
		return Organization{}, ErrInProgress
	}
	if err != nil {
		return Organization{}, err
	}
	if err := s.provision(ctx, o); err != nil {
		return Organization{}, err
	}
	o.Status = OrgActive
	return o, nil
}

// replay answers a request whose idempotency key was seen before: done is
// false if it was not.
func (s *CoreService) replay(ctx context.Context, ownerID int64, idem IdemRecord) (Organization, bool, error) {
	prev, orgID, err := s.store.IdempotencyKey(ctx, ownerID, idem.Key)
	switch {
	case errors.Is(err, ErrNotFound):
		return Organization{}, false, nil
	case err != nil:
		return Organization{}, true, err
	case prev.Hash != idem.Hash:
		var verr ValidationError
		verr.add("", "this Idempotency-Key was used with a different request")
		return Organization{}, true, &verr
	}
	o, err := s.store.Organization(ctx, orgID)
	switch {
	case errors.Is(err, ErrNotFound):
		// Provisioning failed and was undone, which removed the key too.
		return Organization{}, false, nil
	case err != nil:
		return Organization{}, true, err
	case o.Status == OrgProvisioning:
		return Organization{}, true, ErrInProgress
	}
	return o, true, nil
}

// requestHash identifies the content of a create request.
func requestHash(name string, slug *string) string {
	h := sha256.New()
	h.Write([]byte(name))
	if slug != nil {
		h.Write([]byte{0})
		h.Write([]byte(*slug))
	}
	return hex.EncodeToString(h.Sum(nil))
}

func validIdemKey(k string) bool {
	if len(k) == 0 || len(k) > maxIdemKeyLen {
		return false
	}
	for i := 0; i < len(k); i++ {
		if k[i] < 0x21 || k[i] > 0x7e {
			return false
		}
	}
	return true
}

// nextFreeSlug returns base if it is not taken, else base-N for the
// smallest N >= 2 not taken.
func nextFreeSlug(base string, taken []string) string {
	used := make(map[string]bool, len(taken))
	for _, t := range taken {
		used[t] = true
	}
	if !used[base] {
		return base
	}
	for n := 2; ; n++ {
		if s := base + "-" + strconv.Itoa(n); !used[s] {
			return s
		}
	}
}

// provision has the registry create and migrate o's database and mark
// it active. On failure the registry removes what it made, and the
// organization's row goes too, so nothing is left half made.
func (s *CoreService) provision(ctx context.Context, o Organization) error {
	key := tenantKey(o.ID)
	_, err := s.reg.Provision(ctx, key)
	s.metrics.provisioned(err == nil)
	if err == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), lifecycleTimeout)
	defer cancel()
	if _, gerr := s.reg.Store().Get(ctx, key); errors.Is(gerr, registry.ErrNotFound) {
		_ = s.store.DeleteOrganization(ctx, o.ID) // undone: the row goes too
	}
	return fmt.Errorf("%w: provision tenant %s: %v", ErrUnavailable, key, err)
}

// DeleteOrganization deprovisions one of the caller's organizations: it is
// marked deleting (so it gets no more traffic), its database is dropped,
// and its row removed. Anyone else's organization is ErrNotFound.
func (s *CoreService) DeleteOrganization(ctx context.Context, ownerID, id int64) error {
	o, err := s.Organization(ctx, ownerID, id)
	if err != nil {
		return err
	}
	return s.deleteOrg(ctx, o)
}

func (s *CoreService) deleteOrg(ctx context.Context, o Organization) error {
	switch o.Status {
	case OrgDeleting:
		return ErrNotFound
	case OrgProvisioning:
		return ErrInProgress
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), lifecycleTimeout)
	defer cancel()
	key := tenantKey(o.ID)
	if err := s.reg.Delete(ctx, key); err != nil {
		return fmt.Errorf("%w: delete tenant %s: %v", ErrUnavailable, key, err)
	}
	return s.store.DeleteOrganization(ctx, o.ID)
}

// SetStatus suspends (active → suspended) or resumes (suspended → active)
// an organization.
func (s *CoreService) SetStatus(ctx context.Context, id int64, from, to OrgStatus) (Organization, error) {
	o, err := s.store.Organization(ctx, id)
	if err != nil {
		return Organization{}, err
	}
	key := tenantKey(id)
	switch {
	case from == OrgActive && to == OrgSuspended:
		_, err = s.reg.Suspend(ctx, key)
	case from == OrgSuspended && to == OrgActive:
		_, err = s.reg.Resume(ctx, key)
	default:
		return Organization{}, fmt.Errorf("organization %d: no change from %s to %s", id, from, to)
	}
	var se *registry.StatusError
	if errors.As(err, &se) {
		return Organization{}, fmt.Errorf("organization %d is %s, not %s", id, se.Status, from)
	}
	if err != nil {
		return Organization{}, err
	}
	o.Status = to
	return o, nil
}

// Reconcile finishes or undoes lifecycle steps a crash interrupted:
// organizations left provisioning are provisioned again, those left
// deleting are dropped (the registry's Reconcile), and the rows of
// organizations whose registry record is gone are removed. Every step is
// idempotent.
func (s *CoreService) Reconcile(ctx context.Context) error {
	if err := s.reg.Reconcile(ctx); err != nil {
		return err
	}
	n, err := s.store.DeleteOrphans(ctx)
	if n > 0 {
		s.log.LogAttrs(ctx, slog.LevelInfo, "finished deleting", slog.Int64("organizations", n))
	}
	return err
}
