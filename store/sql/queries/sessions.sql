-- name: insert_sessions
-- Create ACTIVE sessions, each with its 'created' entry in the activity log; the arrays hold, per session: $1 id,
-- $2 kind, $3 tenant, $4 user (also creator), $5 range start, $6 range end. Returns the rows.
WITH created AS (
    INSERT INTO sessions (id, kind, tenant_id, user_id, status, created_by, updated_by, range_start, range_end,
                          playback_position)
    SELECT id, kind, tenant_id, user_id, 'ACTIVE', user_id, user_id, range_start, range_end, range_start
    FROM unnest($1::uuid[], $2::text[], $3::uuid[], $4::text[], $5::timestamptz[], $6::timestamptz[])
        AS t(id, kind, tenant_id, user_id, range_start, range_end)
    RETURNING *
), logged AS (
    INSERT INTO session_activity (session_id, tenant_id, actor_id, action)
    SELECT id, tenant_id, user_id, 'created' FROM created
)
SELECT * FROM created

-- name: discard_sessions
-- Remove sessions that were never admitted, with their activity: $1 ids.
WITH gone AS (DELETE FROM sessions WHERE id = ANY($1::uuid[]) RETURNING id)
DELETE FROM session_activity WHERE session_id IN (SELECT id FROM gone)

-- name: get_session
-- One session by id: $1 id.
SELECT * FROM sessions WHERE id = $1

-- name: terminate_session
-- Make an ACTIVE session INACTIVE (bumping occ_lock) when $4 (expected occ_lock) is NULL or current and, when
-- $5/$6 are given, it belongs to that tenant/user: $1 id, $2 actor, $3 reason. Returns the row only when it changed.
WITH changed AS (
    UPDATE sessions SET status = 'INACTIVE', ended_reason = $3, updated_by = $2, updated_at = now(),
                        occ_lock = occ_lock + 1
    WHERE id = $1 AND status = 'ACTIVE' AND ($4::bigint IS NULL OR occ_lock = $4)
      AND ($5::uuid IS NULL OR tenant_id = $5) AND ($6::text IS NULL OR user_id = $6)
    RETURNING *
), logged AS (
    INSERT INTO session_activity (session_id, tenant_id, actor_id, action, details)
    SELECT id, tenant_id, $2, 'terminated', jsonb_build_object('reason', $3::text) FROM changed
)
SELECT * FROM changed

-- name: delete_session
-- Delete a session when $3 (expected occ_lock) is NULL or current, logging who did: $1 id, $2 actor.
WITH gone AS (
    DELETE FROM sessions WHERE id = $1 AND ($3::bigint IS NULL OR occ_lock = $3)
    RETURNING id, tenant_id, status
), logged AS (
    INSERT INTO session_activity (session_id, tenant_id, actor_id, action)
    SELECT id, tenant_id, $2, 'deleted' FROM gone
)
SELECT * FROM gone

-- name: expire_idle_sessions
-- Make ACTIVE sessions last seen before $1 INACTIVE (reason 'idle'); returns their ids.
WITH expired AS (
    UPDATE sessions SET status = 'INACTIVE', ended_reason = 'idle', updated_by = 'system', updated_at = now(),
                        occ_lock = occ_lock + 1
    WHERE status = 'ACTIVE' AND last_seen_at < $1
    RETURNING id, tenant_id
), logged AS (
    INSERT INTO session_activity (session_id, tenant_id, actor_id, action)
    SELECT id, tenant_id, 'system', 'expired' FROM expired
)
SELECT id FROM expired

-- name: touch_sessions
-- Record API use: $1 ids, $2 the matching last-seen instants (liveness bookkeeping; occ_lock unchanged).
UPDATE sessions AS s SET last_seen_at = GREATEST(s.last_seen_at, t.seen_at)
FROM unnest($1::uuid[], $2::timestamptz[]) AS t(id, seen_at)
WHERE s.id = t.id AND s.status = 'ACTIVE'

-- name: active_session_ids
-- The ids of every ACTIVE session (to rebuild the Redis admission set); no arguments.
SELECT id FROM sessions WHERE status = 'ACTIVE'

-- name: active_among
-- Which of $1 ids are ACTIVE sessions.
SELECT id FROM sessions WHERE id = ANY($1::uuid[]) AND status = 'ACTIVE'

-- name: count_active_sessions
-- The number of ACTIVE sessions; no arguments.
SELECT count(*) FROM sessions WHERE status = 'ACTIVE'

-- name: count_sessions_by_status
-- How many sessions there are of each kind and status (for the metrics); no arguments.
SELECT kind, status, count(*) AS sessions FROM sessions GROUP BY kind, status
