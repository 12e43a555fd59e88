-- +goose Up
-- The tenant registry moves to tenancy/registry's tables (tenantkit_tenants,
-- tenantkit_tenant_changes), which registry.OpenSQL creates before these
-- migrations run: an organization keeps its name and owner here, its
-- state, slug and schema version there, under its id in decimal.
INSERT INTO tenantkit_tenants (id, slug, status, server, version, migration_error, created_us, updated_us)
SELECT CAST(id AS TEXT), slug, status, '', schema_version, migration_error,
       CAST(unixepoch(created_at, 'subsec') * 1000000 AS INTEGER),
       CAST(unixepoch(updated_at, 'subsec') * 1000000 AS INTEGER)
FROM organizations WHERE true
ON CONFLICT (id) DO NOTHING;
DROP INDEX organizations_status;
ALTER TABLE organizations DROP COLUMN status;
ALTER TABLE organizations DROP COLUMN schema_version;
ALTER TABLE organizations DROP COLUMN migration_error;
ALTER TABLE organizations DROP COLUMN updated_at;
DROP TABLE org_changes;

-- +goose Down
CREATE TABLE org_changes (
    org_id     BIGINT NOT NULL,
    slug       TEXT NOT NULL,
    status     TEXT NOT NULL,
    changed_us BIGINT NOT NULL
);
CREATE INDEX org_changes_changed ON org_changes (changed_us);
ALTER TABLE organizations ADD COLUMN updated_at TIMESTAMP NOT NULL DEFAULT '1970-01-01T00:00:00Z';
ALTER TABLE organizations ADD COLUMN migration_error TEXT NOT NULL DEFAULT '';
ALTER TABLE organizations ADD COLUMN schema_version BIGINT NOT NULL DEFAULT 0;
ALTER TABLE organizations ADD COLUMN status TEXT NOT NULL DEFAULT 'deleting' CHECK (status IN ('provisioning', 'active', 'suspended', 'deleting'));
UPDATE organizations SET
    status = COALESCE((SELECT t.status FROM tenantkit_tenants t WHERE t.id = CAST(organizations.id AS TEXT)), 'deleting'),
    schema_version = COALESCE((SELECT t.version FROM tenantkit_tenants t WHERE t.id = CAST(organizations.id AS TEXT)), 0),
    migration_error = COALESCE((SELECT t.migration_error FROM tenantkit_tenants t WHERE t.id = CAST(organizations.id AS TEXT)), ''),
    updated_at = created_at;
CREATE INDEX organizations_status ON organizations (status) WHERE status <> 'active';
