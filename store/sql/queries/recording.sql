-- name: lock_tenants_exclusive
-- Take, in tenant order, the exclusive write lock of each tenant in $1 (uuid[]): a batch with a truncate sees every
-- event recorded before it, and none is recorded while it sweeps.
SELECT pg_advisory_xact_lock(19795, hashtext(tenant_id::text))
FROM (SELECT DISTINCT tenant_id FROM unnest($1::uuid[]) AS t (tenant_id) ORDER BY tenant_id) AS ordered

-- name: transaction_instants
-- The instant of each (tenant $1[i], transaction $2[i]) already recorded (by its events or its truncates).
SELECT DISTINCT ON (recorded.tenant_id, recorded.txn) recorded.tenant_id, recorded.txn, recorded.at
FROM (
    SELECT e.tenant_id, e.txn, e.event_timestamp AS at FROM events AS e WHERE e.txn <> ''
    UNION ALL
    SELECT tr.tenant_id, tr.txn, tr.at FROM truncates AS tr WHERE tr.txn <> ''
) AS recorded
JOIN unnest($1::uuid[], $2::text[]) AS t (tenant_id, txn) ON recorded.tenant_id = t.tenant_id AND recorded.txn = t.txn

-- name: clear_ingest_batch
-- Empty the staging table between two parts of a batch (a truncate sits between them). No arguments.
DELETE FROM ingest_batch

-- name: record_truncate
-- Record truncate of tenant $1's table $2 at $3 with identity $4 and transaction $5; no row back when it was recorded.
INSERT INTO truncates (tenant_id, table_name, at, event_id, txn, deleted)
VALUES ($1, $2, $3, $4, $5, 0)
ON CONFLICT DO NOTHING
RETURNING at

-- name: count_truncate
-- Remember how many entities truncate ($1 tenant, $2 table, $3 at, $4 event_id) deleted: $5.
UPDATE truncates SET deleted = $5 WHERE tenant_id = $1 AND table_name = $2 AND at = $3 AND event_id = $4

-- name: truncate_entities
-- The state_at query of events.sql ($1..$8, its table filter $6 naming the truncated table) spliced in where the
-- braces name it: a 'd' event at $2 for each of its entities, identity $9, transaction $10; the number written.
WITH deleted AS (
    INSERT INTO events (tenant_id, event_timestamp, table_name, entity_id, op, entity_state, event_id, txn)
    SELECT $1, $2, s.table_name, s.entity_id, 'd', NULL, $9, $10
    FROM ({state_at}) AS s
    ORDER BY s.entity_id
    ON CONFLICT DO NOTHING
    RETURNING 1
)
SELECT count(*) FROM deleted
