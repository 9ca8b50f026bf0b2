-- name: schedule_erasure
-- A scheduled 'user_erasure' job for user $3 of tenant $2 (id $1, created by $4), unless one is unfinished (then no
-- row: see unfinished_erasure).
INSERT INTO jobs (id, kind, tenant_id, params, created_by, progress_done)
VALUES ($1, 'user_erasure', $2, jsonb_build_object('user_id', $3::text), $4, 0)
ON CONFLICT (tenant_id, (params ->> 'user_id')) WHERE kind = 'user_erasure' AND status IN ('scheduled', 'running')
DO NOTHING
RETURNING *

-- name: unfinished_erasure
-- The unfinished erasure job of user $2 of tenant $1, if any.
SELECT * FROM jobs
WHERE kind = 'user_erasure' AND tenant_id = $1 AND params ->> 'user_id' = $2 AND status IN ('scheduled', 'running')

-- name: unfinished_erasures
-- The ids of every unfinished erasure job, oldest first; no arguments.
SELECT id FROM jobs WHERE kind = 'user_erasure' AND status IN ('scheduled', 'running') ORDER BY created_at, id

-- name: claim_erasure
-- Run (or go on running) erasure job $1: scheduled becomes running; the first time, its step total becomes the
-- number of the user's sessions. No row when it has finished (or was cancelled while scheduled).
UPDATE jobs SET status = 'running', started_at = COALESCE(started_at, now()),
                progress_total = COALESCE(progress_total, (
                    SELECT count(*) FROM sessions s WHERE s.tenant_id = jobs.tenant_id AND s.user_id = jobs.params ->> 'user_id'))
WHERE id = $1 AND kind = 'user_erasure' AND status IN ('scheduled', 'running')
RETURNING *

-- name: active_user_sessions
-- The ids of the ACTIVE sessions of user $2 of tenant $1.
SELECT id FROM sessions WHERE tenant_id = $1 AND user_id = $2 AND status = 'ACTIVE'

-- name: user_has_data
-- Whether user $2 of tenant $1 still has a session or an activity-log entry.
SELECT EXISTS (SELECT 1 FROM sessions WHERE tenant_id = $1 AND user_id = $2)
    OR EXISTS (SELECT 1 FROM session_activity WHERE tenant_id = $1 AND actor_id = $2)

-- name: erase_one_session
-- While job $1 runs: delete one session of user $3 of tenant $2 with its whole activity log, and count it in the
-- job in the same statement (a crash loses both or neither). Returns the sessions and entries deleted; no row when
-- the job is not running.
WITH job AS (
    SELECT id FROM jobs WHERE id = $1 AND status = 'running'
), target AS (
    SELECT s.id FROM sessions s, job
    WHERE s.tenant_id = $2 AND s.user_id = $3
    ORDER BY s.id LIMIT 1 FOR UPDATE OF s
), entries AS (
    DELETE FROM session_activity WHERE session_id IN (SELECT id FROM target) RETURNING 1
), gone AS (
    DELETE FROM sessions WHERE id IN (SELECT id FROM target) RETURNING 1
), counted AS (
    SELECT (SELECT count(*) FROM gone) AS sessions, (SELECT count(*) FROM entries) AS entries
)
UPDATE jobs SET
    progress_done = COALESCE(progress_done, 0) + counted.sessions,
    progress_total = GREATEST(progress_total, COALESCE(progress_done, 0) + counted.sessions),
    result = COALESCE(result, '{}') || jsonb_build_object(
        'sessions', COALESCE((result ->> 'sessions')::bigint, 0) + counted.sessions,
        'activity_entries', COALESCE((result ->> 'activity_entries')::bigint, 0) + counted.entries)
FROM job, counted
WHERE jobs.id = job.id
RETURNING counted.sessions, counted.entries

-- name: erase_actor_entries
-- While job $1 runs: delete up to $4 activity-log entries by user $3 of tenant $2 in other users' sessions (as a
-- viewer, say), counting them in the job in the same statement. Returns how many; no row when the job is not running.
WITH job AS (
    SELECT id FROM jobs WHERE id = $1 AND status = 'running'
), target AS (
    SELECT a.id FROM session_activity a, job WHERE a.tenant_id = $2 AND a.actor_id = $3 LIMIT $4 FOR UPDATE OF a
), gone AS (
    DELETE FROM session_activity WHERE id IN (SELECT id FROM target) RETURNING 1
), counted AS (
    SELECT count(*) AS entries FROM gone
)
UPDATE jobs SET result = COALESCE(result, '{}') || jsonb_build_object(
    'activity_entries', COALESCE((result ->> 'activity_entries')::bigint, 0) + counted.entries)
FROM job, counted
WHERE jobs.id = job.id
RETURNING counted.entries

-- name: erase_attributions
-- While job $1 runs, once: replace user $3 of tenant $2 by $4 wherever a row only names who changed it (other
-- sessions, the tenant's configuration, its jobs, the settings), counted in the job. Returns how many rows; no row
-- when the job is not running or did this already.
WITH job AS (
    SELECT id FROM jobs
    WHERE id = $1 AND status = 'running' AND NOT COALESCE(result ? 'attributions', false)
    FOR UPDATE
), in_sessions AS (
    UPDATE sessions SET updated_by = $4
    WHERE tenant_id = $2 AND updated_by = $3 AND EXISTS (SELECT 1 FROM job) RETURNING 1
), in_config AS (
    UPDATE tenant_config SET updated_by = $4
    WHERE tenant_id = $2 AND updated_by = $3 AND EXISTS (SELECT 1 FROM job) RETURNING 1
), in_jobs AS (
    UPDATE jobs SET created_by = $4
    WHERE tenant_id = $2 AND created_by = $3 AND id <> $1 AND EXISTS (SELECT 1 FROM job) RETURNING 1
), in_settings AS (
    UPDATE settings SET updated_by = $4 WHERE updated_by = $3 AND EXISTS (SELECT 1 FROM job) RETURNING 1
), counted AS (
    SELECT (SELECT count(*) FROM in_sessions) + (SELECT count(*) FROM in_config) + (SELECT count(*) FROM in_jobs)
           + (SELECT count(*) FROM in_settings) AS attributions
)
UPDATE jobs SET result = COALESCE(result, '{}') || jsonb_build_object('attributions', counted.attributions)
FROM job, counted
WHERE jobs.id = job.id
RETURNING counted.attributions

-- name: complete_erasure
-- End running erasure job $1: completed, its parameters replaced by $2 (the digest of who was erased), so the job
-- records that an erasure happened without keeping whose data it was. Returns it; no row when not running.
UPDATE jobs SET status = 'completed', finished_at = now(), progress = 1,
                progress_done = GREATEST(progress_done, progress_total), params = jsonb_build_object('user_digest', $2::text)
WHERE id = $1 AND status = 'running'
RETURNING *
