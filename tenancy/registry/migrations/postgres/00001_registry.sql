-- +goose Up
CREATE TABLE tenantkit_tenants (
    id              TEXT COLLATE "C" PRIMARY KEY, -- byte order, as Filter.After
    slug            TEXT UNIQUE, -- NULL: none
    status          TEXT NOT NULL,
    server          TEXT NOT NULL DEFAULT '',
    version         BIGINT NOT NULL DEFAULT 0,
    migration_error TEXT NOT NULL DEFAULT '',
    created_us      BIGINT NOT NULL,
    updated_us      BIGINT NOT NULL
);
CREATE INDEX tenantkit_tenants_status ON tenantkit_tenants (status, id);

CREATE TABLE tenantkit_tenant_changes (
    seq        BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id  TEXT NOT NULL,
    slug       TEXT NOT NULL DEFAULT '',
    status     TEXT NOT NULL,
    changed_us BIGINT NOT NULL
);
CREATE INDEX tenantkit_tenant_changes_changed ON tenantkit_tenant_changes (changed_us);

-- +goose Down
DROP TABLE tenantkit_tenant_changes;
DROP TABLE tenantkit_tenants;
