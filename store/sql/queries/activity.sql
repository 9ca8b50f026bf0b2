-- name: activity_page
-- The activity log of session $1 (of tenant $2 when given), oldest first: actions in $3 (NULL: all), at or after $4
-- and before $5 (NULL: unbounded), $6 per page skipping $7; with the total.
SELECT id, session_id, tenant_id, actor_id, action, details, at, count(*) OVER () AS total
FROM session_activity
WHERE session_id = $1 AND ($2::uuid IS NULL OR tenant_id = $2) AND ($3::text[] IS NULL OR action = ANY($3))
  AND ($4::timestamptz IS NULL OR at >= $4) AND ($5::timestamptz IS NULL OR at < $5)
ORDER BY at, id
LIMIT $6 OFFSET $7

-- name: activity_count
-- How many entries activity_page would list in all (same $1..$5).
SELECT count(*) FROM session_activity
WHERE session_id = $1 AND ($2::uuid IS NULL OR tenant_id = $2) AND ($3::text[] IS NULL OR action = ANY($3))
  AND ($4::timestamptz IS NULL OR at >= $4) AND ($5::timestamptz IS NULL OR at < $5)

-- name: session_known
-- Whether session $1 (of tenant $2 when given) exists, or has log entries left (a deleted session keeps its log).
SELECT EXISTS (SELECT 1 FROM sessions WHERE id = $1 AND ($2::uuid IS NULL OR tenant_id = $2))
    OR EXISTS (SELECT 1 FROM session_activity WHERE session_id = $1 AND ($2::uuid IS NULL OR tenant_id = $2))
