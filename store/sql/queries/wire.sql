-- name: wire_item
-- (A fragment, spliced where the braces name it.) The JSON text of one event as viewers receive it, byte for byte
-- as msgspec encodes playback.messages.WireEvent, from the columns entity_id, table_name, op (text), entity_state
-- and event_timestamp of the row it is spliced into. to_json escapes strings as msgspec does; concat writes the
-- json values with their output function, so entity_state's stored text is copied once, never re-parsed.
concat(
    '{"entity_id":', to_json(entity_id), ',"table_name":', to_json(table_name), ',"op":"', op,
    '","entity_state":', COALESCE(entity_state, 'null'::json),
    -- Fractional seconds only when there are some, as playback.messages.format_timestamp writes them.
    ',"event_timestamp":"', replace(to_char(event_timestamp AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US'), '.000000', ''),
    'Z"}'
)

-- name: wire_events
-- The rows of events.sql's events_between ($1..$9 as there; spliced in) in one row: n events; their timestamps
-- (microseconds), seqs and item lengths plus one (for the comma) as big-endian int8s; the items joined by commas.
SELECT count(*)::bigint AS n,
       COALESCE(string_agg(int8send(micros), ''::bytea), ''::bytea) AS timestamps,
       COALESCE(string_agg(int8send(seq), ''::bytea), ''::bytea) AS seqs,
       COALESCE(string_agg(int8send(octet_length(item)::bigint + 1), ''::bytea), ''::bytea) AS lengths,
       convert_to(COALESCE(string_agg(item, ','), ''), 'UTF8') AS body
-- The aggregates read the rows in the order of the subquery, which sorts them by (event_timestamp, seq).
FROM (
    SELECT (extract(epoch FROM event_timestamp) * 1000000)::bigint AS micros, seq, {wire_item} AS item
    FROM ({events_between}) AS e
) AS w

-- name: wire_state
-- The state_at query of events.sql ($1..$8 as there; spliced in) as items joined by commas, $9 items a row, with
-- the number of rows (chunks) in each. PostgreSQL, not the client, holds the state while it is chunked.
SELECT count(*) OVER () AS chunks, convert_to(string_agg(item, ','), 'UTF8') AS body
FROM (
    SELECT {wire_item} AS item, (row_number() OVER () - 1) / $9 AS chunk
    FROM ({state_at}) AS s
) AS w
GROUP BY chunk

-- name: seek_rows
-- (A fragment, spliced into wire_events in place of events_between.) The net change of a seek to $2: for every
-- entity of tenant $1 with an event in ($9, $10], its row in the state at $2 as the state_at query answers it
-- ($1..$8 as there), or, when it does not exist at $2, a delete stamped $2 with seq 0; in (event_timestamp, seq)
-- order. Each touched entity is looked up alone (the events_entity index, then the snapshot's primary key) instead
-- of computing the whole state and joining it: a near seek costs what it touches, not the size of the picture.
SELECT t.table_name, t.entity_id,
       COALESCE(NULLIF(ev.op, 'd'), sn.op, 'd') AS op,
       CASE WHEN ev.op = 'd' THEN NULL ELSE COALESCE(ev.entity_state, sn.entity_state) END AS entity_state,
       CASE WHEN ev.op = 'd' THEN $2 ELSE COALESCE(ev.event_timestamp, sn.event_timestamp, $2) END AS event_timestamp,
       CASE WHEN ev.op = 'd' THEN 0 ELSE COALESCE(ev.seq, sn.seq, 0) END AS seq
FROM (
    SELECT DISTINCT table_name, entity_id
    FROM events
    WHERE tenant_id = $1 AND event_timestamp > $9::timestamptz AND event_timestamp <= $10::timestamptz
) AS t
-- As in state_at, the entity's latest event that state_at reads wins (a delete: it does not exist at $2) ...
LEFT JOIN LATERAL (
    SELECT e.op::text AS op, e.entity_state, e.event_timestamp, e.seq
    FROM events AS e
    WHERE e.tenant_id = $1 AND e.table_name = t.table_name AND e.entity_id = t.entity_id
      AND e.event_timestamp <= $2
      -- state_at reads events after the snapshot, and the whole history of the tables it does not cover.
      AND e.event_timestamp > CASE
          WHEN cardinality($5::text[]) > 0 AND t.table_name <> ALL ($5::text[]) THEN '-infinity'::timestamptz
          ELSE COALESCE($4::timestamptz, '-infinity')
      END
      AND ($6::text[] IS NULL OR e.table_name = ANY ($6::text[]))
      AND ($7::text[] IS NULL OR e.table_name <> ALL ($7::text[]) OR e.event_timestamp >= $8::timestamptz)
    ORDER BY e.event_timestamp DESC, e.seq DESC
    LIMIT 1
) AS ev ON true
-- ... and only when there is none, its snapshot row (the condition on ev skips the lookup).
LEFT JOIN LATERAL (
    SELECT snap.op::text AS op, snap.entity_state, snap.event_timestamp, snap.seq
    FROM snapshot_rows AS snap
    WHERE ev.op IS NULL AND snap.snapshot_id = $3 AND snap.table_name = t.table_name AND snap.entity_id = t.entity_id
      AND ($6::text[] IS NULL OR snap.table_name = ANY ($6::text[]))
      AND ($7::text[] IS NULL OR snap.table_name <> ALL ($7::text[]) OR snap.event_timestamp >= $8::timestamptz)
) AS sn ON true
ORDER BY 5, 6, 1, 2

-- name: serial_plan
-- For the rest of the current transaction, plan without parallel workers: a seek's few index lookups finish
-- before a worker would have started.
SELECT set_config('max_parallel_workers_per_gather', '0', true)
