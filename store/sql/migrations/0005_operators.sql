-- Operators (seed 002): jobs count their steps, one unfinished erasure per user, and the activity log is read by
-- time.

-- Progress as steps done of a known total, beside the fraction (NULL for jobs that only report a fraction).
ALTER TABLE jobs ADD COLUMN progress_done bigint, ADD COLUMN progress_total bigint;

-- At most one unfinished erasure per (tenant, user): a repeated DELETE /admin/users/{id} answers the same job.
CREATE UNIQUE INDEX jobs_one_unfinished_erasure ON jobs (tenant_id, (params ->> 'user_id'))
    WHERE kind = 'user_erasure' AND status IN ('scheduled', 'running');

-- The job listing filters by kind and status, newest first.
CREATE INDEX jobs_kind_created ON jobs (kind, created_at DESC);

-- A user's sessions by tenant and time window.
CREATE INDEX sessions_tenant_user ON sessions (tenant_id, user_id, created_at);
