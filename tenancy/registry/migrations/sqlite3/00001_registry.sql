-- +goose Up
CREATE TABLE tenantkit_tenants (
    id              TEXT PRIMARY KEY,
    slug            TEXT UNIQUE, -- NULL: none
    status          TEXT NOT NULL,
    server          TEXT NOT NULL DEFAULT '',
    version         INTEGER NOT NULL DEFAULT 0,
    migration_error TEXT NOT NULL DEFAULT '',
    created_us      INTEGER NOT NULL,
    updated_us      INTEGER NOT NULL
);
CREATE INDEX tenantkit_tenants_status ON tenantkit_tenants (status, id);

-- AUTOINCREMENT: a sequence number is never used twice, even after the
-- newest entries are trimmed.
CREATE TABLE tenantkit_tenant_changes (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id  TEXT NOT NULL,
    slug       TEXT NOT NULL DEFAULT '',
    status     TEXT NOT NULL,
    changed_us INTEGER NOT NULL
);
CREATE INDEX tenantkit_tenant_changes_changed ON tenantkit_tenant_changes (changed_us);

-- +goose Down
DROP TABLE tenantkit_tenant_changes;
DROP TABLE tenantkit_tenants;
