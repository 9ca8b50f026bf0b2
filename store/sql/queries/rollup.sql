-- name: lock_rollup_state
-- Lock the rollup's bookkeeping row for this transaction (one refresher at a time) and read it; no arguments.
SELECT refreshed_until, refreshed_at FROM event_rollup_state WHERE id = 1 FOR UPDATE

-- name: rollup_state
-- The rollup's bookkeeping row: up to when it is complete, and when it was last refreshed; no arguments.
SELECT refreshed_until, refreshed_at FROM event_rollup_state WHERE id = 1

-- name: oldest_event_time
-- The time of the oldest stored event of any tenant; NULL when there is none. No arguments.
SELECT min(event_timestamp) FROM events

-- name: aggregate_minutes
-- Count the events with $1 <= event_timestamp < $2 (both whole minutes) per tenant, minute and table into the
-- rollup, replacing the counts of those minutes.
INSERT INTO event_rollup (tenant_id, bucket, table_name, event_count)
SELECT tenant_id, date_trunc('minute', event_timestamp), table_name, count(*)
FROM events
WHERE event_timestamp >= $1 AND event_timestamp < $2
GROUP BY 1, 2, 3
ON CONFLICT (tenant_id, bucket, table_name) DO UPDATE SET event_count = excluded.event_count

-- name: set_refreshed_until
-- Record that the rollup is complete up to $1 (NULL: not at all), refreshed now.
UPDATE event_rollup_state SET refreshed_until = $1, refreshed_at = now() WHERE id = 1

-- name: histogram
-- Counts of tenant $1's events per bucket of $2 (an interval, aligned on the Unix epoch) and table: from the
-- rollup for the whole minutes $4 <= bucket < $5, live for $3 <= event_timestamp < $4 and $5 <= event_timestamp < $6;
-- $7 tables (NULL: all). Ordered by bucket and table.
SELECT bucket_start, table_name, sum(n)::bigint AS event_count
FROM (
    SELECT date_bin($2::interval, bucket, 'epoch') AS bucket_start, table_name, event_count AS n
    FROM event_rollup
    WHERE tenant_id = $1 AND bucket >= $4 AND bucket < $5
      AND ($7::text[] IS NULL OR table_name = ANY ($7::text[]))
    UNION ALL
    SELECT date_bin($2::interval, event_timestamp, 'epoch'), table_name, count(*)
    FROM events
    WHERE tenant_id = $1
      AND ((event_timestamp >= $3 AND event_timestamp < $4) OR (event_timestamp >= $5 AND event_timestamp < $6))
      AND ($7::text[] IS NULL OR table_name = ANY ($7::text[]))
    GROUP BY 1, 2
) AS counted
GROUP BY 1, 2
ORDER BY 1, 2

-- name: delete_rollup_before
-- Delete tenant $1's rollup minutes that end at or before $2 (their events are gone); returns the count.
WITH gone AS (
    DELETE FROM event_rollup WHERE tenant_id = $1 AND bucket + interval '1 minute' <= $2 RETURNING 1
)
SELECT count(*) FROM gone

-- name: quiet_stretches
-- Tenant $1's stretches with no event near [$2, $3): the one holding $2, and each run of at least $5 whole minutes
-- that the rollup saw empty between the whole minutes $3 and $4 (at most the rollup's horizon). Edges come from
-- events, not the rollup (it may miss late events): the latest event before the run and the first one from it on.
-- At most $6 rows, oldest first.
WITH busy AS (
    SELECT DISTINCT bucket FROM event_rollup WHERE tenant_id = $1 AND bucket >= $3 AND bucket < $4 AND event_count > 0
), edges AS (
    SELECT $3 - interval '1 minute' AS bucket
    UNION ALL SELECT bucket FROM busy
    UNION ALL SELECT $4
), runs AS (
    SELECT lag(bucket) OVER (ORDER BY bucket) + interval '1 minute' AS quiet_from, bucket AS quiet_to FROM edges
), candidates AS (
    SELECT $2::timestamptz AS quiet_from
    UNION
    SELECT quiet_from FROM runs WHERE quiet_to - quiet_from >= $5 AND quiet_from > $2
)
SELECT
    (SELECT max(e.event_timestamp) FROM events AS e
     WHERE e.tenant_id = $1 AND e.event_timestamp < candidates.quiet_from) AS last_before,
    (SELECT min(e.event_timestamp) FROM events AS e
     WHERE e.tenant_id = $1 AND e.event_timestamp >= candidates.quiet_from) AS next_after
FROM candidates
ORDER BY quiet_from
LIMIT $6
