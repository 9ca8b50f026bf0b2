-- name: get_tenant_config
-- The configuration of tenant $1 (snapshot schedule and tracked tables); no row when it has none.
SELECT tenant_id, snapshot_interval, snapshot_list_tables, updated_at, updated_by
FROM tenant_config
WHERE tenant_id = $1

-- name: all_tenant_configs
-- Every tenant's configuration, by tenant id; no arguments.
SELECT tenant_id, snapshot_interval, snapshot_list_tables, updated_at, updated_by
FROM tenant_config
ORDER BY tenant_id

-- name: set_snapshot_interval
-- Set tenant $1's snapshot cron to $2 (creating its configuration with defaults if needed); $3 is the user.
INSERT INTO tenant_config AS config (tenant_id, snapshot_interval, updated_by)
VALUES ($1, $2, $3)
ON CONFLICT (tenant_id) DO UPDATE
SET snapshot_interval = excluded.snapshot_interval, updated_at = now(), updated_by = excluded.updated_by
RETURNING tenant_id, snapshot_interval, snapshot_list_tables, updated_at, updated_by

-- name: set_snapshot_list_tables
-- Set tenant $1's snapshot tables to $2 (text[]; '{}' = every table), creating its configuration; $3 is the user.
INSERT INTO tenant_config AS config (tenant_id, snapshot_list_tables, updated_by)
VALUES ($1, $2, $3)
ON CONFLICT (tenant_id) DO UPDATE
SET snapshot_list_tables = excluded.snapshot_list_tables, updated_at = now(), updated_by = excluded.updated_by
RETURNING tenant_id, snapshot_interval, snapshot_list_tables, updated_at, updated_by
