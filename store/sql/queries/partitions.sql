-- name: events_relkind
-- How the events table is stored: 'p' native range partitions, 'r' a plain table (a TimescaleDB hypertable).
SELECT relkind::text FROM pg_class WHERE oid = 'events'::regclass

-- name: event_partitions
-- The names of the tables attached to events as partitions; no arguments.
SELECT child.relname::text
FROM pg_inherits
JOIN pg_class AS child ON child.oid = pg_inherits.inhrelid
WHERE pg_inherits.inhparent = 'events'::regclass

-- name: lock_partition_maintenance
-- Serialise partition maintenance between replicas (transaction-scoped advisory lock $1).
SELECT pg_advisory_xact_lock($1)

-- name: set_lock_timeout
-- Give up waiting for a table lock after $1 (e.g. '5000ms') for the rest of the transaction.
SELECT set_config('lock_timeout', $1, true)

-- name: create_partition
-- DDL template ({partition}, {lower}, {upper}): a day's partition, with its rows moved out of the default one.
LOCK TABLE events_default IN ACCESS EXCLUSIVE MODE;
CREATE TABLE {partition} (LIKE events INCLUDING DEFAULTS INCLUDING CONSTRAINTS);
-- The CHECK lets ATTACH skip scanning the new table; redundant once attached.
ALTER TABLE {partition} ADD CONSTRAINT {partition}_bounds
    CHECK (event_timestamp >= '{lower}' AND event_timestamp < '{upper}');
WITH moved AS (
    DELETE FROM events_default WHERE event_timestamp >= '{lower}' AND event_timestamp < '{upper}' RETURNING *
)
INSERT INTO {partition} SELECT * FROM moved;
ALTER TABLE events ATTACH PARTITION {partition} FOR VALUES FROM ('{lower}') TO ('{upper}');
ALTER TABLE {partition} DROP CONSTRAINT {partition}_bounds

-- name: timescaledb_available
-- Whether the TimescaleDB extension can be installed on this server; no arguments.
SELECT EXISTS (SELECT FROM pg_available_extensions WHERE name = 'timescaledb')

-- name: events_is_empty
-- Whether no event is stored yet; no arguments.
SELECT NOT EXISTS (SELECT FROM events)

-- name: convert_to_hypertable
-- DDL, no arguments: replace the empty partitioned events table by a hypertable of daily chunks, same columns.
CREATE EXTENSION IF NOT EXISTS timescaledb;
ALTER TABLE events RENAME TO events_partitioned;
CREATE TABLE events (LIKE events_partitioned INCLUDING DEFAULTS INCLUDING CONSTRAINTS);
DROP TABLE events_partitioned;
SELECT create_hypertable('events', 'event_timestamp', chunk_time_interval => INTERVAL '1 day');
-- The indexes of migration 0001.
CREATE UNIQUE INDEX events_identity ON events (tenant_id, event_timestamp, table_name, entity_id, op, event_id);
CREATE INDEX events_time ON events (tenant_id, event_timestamp, seq);
CREATE INDEX events_entity ON events (tenant_id, table_name, entity_id, event_timestamp DESC, seq DESC)
