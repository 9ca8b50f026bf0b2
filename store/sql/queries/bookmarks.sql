-- name: create_bookmark
-- A new bookmark: $1 id, $2 tenant, $3 user, $4 instant, $5 note. Returns it.
INSERT INTO bookmarks (id, tenant_id, user_id, at, note) VALUES ($1, $2, $3, $4, $5)
RETURNING id, at, note, created_at

-- name: list_bookmarks
-- User $2 of tenant $1's bookmarks with $3 <= at <= $4 (NULL: unbounded), after ($5, $6) in (at, id) order
-- (NULL: from the first), at most $7.
SELECT id, at, note, created_at
FROM bookmarks
WHERE tenant_id = $1 AND user_id = $2
  AND ($3::timestamptz IS NULL OR at >= $3)
  AND ($4::timestamptz IS NULL OR at <= $4)
  AND ($5::timestamptz IS NULL OR (at, id) > ($5::timestamptz, $6::uuid))
ORDER BY at, id
LIMIT $7

-- name: delete_bookmark
-- Remove bookmark $1 of user $3 of tenant $2; returns its id when it was there.
DELETE FROM bookmarks WHERE id = $1 AND tenant_id = $2 AND user_id = $3 RETURNING id
