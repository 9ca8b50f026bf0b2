-- name: save_clock
-- Persist the playback clock of an ACTIVE session (bookkeeping, occ_lock unchanged), fenced by the owner's lease
-- epoch: $1 id, $2 state ('paused'|'playing'|'ended'), $3 speed, $4 position, $5 RnR status (NULL keeps it), $6 the
-- saving owner's epoch. A row saved by a newer epoch is left alone. Returns a row when saved, none otherwise.
-- (Under READ COMMITTED a save waiting for a concurrent one checks the epoch again on the row that one left.)
UPDATE sessions
SET playback_state = $2, playback_speed = $3, playback_position = $4, rnr_status = COALESCE($5, rnr_status),
    clock_epoch = $6
WHERE id = $1 AND status = 'ACTIVE' AND clock_epoch <= $6
RETURNING clock_epoch

-- name: set_range
-- Give a session its playback range once (a session made by POST /session gets it when first played): $1 id,
-- $2 range start, $3 range end. Returns the row as it is afterwards.
WITH ranged AS (
    UPDATE sessions
    SET range_start = $2, range_end = $3,
        playback_position = CASE WHEN playback_position BETWEEN $2 AND $3 THEN playback_position ELSE $2 END
    WHERE id = $1 AND range_start IS NULL
    RETURNING *
)
SELECT * FROM ranged
UNION ALL
SELECT * FROM sessions WHERE id = $1 AND NOT EXISTS (SELECT FROM ranged)

-- name: set_rnr_status
-- Set the record-and-replay status words of a session: $1 id, $2 status.
UPDATE sessions SET rnr_status = $2 WHERE id = $1

-- name: log_activity
-- Append to a session's activity log: $1 session id, $2 tenant, $3 actor, $4 action, $5 details (jsonb or NULL).
-- Nothing when the session is gone (deleted or erased: a viewer closed after its erasure must not leave a trace).
INSERT INTO session_activity (session_id, tenant_id, actor_id, action, details)
SELECT $1, $2, $3, $4, $5::jsonb WHERE EXISTS (SELECT 1 FROM sessions WHERE id = $1)

-- name: log_activities
-- Append many entries at once, each at its own instant: $1 session ids, $2 tenants, $3 actors, $4 actions,
-- $5 details (json text or NULL), $6 instants. Entries of sessions gone (deleted, erased) are left out.
INSERT INTO session_activity (session_id, tenant_id, actor_id, action, details, at)
SELECT e.session_id, e.tenant_id, e.actor_id, e.action, e.details::jsonb, e.at
FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::text[], $6::timestamptz[])
    WITH ORDINALITY AS e (session_id, tenant_id, actor_id, action, details, at, n)
WHERE EXISTS (SELECT 1 FROM sessions WHERE id = e.session_id)
ORDER BY e.n

-- name: current_rnr
-- The tenant's live (ACTIVE) record-and-replay session, if any: $1 tenant.
SELECT * FROM sessions WHERE tenant_id = $1 AND kind = 'rnr' AND status = 'ACTIVE'

-- name: previous_event
-- The instant of tenant $1's latest event in ($2, $3): where a step back by event lands (NULL when none).
SELECT max(event_timestamp) FROM events WHERE tenant_id = $1 AND event_timestamp > $2 AND event_timestamp < $3
