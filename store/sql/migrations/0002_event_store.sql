-- Event store v1 additions: the index behind snapshot invalidation and the snapshot scheduler.

-- Ingest marks every live snapshot of a tenant at or after its earliest new event 'invalid', and the scheduler
-- looks for the snapshots of an instant; both read a tenant's non-invalid snapshots by time.
CREATE INDEX snapshots_live ON snapshots (tenant_id, taken_at) WHERE status <> 'invalid';
