-- Schema v1: events, snapshots, sessions and their activity, admin settings, per-tenant configuration, jobs.

-- Runtime settings of seed 000 (one row). `version` bumps on every change so replicas notice cheaply.
CREATE TABLE settings (
    id smallint PRIMARY KEY DEFAULT 1 CHECK (id = 1),
    max_active_sessions integer NOT NULL DEFAULT 10 CHECK (max_active_sessions > 0),
    max_playback_range integer NOT NULL DEFAULT 30 CHECK (max_playback_range > 0),
    data_retention_cron_expression text NOT NULL DEFAULT '0 2 * * *',
    earliest_valid_timestamp timestamptz NOT NULL DEFAULT '2024-01-15T00:00:00Z',
    query_work_mem_mb integer NOT NULL DEFAULT 256 CHECK (query_work_mem_mb > 0),
    columnstore_compression_age_days integer NOT NULL DEFAULT 7 CHECK (columnstore_compression_age_days > 0),
    cagg_refresh_interval_hours double precision NOT NULL DEFAULT 1 CHECK (cagg_refresh_interval_hours > 0),
    cagg_refresh_lag_days integer NOT NULL DEFAULT 1 CHECK (cagg_refresh_lag_days > 0),
    version bigint NOT NULL DEFAULT 0,
    updated_at timestamptz NOT NULL DEFAULT now(),
    updated_by text
);
INSERT INTO settings (id) VALUES (1);

-- Per-tenant configuration of seed 001 (snapshot schedule and tracked tables).
CREATE TABLE tenant_config (
    tenant_id uuid PRIMARY KEY,
    snapshot_interval text NOT NULL DEFAULT '0 * * * *',
    snapshot_list_tables text[] NOT NULL DEFAULT '{}',
    updated_at timestamptz NOT NULL DEFAULT now(),
    updated_by text
);

-- Change events, range-partitioned by event time (partitions are created ahead by the server;
-- the default partition catches anything outside them so an insert never fails for lack of one).
CREATE SEQUENCE event_seq AS bigint;
CREATE TABLE events (
    tenant_id uuid NOT NULL,
    event_timestamp timestamptz NOT NULL,
    seq bigint NOT NULL DEFAULT nextval('event_seq'),
    table_name text NOT NULL,
    entity_id text NOT NULL,
    op "char" NOT NULL CHECK (op IN ('c', 'r', 'u', 'd')),
    -- Kept as json (verbatim text), passed through to clients without decoding.
    entity_state json,
    -- Client-supplied identity; '' means "identity is (table_name, entity_id, op, event_timestamp)".
    event_id text NOT NULL DEFAULT '',
    ingested_at timestamptz NOT NULL DEFAULT now()
) PARTITION BY RANGE (event_timestamp);
CREATE TABLE events_default PARTITION OF events DEFAULT;
-- Idempotency of ingest; includes the partition key as PostgreSQL requires.
CREATE UNIQUE INDEX events_identity ON events (tenant_id, event_timestamp, table_name, entity_id, op, event_id);
-- Keyset reads of events in (start, end].
CREATE INDEX events_time ON events (tenant_id, event_timestamp, seq);
-- "Latest event per entity up to T".
CREATE INDEX events_entity ON events (tenant_id, table_name, entity_id, event_timestamp DESC, seq DESC);

-- Snapshots: the full state of a tenant's tracked tables at `taken_at`.
CREATE TABLE snapshots (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id uuid NOT NULL,
    taken_at timestamptz NOT NULL,
    kind text NOT NULL CHECK (kind IN ('source', 'checkpoint')),
    -- Tables covered; an empty array means every table of the tenant.
    tables text[] NOT NULL DEFAULT '{}',
    status text NOT NULL DEFAULT 'building' CHECK (status IN ('building', 'complete', 'invalid')),
    -- Highest event seq folded in, so a late event older than taken_at can invalidate it.
    max_seq bigint NOT NULL DEFAULT 0,
    row_count bigint NOT NULL DEFAULT 0,
    created_at timestamptz NOT NULL DEFAULT now(),
    completed_at timestamptz
);
CREATE INDEX snapshots_lookup ON snapshots (tenant_id, taken_at DESC) WHERE status = 'complete';

