-- What the sync did and how fresh each object is, readable from SQL.

-- One row per run per Keap account (kept RUN_RETENTION_DAYS days, 90 by default).
CREATE TABLE keap.sync_runs (
    id text PRIMARY KEY,
    account text NOT NULL,
    kind text NOT NULL,
    started_at timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz,
    status text NOT NULL DEFAULT 'running',
    counts jsonb NOT NULL DEFAULT '{}',
    stop_reason text,
    error text
);
CREATE INDEX sync_runs_account_started_at ON keap.sync_runs (account, started_at DESC);
CREATE INDEX sync_runs_started_at ON keap.sync_runs (started_at);
COMMENT ON TABLE keap.sync_runs IS
    'One row per sync run per Keap account: its kind (incremental, full, reconcile), '
    'status (running, ok, partial, failed, cancelled), per-object counts and error.';
COMMENT ON COLUMN keap.sync_runs.counts IS
    'Per object: status, pages, records, written, deleted, cleaned, quarantined, ...';

-- Per account and object: where the sync stands.
CREATE TABLE keap.sync_state (
    account text NOT NULL,
    object text NOT NULL,
    last_synced_at timestamptz,
    cursor timestamptz,
    rows bigint,
    deleted_rows bigint,
    last_error text,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (account, object)
);
COMMENT ON TABLE keap.sync_state IS
    'Per Keap account and object: every record Keap updated before cursor is in the table; '
    'last_synced_at is when a sync last wrote it; rows and deleted_rows as of the last run; '
    'last_error is the error of the last run that read it (NULL once one got through).';
