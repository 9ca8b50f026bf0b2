-- name: tenants
-- Every tenant that has events or a configuration, by id (a loose index scan over events: one probe per tenant).
WITH RECURSIVE with_events AS (
    (SELECT tenant_id FROM events ORDER BY tenant_id LIMIT 1)
    UNION ALL
    SELECT (SELECT tenant_id FROM events WHERE tenant_id > with_events.tenant_id ORDER BY tenant_id LIMIT 1)
    FROM with_events
    WHERE with_events.tenant_id IS NOT NULL
)
SELECT tenant_id FROM with_events WHERE tenant_id IS NOT NULL
UNION
SELECT tenant_id FROM tenant_config
ORDER BY 1

-- name: has_events_until
-- Whether tenant $1 has an event at or before $2.
SELECT EXISTS (SELECT FROM events WHERE tenant_id = $1 AND event_timestamp <= $2)

-- name: newest_full_snapshot
-- Tenant $1's newest complete snapshot covering every table taken at or before $2: id and taken_at; none: no row.
SELECT id, taken_at
FROM snapshots
WHERE tenant_id = $1 AND status = 'complete' AND cardinality(tables) = 0 AND taken_at <= $2
ORDER BY taken_at DESC, id DESC
LIMIT 1

-- name: delete_snapshots_before
-- Delete tenant $1's snapshots (with their rows) taken before $2, and its truncates recorded there (a retry of one
-- is refused there anyway); returns how many snapshots.
WITH gone AS (DELETE FROM snapshots WHERE tenant_id = $1 AND taken_at < $2 RETURNING 1),
     truncates_gone AS (DELETE FROM truncates WHERE tenant_id = $1 AND at < $2)
SELECT count(*) FROM gone

-- name: oldest_event_time
-- The time of the oldest event of any tenant; NULL when there is none. No arguments.
SELECT min(event_timestamp) FROM events

-- name: no_statement_timeout
-- Lift statement_timeout for the rest of the current transaction (a retention delete may run long); no arguments.
SELECT set_config('statement_timeout', '0', true)

-- name: delete_events
-- Delete tenant $1's events with $2 <= event_timestamp < $3 and event_timestamp <= $4; returns how many.
WITH gone AS (
    DELETE FROM events
    WHERE tenant_id = $1 AND event_timestamp >= $2 AND event_timestamp < $3 AND event_timestamp <= $4
    RETURNING 1
)
SELECT count(*) FROM gone

-- name: partition_tenants
-- Template (placeholder {partition}): the tenants with rows in that partition (a loose index scan).
WITH RECURSIVE found AS (
    (SELECT tenant_id FROM {partition} ORDER BY tenant_id LIMIT 1)
    UNION ALL
    SELECT (SELECT tenant_id FROM {partition} WHERE tenant_id > found.tenant_id ORDER BY tenant_id LIMIT 1)
    FROM found
    WHERE found.tenant_id IS NOT NULL
)
SELECT tenant_id FROM found WHERE tenant_id IS NOT NULL

-- name: drop_partition
-- DDL template (placeholder {partition}): detach the partition from events and drop it.
ALTER TABLE events DETACH PARTITION {partition};
DROP TABLE {partition}

-- name: set_retained_from
-- Record that tenant $1's data is kept from $2 on (never moving it back), creating its configuration if needed.
INSERT INTO tenant_config AS config (tenant_id, retained_from)
VALUES ($1, $2)
ON CONFLICT (tenant_id) DO UPDATE
SET retained_from = GREATEST(config.retained_from, excluded.retained_from)
