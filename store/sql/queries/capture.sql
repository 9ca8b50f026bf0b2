-- name: add_table
-- Capture tenant $1's table $3 of source $2 ('' the server's own database) keyed by column $4 (again: new key).
INSERT INTO capture_tables (tenant_id, source_url, table_name, key_column) VALUES ($1, $2, $3, $4)
ON CONFLICT (tenant_id, source_url, table_name) DO UPDATE SET key_column = excluded.key_column

-- name: list_tables
-- The captured tables of tenant $1 (NULL: every tenant), by tenant, source and table.
SELECT tenant_id, source_url, table_name, key_column, created_at
FROM capture_tables
WHERE $1::uuid IS NULL OR tenant_id = $1
ORDER BY tenant_id, source_url, table_name

-- name: remove_table
-- Stop capturing tenant $1's table $3 of source $2; the row removed, if any.
DELETE FROM capture_tables WHERE tenant_id = $1 AND source_url = $2 AND table_name = $3 RETURNING table_name

-- name: sources
-- Every source some table is captured from. No arguments.
SELECT DISTINCT source_url FROM capture_tables ORDER BY source_url

-- name: lock_source_setup
-- Serialise installs in one source database (transaction-scoped advisory lock). No arguments.
SELECT pg_advisory_xact_lock(19796, 1)

-- name: key_column_of
-- In the source: whether table $1 (schema) . $2 (table) exists, and whether its column $3 exists and is NOT NULL.
SELECT (SELECT a.attnotnull FROM pg_attribute AS a
        WHERE a.attrelid = c.oid AND a.attname = $3 AND a.attnum > 0 AND NOT a.attisdropped) AS not_null
FROM pg_class AS c JOIN pg_namespace AS n ON n.oid = c.relnamespace
WHERE n.nspname = $1 AND c.relname = $2 AND c.relkind IN ('r', 'p')

-- name: install_outbox
-- In the source: the outbox, and the trigger function that writes a row's change to it (no arguments). Each change
-- is a row with its transaction and the clock at the change; a truncate is op 't'. Its NOTIFY wakes the drainer.
CREATE SCHEMA IF NOT EXISTS msr_capture;
CREATE TABLE IF NOT EXISTS msr_capture.outbox (
    id bigserial PRIMARY KEY,
    txid xid8 NOT NULL DEFAULT pg_current_xact_id(),
    changed_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    tenant_id uuid NOT NULL,
    table_name text NOT NULL,
    op "char" NOT NULL,
    entity_id text NOT NULL,
    entity_state json
);
CREATE INDEX IF NOT EXISTS outbox_txid ON msr_capture.outbox (txid, changed_at);
-- The source snapshots taken, with what each could see: a transaction it could not see is placed after it.
CREATE TABLE IF NOT EXISTS msr_capture.snapshots (
    tenant_id uuid NOT NULL,
    taken_at timestamptz NOT NULL,
    snapshot pg_snapshot NOT NULL,
    PRIMARY KEY (tenant_id, taken_at)
);
CREATE OR REPLACE FUNCTION msr_capture.record_change() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    key_column text := TG_ARGV[0];
    tenant uuid := TG_ARGV[1]::uuid;
    name text := TG_TABLE_SCHEMA || '.' || TG_TABLE_NAME;
    old_key text;
    new_key text;
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        INSERT INTO msr_capture.outbox (tenant_id, table_name, op, entity_id) VALUES (tenant, name, 't', '');
    ELSIF TG_OP = 'INSERT' THEN
        INSERT INTO msr_capture.outbox (tenant_id, table_name, op, entity_id, entity_state)
        VALUES (tenant, name, 'c', to_jsonb(NEW) ->> key_column, to_json(NEW));
    ELSIF TG_OP = 'UPDATE' THEN
        old_key := to_jsonb(OLD) ->> key_column;
        new_key := to_jsonb(NEW) ->> key_column;
        IF old_key IS DISTINCT FROM new_key THEN
            -- A new key is another entity: the old one is deleted, the new one created (as Debezium does).
            INSERT INTO msr_capture.outbox (tenant_id, table_name, op, entity_id) VALUES (tenant, name, 'd', old_key);
            INSERT INTO msr_capture.outbox (tenant_id, table_name, op, entity_id, entity_state)
            VALUES (tenant, name, 'c', new_key, to_json(NEW));
        ELSE
            INSERT INTO msr_capture.outbox (tenant_id, table_name, op, entity_id, entity_state)
            VALUES (tenant, name, 'u', new_key, to_json(NEW));
        END IF;
    ELSE
        INSERT INTO msr_capture.outbox (tenant_id, table_name, op, entity_id)
        VALUES (tenant, name, 'd', to_jsonb(OLD) ->> key_column);
    END IF;
    PERFORM pg_notify('msr_capture', '');
    RETURN NULL;
