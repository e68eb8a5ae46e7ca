"""The coordinator's SQLite schema, versioned: each migration runs once, in order."""

from __future__ import annotations

from shared.platform.interfaces import SqlStorage

MIGRATIONS: list[list[str]] = [
    # 1: bookkeeping
    ["CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)"],
    # 2: Keap credentials and OAuth states
    [
        """CREATE TABLE oauth_tokens (
            id INTEGER PRIMARY KEY CHECK (id = 1),
            state TEXT NOT NULL,              -- connected | reauthorization_required
            access_token TEXT,
            refresh_token TEXT,
            access_expires_at REAL,
            refresh_expires_at REAL,
            scope TEXT,
            tenant TEXT,
            reason TEXT,
            connected_at REAL,
            refreshed_at REAL,
            refresh_started_at REAL           -- set while a refresh is in flight
        )""",
        """CREATE TABLE oauth_states (
            state TEXT PRIMARY KEY,
            expires_at REAL NOT NULL,
            used_at REAL
        )""",
    ],
    # 3: sync state: stream cursors, the run lease, run history
    [
        """CREATE TABLE stream_state (
            stream TEXT PRIMARY KEY,
            state TEXT NOT NULL,              -- JSON, owned by the sync engine
            run_id TEXT,
            updated_at REAL NOT NULL
        )""",
        """CREATE TABLE lease (
            id INTEGER PRIMARY KEY CHECK (id = 1),
            run_id TEXT NOT NULL,
            acquired_at REAL NOT NULL,
            expires_at REAL NOT NULL,
            ttl_s REAL NOT NULL
        )""",
        """CREATE TABLE runs (
            run_id TEXT PRIMARY KEY,
            kind TEXT NOT NULL,
            streams TEXT NOT NULL,            -- JSON list
            started_at REAL NOT NULL,
            finished_at REAL,
            status TEXT NOT NULL,             -- running | ok | partial | failed
            pages INTEGER NOT NULL DEFAULT 0,
            records INTEGER NOT NULL DEFAULT 0,
            errors TEXT NOT NULL DEFAULT '[]',
            stats TEXT NOT NULL DEFAULT '{}'
        )""",
        "CREATE INDEX runs_started ON runs (started_at)",
    ],
    # 4: the queue of Keap hook events (shared/webhooks/queue.py)
    [
        """CREATE TABLE hook_events (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            dedup_key TEXT NOT NULL UNIQUE,   -- event key | object id | timestamp
            event_key TEXT NOT NULL,
            stream TEXT NOT NULL,
            action TEXT NOT NULL,             -- upsert | delete
            object_id INTEGER NOT NULL,
            occurred_at TEXT NOT NULL,        -- Keap's timestamp
            received_at REAL NOT NULL,
            attempts INTEGER NOT NULL DEFAULT 0,
            done_at REAL,                     -- NULL while queued
            outcome TEXT                      -- applied | deleted | dropped
        )""",
        "CREATE INDEX hook_events_queued ON hook_events (seq) WHERE done_at IS NULL",
        "CREATE INDEX hook_events_batch ON hook_events (stream, action, seq) WHERE done_at IS NULL",
        "CREATE INDEX hook_events_done ON hook_events (done_at) WHERE done_at IS NOT NULL",
        """CREATE TABLE hook_dropped (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            event_key TEXT NOT NULL,
            stream TEXT NOT NULL,
            object_id INTEGER NOT NULL,
            reason TEXT NOT NULL,
            dropped_at REAL NOT NULL
        )""",
        """CREATE TABLE hook_queue_stats (
            name TEXT PRIMARY KEY,
            value INTEGER NOT NULL
        )""",
        """CREATE TABLE hook_queue_state (
            id INTEGER PRIMARY KEY CHECK (id = 1),
            failures INTEGER NOT NULL DEFAULT 0,
            retry_at REAL,
            last_error TEXT,
            last_error_at REAL,
            last_drain_at REAL,
            policy TEXT                       -- JSON QueuePolicy; NULL means the defaults
        )""",
    ],
    # 5: hook events Keap refused (4xx), counted apart from outages
    ["ALTER TABLE hook_events ADD COLUMN refusals INTEGER NOT NULL DEFAULT 0"],
    # 6: a refused event waits on its own, so the events behind it go on
    ["ALTER TABLE hook_events ADD COLUMN retry_at REAL"],
    # 7: the account registry (in use in the `__accounts__` object only)
    ["CREATE TABLE accounts (name TEXT PRIMARY KEY, registered_at REAL NOT NULL)"],
]


def migrate(sql: SqlStorage) -> int:
    """Apply pending migrations; returns the schema version now in place."""
    sql.exec("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
    rows = sql.exec("SELECT version FROM schema_version")
    version = int(rows[0]["version"]) if rows else 0
    if not rows:
        sql.exec("INSERT INTO schema_version(version) VALUES (0)")
    for number, statements in enumerate(MIGRATIONS[version:], start=version + 1):

        def apply(statements: list[str] = statements, number: int = number) -> None:
            for statement in statements:
                sql.exec(statement)
            sql.exec("UPDATE schema_version SET version = ?", number)

        sql.transaction(apply)
    return len(MIGRATIONS)
