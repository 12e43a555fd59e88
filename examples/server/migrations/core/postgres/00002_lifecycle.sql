-- +goose Up
-- The schema version each tenant database was last migrated to, so fleet
-- checks need not open tenant databases.
ALTER TABLE organizations ADD COLUMN schema_version BIGINT NOT NULL DEFAULT 0;
-- Why the last migration of the tenant failed; '' when it did not.
ALTER TABLE organizations ADD COLUMN migration_error TEXT NOT NULL DEFAULT '';

-- A log of organization state changes, deletions included, written in the
-- transaction of each change: servers poll it to forget cached tenants
-- that another process changed. Entries older than an hour are pruned.
CREATE TABLE org_changes (
    org_id     BIGINT NOT NULL,
    slug       TEXT NOT NULL,
    status     TEXT NOT NULL, -- the new state, or 'deleted'
    changed_us BIGINT NOT NULL -- microseconds since the Unix epoch
);
CREATE INDEX org_changes_changed ON org_changes (changed_us);

-- Idempotency-Key of POST /api/organizations: one row per (owner, key).
CREATE TABLE idempotency_keys (
    owner_id     BIGINT NOT NULL REFERENCES users (id),
    idem_key     TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    org_id       BIGINT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    created_at   TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (owner_id, idem_key)
);

-- +goose Down
DROP TABLE idempotency_keys;
DROP TABLE org_changes;
ALTER TABLE organizations DROP COLUMN migration_error;
ALTER TABLE organizations DROP COLUMN schema_version;
