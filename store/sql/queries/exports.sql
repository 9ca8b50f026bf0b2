-- name: count_events
-- How many of tenant $1's events lie in ($2, $3] with filters $4 $5 $6 (as events_between): an export's total.
SELECT count(*)
FROM events
WHERE tenant_id = $1
  AND event_timestamp > $2
  AND event_timestamp <= $3
  AND ($4::text[] IS NULL OR table_name = ANY ($4::text[]))
  AND ($5::text[] IS NULL OR table_name <> ALL ($5::text[]) OR event_timestamp >= $6::timestamptz)

-- name: pending_exports
-- Up to $1 export jobs waiting to run ('scheduled') or running ('running'), oldest first: id and status.
SELECT id, status FROM jobs
WHERE kind = 'export' AND status IN ('scheduled', 'running')
ORDER BY created_at, id
LIMIT $1

-- name: append_piece
-- Store piece $2 (0-based, in file order) of export $1's file: bytes $3.
INSERT INTO export_chunks (job_id, seq, data) VALUES ($1, $2, $3)

-- name: read_piece
-- Bytes of piece $2 of export $1's file, from byte $3 (1-based, within the piece) on, at most $4 of them.
SELECT substring(data FROM $3 FOR $4) FROM export_chunks WHERE job_id = $1 AND seq = $2

-- name: delete_pieces
-- Remove export $1's file (a cancelled or failed export, or one that is written again).
DELETE FROM export_chunks WHERE job_id = $1
