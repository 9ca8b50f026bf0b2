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
-- entity of tenant $1 with an event in ($9, $10], its row in the state_at query ($1..$8 as there, at $2; spliced
-- in), or, when it does not exist at $2, a delete stamped $2 with seq 0; in (event_timestamp, seq) order.
SELECT t.table_name, t.entity_id, COALESCE(s.op, 'd') AS op, s.entity_state,
       COALESCE(s.event_timestamp, $2) AS event_timestamp, COALESCE(s.seq, 0) AS seq
FROM (
    SELECT DISTINCT table_name, entity_id
    FROM events
    WHERE tenant_id = $1 AND event_timestamp > $9::timestamptz AND event_timestamp <= $10::timestamptz
) AS t
LEFT JOIN ({state_at}) AS s ON s.table_name = t.table_name AND s.entity_id = t.entity_id
ORDER BY 5, 6, 1, 2
