-- name: lock_tenant_for_snapshot
-- Take tenant $1's write lock exclusively (waits for the ingests in flight; see lock_tenants_for_ingest).
SELECT pg_advisory_xact_lock(19795, hashtext($1::uuid::text))

-- name: register_checkpoint
-- Register a 'building' checkpoint of tenant $1 at $2 covering $3 (text[]), unless a live snapshot has that instant.
INSERT INTO snapshots (tenant_id, taken_at, kind, tables, status)
SELECT $1, $2, 'checkpoint', $3, 'building'
WHERE NOT EXISTS (SELECT FROM snapshots WHERE tenant_id = $1 AND taken_at = $2 AND status <> 'invalid')
RETURNING id

-- name: complete_snapshot
-- Mark snapshot $1 complete with $2 rows and highest seq $3, unless it was invalidated meanwhile; returns it.
UPDATE snapshots
SET status = 'complete', row_count = $2, max_seq = $3, completed_at = now()
WHERE id = $1 AND status = 'building'
RETURNING id, tenant_id, taken_at, kind, tables, status, row_count

-- name: expire_stale_builds
-- Mark 'invalid' the snapshots still 'building' $1 (an interval) after their registration (their builder died).
UPDATE snapshots SET status = 'invalid'
WHERE status = 'building' AND created_at < now() - $1::interval

-- name: delete_invalid_snapshots
-- Delete tenant $1's invalid snapshots and their rows (the scheduler takes them again).
DELETE FROM snapshots WHERE tenant_id = $1 AND status = 'invalid'

-- name: newest_complete_snapshot_time
-- The time of tenant $1's newest complete snapshot taken at or before $2; NULL when none.
SELECT max(taken_at) FROM snapshots WHERE tenant_id = $1 AND status = 'complete' AND taken_at <= $2

-- name: oldest_event_time
-- The time of tenant $1's oldest event; NULL when it has none.
SELECT min(event_timestamp) FROM events WHERE tenant_id = $1

-- name: list_snapshots
-- Tenant $1's snapshots, oldest first.
SELECT id, tenant_id, taken_at, kind, tables, status, row_count
FROM snapshots
WHERE tenant_id = $1
ORDER BY taken_at, id
