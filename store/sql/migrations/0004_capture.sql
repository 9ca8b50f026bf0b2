-- Capture: the source transaction of each event, and the truncates that were recorded.

-- The source transaction an event belongs to ('' when none): its events share one instant (see docs/decisions.md).
ALTER TABLE events ADD COLUMN txn text NOT NULL DEFAULT '';
-- Ingest looks up the instant a transaction already has, when more of its events arrive later.
CREATE INDEX events_txn ON events (tenant_id, txn) WHERE txn <> '';

-- A truncate deletes, at its instant, every entity its table has then (as ordinary 'd' events written at ingest);
-- its row here makes a retried truncate a duplicate rather than a second sweep.
CREATE TABLE truncates (
    tenant_id uuid NOT NULL,
    table_name text NOT NULL,
    at timestamptz NOT NULL,
    event_id text NOT NULL,
    txn text NOT NULL DEFAULT '',
    deleted bigint NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, table_name, at, event_id)
);
CREATE INDEX truncates_txn ON truncates (tenant_id, txn) WHERE txn <> '';

-- Tables captured from PostgreSQL sources (`msr capture add`): a trigger on each writes its changes to the source's
-- outbox (schema msr_capture), which the server drains. source_url '' is the server's own database.
CREATE TABLE capture_tables (
    tenant_id uuid NOT NULL,
    source_url text NOT NULL,
    table_name text NOT NULL,
    key_column text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, source_url, table_name)
);