-- Rows of a snapshot; each keeps the op, time and seq of the event it came from (checkpoints are invisible).
CREATE TABLE snapshot_rows (
    snapshot_id bigint NOT NULL REFERENCES snapshots (id) ON DELETE CASCADE,
    table_name text NOT NULL,
    entity_id text NOT NULL,
    op "char" NOT NULL CHECK (op IN ('c', 'r', 'u')),
    entity_state json,
    event_timestamp timestamptz NOT NULL,
    seq bigint NOT NULL,
    PRIMARY KEY (snapshot_id, table_name, entity_id)
);

-- Event counts per minute and table, the rollup behind /replay/histogram.
CREATE TABLE event_rollup (
    tenant_id uuid NOT NULL,
    bucket timestamptz NOT NULL,
    table_name text NOT NULL,
    event_count bigint NOT NULL,
    PRIMARY KEY (tenant_id, bucket, table_name)
);
CREATE TABLE event_rollup_state (
    id smallint PRIMARY KEY DEFAULT 1 CHECK (id = 1),
    refreshed_until timestamptz,
    refreshed_at timestamptz
);
INSERT INTO event_rollup_state (id) VALUES (1);

-- Replay sessions: multi-session (kind 'msr', seed 000) and record-and-replay (kind 'rnr', seed 001).
CREATE TABLE sessions (
    id uuid PRIMARY KEY,
    kind text NOT NULL DEFAULT 'msr' CHECK (kind IN ('msr', 'rnr')),
    tenant_id uuid NOT NULL,
    user_id text NOT NULL,
    status text NOT NULL CHECK (status IN ('ACTIVE', 'INACTIVE')),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    created_by text NOT NULL,
    updated_by text NOT NULL,
    last_seen_at timestamptz NOT NULL DEFAULT now(),
    occ_lock bigint NOT NULL DEFAULT 0,
    ended_reason text,
    -- Playback: the range, and the clock as last persisted by the replica owning it.
    range_start timestamptz,
    range_end timestamptz,
    playback_state text NOT NULL DEFAULT 'paused' CHECK (playback_state IN ('paused', 'playing', 'ended')),
    playback_speed double precision NOT NULL DEFAULT 1 CHECK (playback_speed > 0),
    playback_position timestamptz,
    -- Record and replay: its own status words (seed 001).
    rnr_status text
);
CREATE INDEX sessions_tenant_status ON sessions (tenant_id, status, last_seen_at);
CREATE INDEX sessions_user ON sessions (user_id, created_at);
CREATE INDEX sessions_active ON sessions (status) WHERE status = 'ACTIVE';
-- One live record-and-replay per tenant.
CREATE UNIQUE INDEX sessions_one_live_rnr ON sessions (tenant_id) WHERE kind = 'rnr' AND status = 'ACTIVE';

-- Who did what to a session, and when.
CREATE TABLE session_activity (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    session_id uuid NOT NULL,
    tenant_id uuid NOT NULL,
    actor_id text,
    action text NOT NULL,
    details jsonb,
    at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX session_activity_session ON session_activity (session_id, at, id);
CREATE INDEX session_activity_actor ON session_activity (actor_id);

-- Background jobs (retention, snapshots, rollup refresh, erasure, exports).
CREATE TABLE jobs (
    id uuid PRIMARY KEY,
    kind text NOT NULL,
    tenant_id uuid,
    status text NOT NULL DEFAULT 'scheduled'
        CHECK (status IN ('scheduled', 'running', 'completed', 'failed', 'cancelled')),
    progress double precision NOT NULL DEFAULT 0 CHECK (progress >= 0 AND progress <= 1),
    params jsonb NOT NULL DEFAULT '{}',
    result jsonb,
    error text,
    cancel_requested boolean NOT NULL DEFAULT false,
    created_by text,
    created_at timestamptz NOT NULL DEFAULT now(),
    started_at timestamptz,
    finished_at timestamptz
);
CREATE INDEX jobs_created ON jobs (created_at DESC);
CREATE INDEX jobs_status ON jobs (status) WHERE status IN ('scheduled', 'running');