END
$$

-- name: install_triggers
-- In the source: the row and truncate triggers of table {table} for tenant {tenant} keyed by {key} (spliced in,
-- validated and quoted by the caller); {name} is the triggers' name for that tenant.
DROP TRIGGER IF EXISTS {name} ON {table};
DROP TRIGGER IF EXISTS {name}_t ON {table};
CREATE TRIGGER {name} AFTER INSERT OR UPDATE OR DELETE ON {table}
    FOR EACH ROW EXECUTE FUNCTION msr_capture.record_change({key}, {tenant});
CREATE TRIGGER {name}_t AFTER TRUNCATE ON {table}
    FOR EACH STATEMENT EXECUTE FUNCTION msr_capture.record_change({key}, {tenant})

-- name: remove_triggers
-- In the source: drop the triggers {name} of table {table} (spliced in as for install_triggers).
DROP TRIGGER IF EXISTS {name} ON {table};
DROP TRIGGER IF EXISTS {name}_t ON {table}

-- name: outbox_batch
-- In the source: the first $1 outbox rows with their transaction's instant, in instant order (then by latest
-- change, so transactions placed after one snapshot keep the order they wrote in). The instant is the latest change
-- of the transaction (all its rows are visible once it committed), or just after a source snapshot taken after that
-- change that could not see the transaction (it committed later): the snapshot's reads do not hold its changes.
SELECT o.id, o.txid::text::bigint AS txid, GREATEST(t.changed, later.after) AS instant, o.tenant_id, o.table_name,
       o.op::text AS op, o.entity_id, o.entity_state::text AS entity_state
FROM (SELECT * FROM msr_capture.outbox ORDER BY id LIMIT $1) AS o
CROSS JOIN LATERAL (SELECT max(m.changed_at) AS changed FROM msr_capture.outbox AS m WHERE m.txid = o.txid) AS t
CROSS JOIN LATERAL (
    SELECT max(s.taken_at) + interval '1 microsecond' AS after
    FROM msr_capture.snapshots AS s
    WHERE s.taken_at >= t.changed AND NOT pg_visible_in_snapshot(o.txid, s.snapshot)
) AS later
ORDER BY instant, t.changed, o.txid, o.id

-- name: outbox_delete
-- In the source: forget the outbox rows $1 (bigint[]) once they are stored.
DELETE FROM msr_capture.outbox WHERE id = ANY($1::bigint[])

-- name: try_drain_lock
-- In the source: take the session-level lock that makes this connection the source's only drainer; true if taken.
SELECT pg_try_advisory_lock(19796, 2)

-- name: last_source_snapshot
-- In the source: when the newest source snapshot of tenant $1 was taken; NULL when none.
SELECT max(taken_at) FROM msr_capture.snapshots WHERE tenant_id = $1

-- name: begin_source_snapshot
-- In the source, first in a REPEATABLE READ transaction: what its snapshot sees, and the clock once it is taken.
SELECT pg_current_snapshot()::text AS snapshot, clock_timestamp() AS taken_at

-- name: record_source_snapshot
-- In the source: remember tenant $1's snapshot at $2 that saw $3 (pg_snapshot text); forget those before $4.
WITH pruned AS (DELETE FROM msr_capture.snapshots WHERE taken_at < $4)
INSERT INTO msr_capture.snapshots (tenant_id, taken_at, snapshot) VALUES ($1, $2, $3::text::pg_snapshot)
ON CONFLICT DO NOTHING

-- name: read_source_table
-- In the source: every row of {table} as its key column {key} (spliced in, validated and quoted) and its JSON.
SELECT to_jsonb(t) ->> {key} AS entity_id, to_json(t)::text AS entity_state FROM {table} AS t
