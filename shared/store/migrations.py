"""The `keap` schema, versioned: the SQL files of `supabase/migrations/`, applied in order.

Each file `<14-digit timestamp>_<name>.sql` runs once, in one transaction, and never
changes once released; a change to the schema is a new file. The same files are what
`supabase db push` applies, so either way of migrating gives the same schema:

- the migrator records each file in `keap.schema_migrations` (version = its timestamp);
- a file the Supabase CLI already applied (listed in `supabase_migrations.schema_migrations`)
  is recorded and skipped, and a file the migrator applies is added to the CLI's list when
  the database has one, so a later `supabase db push` skips it too;
- a database migrated before the files existed (integer versions 1-4) is carried over to
  the files' versions without running anything again.

`migrate()` takes a transaction-scoped advisory lock, so concurrent runners (two workers
starting at once, deploy.sh while a cron runs) apply each file exactly once, and it works
through transaction poolers (Supabase, Hyperdrive) too.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

LOCK_KEY = 0x6B65_6170_5F6D_6967  # "keap_mig": the advisory lock migrations hold

# In the repository and in a worker bundle alike (tools/bundle.py copies the folder).
MIGRATIONS_DIR = Path(__file__).resolve().parents[2] / "supabase" / "migrations"

_FILE_NAME = re.compile(r"^(?P<version>\d{14})_(?P<name>[a-z0-9_]+)\.sql$")

# Before the files, versions were the integers 1-4: each is now the file of that number
# (20261101000001-4), and a database that has them also has the `keap` schema the first
# file (20261101000000) creates. See _CONVERT_LEGACY.
_LEGACY_PREFIX = "20261101"
_VERSION_DIGITS = 14


class MigrationError(RuntimeError):
    """The migrations folder is not what the migrator can apply (named in the message)."""


@dataclass(frozen=True)
class Migration:
    version: str
    name: str
    sql: str


@functools.cache
def load(folder: Path = MIGRATIONS_DIR) -> tuple[Migration, ...]:
    """The migrations of `folder`, oldest first (read once per folder)."""
    if not folder.is_dir():
        raise MigrationError(f"the migrations folder {folder} is missing")
    found: list[Migration] = []
    for path in sorted(folder.glob("*.sql")):
        match = _FILE_NAME.match(path.name)
        if match is None:
            raise MigrationError(
                f"{path.name}: a migration is named <14-digit timestamp>_<snake_case name>.sql"
            )
        found.append(Migration(match["version"], match["name"], path.read_text("utf-8")))
    if not found:
        raise MigrationError(f"no migrations in {folder}")
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise MigrationError("two migration files share a version")
    return tuple(found)


def latest_version(folder: Path = MIGRATIONS_DIR) -> str:
    return load(folder)[-1].version


_BOOTSTRAP = """
CREATE SCHEMA IF NOT EXISTS keap;
CREATE TABLE IF NOT EXISTS keap.schema_migrations (
    version text PRIMARY KEY,
    name text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
);
ALTER TABLE keap.schema_migrations ENABLE ROW LEVEL SECURITY;
"""

# Integer versions of a database migrated before the files: to the files' timestamps.
_CONVERT_LEGACY = """
ALTER TABLE keap.schema_migrations
    ALTER COLUMN version TYPE text USING '20261101' || lpad(version::text, 6, '0');
INSERT INTO keap.schema_migrations (version, name) VALUES ('20261101000000', 'keap_schema')
    ON CONFLICT DO NOTHING;
"""

_CLI_TABLE = "supabase_migrations.schema_migrations"


async def _recorded(conn: Any) -> set[str]:
    """Versions in `keap.schema_migrations` (empty if it does not exist yet)."""
    if not await conn.fetchval("SELECT to_regclass('keap.schema_migrations') IS NOT NULL"):
        return set()
    rows = await conn.fetch("SELECT version::text AS version FROM keap.schema_migrations")
    return {r["version"] for r in rows}


async def _cli_applied(conn: Any) -> set[str] | None:
    """Versions the Supabase CLI recorded, or None when the database has no CLI history."""
    if not await conn.fetchval(f"SELECT to_regclass('{_CLI_TABLE}') IS NOT NULL"):
        return None
    return {r["version"] for r in await conn.fetch(f"SELECT version FROM {_CLI_TABLE}")}  # noqa: S608


async def current_version(conn: Any) -> str | None:
    """The newest migration in place (None for a database without the `keap` schema)."""
    if not await conn.fetchval("SELECT to_regclass('keap.schema_migrations') IS NOT NULL"):
        return None
    newest = await conn.fetchval(
        'SELECT max(version::text COLLATE "C") FROM keap.schema_migrations'
    )
    if newest is not None and len(newest) < _VERSION_DIGITS:  # a legacy integer version
        newest = _LEGACY_PREFIX + newest.zfill(6)
    return newest


async def migrate(conn: Any, folder: Path = MIGRATIONS_DIR) -> list[str]:
    """Apply pending migrations to an asyncpg connection; returns the versions applied."""
    migrations = load(folder)
    if {m.version for m in migrations} <= await _recorded(conn):
        return []
    applied: list[str] = []
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", LOCK_KEY)
        legacy = await conn.fetchval(
            "SELECT data_type = 'integer' FROM information_schema.columns "
            "WHERE table_schema = 'keap' AND table_name = 'schema_migrations' "
            "AND column_name = 'version'"
        )
        await conn.execute(_CONVERT_LEGACY if legacy else _BOOTSTRAP)
        done = await _recorded(conn)
        by_cli = await _cli_applied(conn)
        for migration in migrations:
            if migration.version in done:
                continue
            if by_cli is None or migration.version not in by_cli:
                await conn.execute(migration.sql)
                applied.append(migration.version)
                if by_cli is not None:
                    await conn.execute(
                        f"INSERT INTO {_CLI_TABLE} (version, name, statements) "  # noqa: S608
                        "VALUES ($1, $2, ARRAY[$3])",
                        migration.version,
                        migration.name,
                        migration.sql,
                    )
            await conn.execute(
                "INSERT INTO keap.schema_migrations (version, name) VALUES ($1::text, $2)",
                migration.version,
                migration.name,
            )
    return applied
