-- name: primary_wal_position
-- The primary's WAL write position: every transaction acknowledged to a client ends at or before it; no arguments.
SELECT pg_current_wal_lsn()::text

-- name: replayed_up_to
-- Whether this replica has replayed WAL up to $1 (a pg_lsn as text); false on a server that is not a replica.
SELECT coalesce(pg_last_wal_replay_lsn() >= $1::text::pg_lsn, false)
