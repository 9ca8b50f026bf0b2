-- name: lock_tenants_for_ingest
-- Take, in tenant order, the shared write lock (transaction-scoped advisory lock) of each tenant in $1 (uuid[]).
SELECT pg_advisory_xact_lock_shared(19795, hashtext(tenant_id::text))
FROM (SELECT DISTINCT tenant_id FROM unnest($1::uuid[]) AS t (tenant_id) ORDER BY tenant_id) AS ordered

-- name: retained_from_of
-- The instant from which retention keeps the history of each tenant of $1 (uuid[]), for those it has cut.
SELECT tenant_id, retained_from FROM tenant_config WHERE tenant_id = ANY($1::uuid[]) AND retained_from IS NOT NULL

-- name: create_ingest_batch
-- The session's staging table of a batch (COPY target), emptied at commit; created once per connection.
CREATE TEMP TABLE IF NOT EXISTS ingest_batch (
    ord bigint GENERATED ALWAYS AS IDENTITY,
    tenant_id uuid NOT NULL,
    event_timestamp timestamptz NOT NULL,
    table_name text NOT NULL,
    entity_id text NOT NULL,
    op text NOT NULL,
    entity_state json,
    event_id text NOT NULL,
    txn text NOT NULL DEFAULT ''
) ON COMMIT DELETE ROWS

-- name: insert_events
-- Move the staged batch into events, skipping duplicates; per tenant: rows stored, earliest time. No arguments.
WITH inserted AS (
    INSERT INTO events (tenant_id, event_timestamp, table_name, entity_id, op, entity_state, event_id, txn)
    SELECT tenant_id, event_timestamp, table_name, entity_id, op::"char", entity_state, event_id, txn
    FROM ingest_batch
    ORDER BY ord  -- rows enter in batch order, so seq follows it
    ON CONFLICT DO NOTHING
    RETURNING tenant_id, event_timestamp
)
SELECT tenant_id, count(*) AS accepted, min(event_timestamp) AS earliest
FROM inserted
GROUP BY tenant_id

-- name: after_ingest
-- After storing: invalidate tenant $1[i]'s live snapshots at or after its earliest new event $2[i]; default config.
WITH stored AS (
    SELECT tenant_id, earliest FROM unnest($1::uuid[], $2::timestamptz[]) AS s (tenant_id, earliest)
), invalidated AS (
    -- A snapshot at or after a new event misses it.
    UPDATE snapshots AS snap SET status = 'invalid'
    FROM stored
    WHERE snap.tenant_id = stored.tenant_id AND snap.taken_at >= stored.earliest AND snap.status <> 'invalid'
    RETURNING snap.id
), configured AS (
    -- A tenant that never set a configuration gets the defaults (hourly checkpoints of every table).
    INSERT INTO tenant_config (tenant_id)
    SELECT tenant_id FROM stored
    ON CONFLICT (tenant_id) DO NOTHING
    RETURNING tenant_id
)
SELECT (SELECT count(*) FROM invalidated) AS invalidated, (SELECT count(*) FROM configured) AS configured

-- name: base_snapshot
-- The newest complete snapshot of tenant $1 taken at or before $2: id, taken_at and tables ('{}' = every table).
-- Once retention cut the tenant's history, only snapshots of every table qualify: a partial one reads its other
-- tables from a history that no longer holds their older events (retention keeps a full snapshot at its cut).
SELECT id, taken_at, tables
FROM snapshots
WHERE tenant_id = $1 AND status = 'complete' AND taken_at <= $2
  AND (tables = '{}'
       OR NOT EXISTS (SELECT FROM tenant_config WHERE tenant_id = $1 AND retained_from IS NOT NULL))
ORDER BY taken_at DESC, id DESC
LIMIT 1

-- name: state_at
-- State of tenant $1 at $2: snapshot $3 (NULL none) of $4 covering $5 ('{}' all) + events since; filters $6 $7 $8.
WITH tail AS MATERIALIZED (
    SELECT DISTINCT ON (table_name, entity_id) table_name, entity_id, op, entity_state, event_timestamp, seq
    FROM (
        SELECT table_name, entity_id, op, entity_state, event_timestamp, seq
        FROM events
        WHERE tenant_id = $1 AND event_timestamp > COALESCE($4::timestamptz, '-infinity') AND event_timestamp <= $2
        UNION ALL
        -- Tables the snapshot does not cover come from the whole history.
        SELECT table_name, entity_id, op, entity_state, event_timestamp, seq
        FROM events
        WHERE cardinality($5::text[]) > 0 AND tenant_id = $1 AND event_timestamp <= $4::timestamptz
          AND table_name <> ALL ($5::text[])
    ) AS candidate
    -- $6: the tables to answer (NULL: all); $7: tables (NULL: none) whose events older than $8 are left out.
    WHERE ($6::text[] IS NULL OR table_name = ANY ($6::text[]))
      AND ($7::text[] IS NULL OR table_name <> ALL ($7::text[]) OR event_timestamp >= $8::timestamptz)
    -- Per entity, the latest event wins: by time, then by seq.
    ORDER BY table_name, entity_id, event_timestamp DESC, seq DESC
)
SELECT snap.table_name, snap.entity_id, snap.op::text AS op, snap.entity_state, snap.event_timestamp, snap.seq
FROM snapshot_rows AS snap
WHERE snap.snapshot_id = $3
  AND ($6::text[] IS NULL OR snap.table_name = ANY ($6::text[]))
  AND ($7::text[] IS NULL OR snap.table_name <> ALL ($7::text[]) OR snap.event_timestamp >= $8::timestamptz)
  -- A snapshot row loses to any later event of its entity.
  AND NOT EXISTS (SELECT FROM tail WHERE tail.table_name = snap.table_name AND tail.entity_id = snap.entity_id)
UNION ALL
SELECT table_name, entity_id, op::text, entity_state, event_timestamp, seq
FROM tail
WHERE op <> 'd'

-- name: events_between
-- Tenant $1's events in ($2, $5] after position ($3, $4) in (time, seq) order; filters $6 $7 $8; at most $9 (NULL all).
SELECT table_name, entity_id, op::text, entity_state, event_timestamp, seq
FROM events
WHERE tenant_id = $1
  AND event_timestamp > $2
  AND (event_timestamp, seq) > ($3::timestamptz, $4::bigint)
  AND event_timestamp <= $5
  -- $6: the tables to answer (NULL: all); $7: tables (NULL: none) whose events older than $8 are left out.
  AND ($6::text[] IS NULL OR table_name = ANY ($6::text[]))
  AND ($7::text[] IS NULL OR table_name <> ALL ($7::text[]) OR event_timestamp >= $8::timestamptz)
ORDER BY event_timestamp, seq
LIMIT $9

-- name: earliest_instant
-- The earliest instant of tenant $1's data: its oldest complete snapshot or its oldest event, but never before the
-- instant retention keeps its data from; NULL when none.
SELECT GREATEST(
    (SELECT retained_from FROM tenant_config WHERE tenant_id = $1),
    LEAST(
        (SELECT min(taken_at) FROM snapshots WHERE tenant_id = $1 AND status = 'complete'),
        (SELECT min(event_timestamp) FROM events WHERE tenant_id = $1)
    )
)

-- name: set_work_mem
-- Set work_mem for the rest of the current transaction; $1 is the value, e.g. '256MB'.
SELECT set_config('work_mem', $1, true)
