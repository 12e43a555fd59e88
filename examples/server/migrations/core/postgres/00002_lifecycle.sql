-- +goose Up
-- The schema version each tenant database was last migrated to, so fleet
-- checks need not open tenant databases.
ALTER TABLE organizations ADD COLUMN schema_version BIGINT NOT NULL DEFAULT 0;
-- Why the last migration of the tenant failed; '' when it did not.
ALTER TABLE organizations ADD COLUMN migration_error TEXT NOT NULL DEFAULT '';
-- When the organization's state last changed, in microseconds since the
-- Unix epoch: servers poll it to forget cached tenants that changed.
ALTER TABLE organizations ADD COLUMN changed_us BIGINT NOT NULL DEFAULT 0;
CREATE INDEX organizations_changed ON organizations (changed_us);

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
DROP INDEX organizations_changed;
ALTER TABLE organizations DROP COLUMN changed_us;
ALTER TABLE organizations DROP COLUMN migration_error;
ALTER TABLE organizations DROP COLUMN schema_version;
