"""The coordinator's SQLite schema, versioned: each migration runs once, in order."""

from __future__ import annotations

from shared.platform.interfaces import SqlStorage

MIGRATIONS: list[str] = [
    # 1: bookkeeping
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
]


def migrate(sql: SqlStorage) -> int:
    """Apply pending migrations; returns the schema version now in place."""
    sql.exec("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
    rows = sql.exec("SELECT version FROM schema_version")
    version = int(rows[0]["version"]) if rows else 0
    if not rows:
        sql.exec("INSERT INTO schema_version(version) VALUES (0)")
    for number, statement in enumerate(MIGRATIONS[version:], start=version + 1):

        def apply(statement: str = statement, number: int = number) -> None:
            sql.exec(statement)
            sql.exec("UPDATE schema_version SET version = ?", number)

        sql.transaction(apply)
    return len(MIGRATIONS)
