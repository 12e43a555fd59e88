-- +goose Up
-- A move in progress (registry.Move); move_phase '' is none.
ALTER TABLE tenantkit_tenants ADD COLUMN move_from TEXT NOT NULL DEFAULT '';
ALTER TABLE tenantkit_tenants ADD COLUMN move_to TEXT NOT NULL DEFAULT '';
ALTER TABLE tenantkit_tenants ADD COLUMN move_phase TEXT NOT NULL DEFAULT '';
ALTER TABLE tenantkit_tenants ADD COLUMN move_until_us BIGINT NOT NULL DEFAULT 0;
CREATE INDEX tenantkit_tenants_moving ON tenantkit_tenants (id) WHERE move_phase <> '';
-- The server holding the tenant after each change.
ALTER TABLE tenantkit_tenant_changes ADD COLUMN server TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE tenantkit_tenant_changes DROP COLUMN server;
DROP INDEX tenantkit_tenants_moving;
ALTER TABLE tenantkit_tenants DROP COLUMN move_until_us;
ALTER TABLE tenantkit_tenants DROP COLUMN move_phase;
ALTER TABLE tenantkit_tenants DROP COLUMN move_to;
ALTER TABLE tenantkit_tenants DROP COLUMN move_from;
