-- Exports of a replay window (their files, in PostgreSQL) and users' bookmarks of instants.

-- An export's file, in pieces of at most 1 MiB in order (piece 0 first), written by the export job as it goes
-- and read by any replica for a download; removed with its job.
CREATE TABLE export_chunks (
    job_id uuid NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    seq integer NOT NULL CHECK (seq >= 0),
    data bytea NOT NULL,
    PRIMARY KEY (job_id, seq)
);

-- A user's bookmark of an instant of the tenant's history, with a note.
CREATE TABLE bookmarks (
    id uuid PRIMARY KEY,
    tenant_id uuid NOT NULL,
    user_id text NOT NULL,
    at timestamptz NOT NULL,
    note text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX bookmarks_user_at ON bookmarks (tenant_id, user_id, at, id);
