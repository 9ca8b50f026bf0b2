-- name: tenant_has_events
-- Whether tenant $1 (NULL: any tenant) has stored an event.
SELECT EXISTS (SELECT FROM events WHERE $1::uuid IS NULL OR tenant_id = $1)

-- name: no_statement_timeout
-- Lift statement_timeout for the rest of the current transaction (a bulk load runs longer); no arguments.
SELECT set_config('statement_timeout', '0', true)

-- name: analyze_events
-- Refresh the planner's statistics of events and its partitions after a bulk load; no arguments.
ANALYZE events
