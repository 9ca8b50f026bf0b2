-- name: create_job
-- A new 'scheduled' job: $1 id, $2 kind, $3 tenant (NULL: every tenant), $4 params (jsonb text), $5 created by,
-- $6 creation time (NULL: now).
INSERT INTO jobs (id, kind, tenant_id, params, created_by, created_at)
VALUES ($1, $2, $3, $4::jsonb, $5, COALESCE($6, now()))
RETURNING *

-- name: start_job
-- Job $1 goes from 'scheduled' to 'running' (a job cancelled meanwhile stays cancelled); returns it when it started.
UPDATE jobs SET status = 'running', started_at = now()
WHERE id = $1 AND status = 'scheduled'
RETURNING *

-- name: report_progress
-- Record progress $2 (0..1, never lower than before) of running job $1, and its steps done $3 of $4 when given
-- (NULL: unchanged); returns whether a cancel was requested.
UPDATE jobs SET progress = GREATEST(progress, $2), progress_done = COALESCE($3, progress_done),
                progress_total = COALESCE($4, progress_total)
WHERE id = $1 AND status = 'running'
RETURNING cancel_requested

-- name: finish_job
-- End running job $1 with status $2 ('completed', 'failed' or 'cancelled'), result $3 (jsonb text; NULL keeps what
-- the job's steps recorded) and error $4; a completed job's progress becomes 1. Returns it.
UPDATE jobs SET status = $2, result = COALESCE($3::jsonb, result), error = $4, finished_at = now(),
                progress = CASE WHEN $2 = 'completed' THEN 1 ELSE progress END,
                progress_done = CASE WHEN $2 = 'completed' THEN progress_total ELSE progress_done END
WHERE id = $1 AND status IN ('scheduled', 'running')
RETURNING *

-- name: request_cancel
-- Cancel job $1 (of tenant $2 when given, or deployment-wide when $3): a scheduled job is cancelled at once, a
-- running one is asked to stop at its next step; a finished job is unchanged. Returns the job and its status before
-- (``was_status``); no row when it does not exist (for that tenant).
WITH before AS (
    SELECT id, status FROM jobs
    WHERE id = $1 AND ($2::uuid IS NULL OR tenant_id = $2 OR ($3::boolean AND tenant_id IS NULL))
    FOR UPDATE
)
UPDATE jobs SET
    cancel_requested = jobs.cancel_requested OR jobs.status IN ('scheduled', 'running'),
    status = CASE WHEN jobs.status = 'scheduled' THEN 'cancelled' ELSE jobs.status END,
    finished_at = CASE WHEN jobs.status = 'scheduled' THEN now() ELSE jobs.finished_at END
FROM before
WHERE jobs.id = before.id
RETURNING jobs.*, before.status AS was_status

-- name: get_job
-- Job $1 (of tenant $2 when given, or deployment-wide when $3).
SELECT * FROM jobs WHERE id = $1 AND ($2::uuid IS NULL OR tenant_id = $2 OR ($3::boolean AND tenant_id IS NULL))

-- name: list_jobs
-- Jobs newest first (of tenant $1 when given, and then also the deployment-wide ones when $6; of kind $2 and status
-- $5 when given), $3 per page, skipping $4 rows; with the total.
SELECT *, count(*) OVER () AS total
FROM jobs
WHERE ($1::uuid IS NULL OR tenant_id = $1 OR ($6::boolean AND tenant_id IS NULL))
  AND ($2::text IS NULL OR kind = $2) AND ($5::text IS NULL OR status = $5)
ORDER BY created_at DESC, id
LIMIT $3 OFFSET $4

-- name: latest_job_since
-- The newest job of kind $1 created at or after $2 (any status); no row when none.
SELECT * FROM jobs WHERE kind = $1 AND created_at >= $2 ORDER BY created_at DESC LIMIT 1

-- name: abandon_running_jobs
-- Fail every 'running' or 'scheduled' job of kind $1 except $2 (NULL: none) with error $3: their runner is gone.
-- Returns their ids.
UPDATE jobs SET status = 'failed', error = $3, finished_at = now()
WHERE kind = $1 AND status IN ('scheduled', 'running') AND ($2::uuid IS NULL OR id <> $2)
RETURNING id

-- name: prune_finished_jobs
-- Delete the jobs that finished before $1, their export files with them (ON DELETE CASCADE), except the newest job
-- of each deployment-wide kind (retention, rollup refresh): it says when that kind last ran. Returns how many.
WITH newest AS (SELECT DISTINCT ON (kind) id FROM jobs WHERE tenant_id IS NULL ORDER BY kind, created_at DESC),
deleted AS (
    DELETE FROM jobs
    WHERE status IN ('completed', 'failed', 'cancelled') AND finished_at < $1 AND id NOT IN (SELECT id FROM newest)
    RETURNING 1
)
SELECT count(*) FROM deleted
