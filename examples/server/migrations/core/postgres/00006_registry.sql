-- +goose Up
-- The tenant registry moves to tenancy/registry's tables (tenantkit_tenants,
-- tenantkit_tenant_changes), which registry.OpenSQL creates before these
-- migrations run: an organization keeps its name and owner here, its
-- state, slug and schema version there, under its id in decimal.
INSERT INTO tenantkit_tenants (id, slug, status, server, version, migration_error, created_us, updated_us)
SELECT CAST(id AS TEXT), slug, status, '', schema_version, migration_error,
       CAST(EXTRACT(EPOCH FROM created_at) * 1000000 AS BIGINT),
       CAST(EXTRACT(EPOCH FROM updated_at) * 1000000 AS BIGINT)
FROM organizations
ON CONFLICT (id) DO NOTHING;
DROP INDEX organizations_status;
ALTER TABLE organizations DROP COLUMN status, DROP COLUMN schema_version, DROP COLUMN migration_error, DROP COLUMN updated_at;
DROP TABLE org_changes;

-- +goose Down
CREATE TABLE org_changes (
    org_id     BIGINT NOT NULL,
    slug       TEXT NOT NULL,
    status     TEXT NOT NULL,
    changed_us BIGINT NOT NULL
);
CREATE INDEX org_changes_changed ON org_changes (changed_us);
ALTER TABLE organizations
    ADD COLUMN updated_at TIMESTAMPTZ NOT NULL DEFAULT 'epoch',
    ADD COLUMN migration_error TEXT NOT NULL DEFAULT '',
    ADD COLUMN schema_version BIGINT NOT NULL DEFAULT 0,
    ADD COLUMN status TEXT NOT NULL DEFAULT 'deleting' CHECK (status IN ('provisioning', 'active', 'suspended', 'deleting'));
UPDATE organizations o SET status = t.status, schema_version = t.version, migration_error = t.migration_error
FROM tenantkit_tenants t WHERE t.id = CAST(o.id AS TEXT);
UPDATE organizations SET updated_at = created_at;
CREATE INDEX organizations_status ON organizations (status) WHERE status <> 'active';
