"""The schema's migrations are the SQL files of `supabase/migrations/`, and the runtime
migrator and `supabase db push` give the same schema from them.

`supabase db push` is replayed by `tests/sync/supabase_cli.py` (the CLI cannot be installed
offline): each file split into statements as the CLI splits it, sent one statement at a time
in one transaction, then `(version, name, statements)` inserted into
`supabase_migrations.schema_migrations`, exactly as the CLI does.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from local.keap_sandbox import SandboxConfig, serve_sandbox
from shared.keap.streams import STREAMS
from shared.store.migrations import (
    MIGRATIONS_DIR,
    MigrationError,
    current_version,
    latest_version,
    load,
    migrate,
)
from shared.store.store import RefusedRecord, Store
from tests.conftest import ROOT
from tests.sync.catalog import catalog
from tests.sync.compare import account_rows, keap_records
from tests.sync.supabase_cli import db_push, split


@contextlib.asynccontextmanager
async def connected(dsn: str) -> AsyncIterator[Any]:
    c = await asyncpg.connect(dsn)
    try:
        yield c
    finally:
        await c.close()


@pytest.fixture
async def conn(database: str) -> AsyncIterator[Any]:
    async with connected(database) as c:
        yield c


@pytest.fixture
async def other(other_database: str) -> AsyncIterator[Any]:
    async with connected(other_database) as c:
        yield c


def test_the_migrations_are_the_files_in_supabase_naming() -> None:
    files = sorted(p.name for p in MIGRATIONS_DIR.iterdir())
    assert MIGRATIONS_DIR == ROOT / "supabase" / "migrations"
    assert files == [f"{m.version}_{m.name}.sql" for m in load()]
    assert [m.version for m in load()] == sorted(m.version for m in load())
    assert load()[0].name == "keap_schema"  # db push has no bootstrap: the schema comes first


async def test_the_migrator_and_db_push_give_the_same_schema(conn: Any, other: Any) -> None:
    applied = await migrate(conn)
    pushed = await db_push(other, MIGRATIONS_DIR)

    assert applied == pushed == [m.version for m in load()]
    mine, theirs = await catalog(conn), await catalog(other)
    assert mine == theirs
    # The comparison saw the whole schema, not an empty one.
    assert len(mine["relations"]) >= 12 and len(mine["indexes"]) >= 20
    assert len(mine["functions"]) >= 10 and mine["constraints"]


async def test_migrating_twice_changes_nothing(conn: Any) -> None:
    await migrate(conn)
    before = await catalog(conn)
    recorded = await conn.fetch("SELECT version, applied_at FROM keap.schema_migrations")

    assert await migrate(conn) == []
    assert await catalog(conn) == before
    assert await conn.fetch("SELECT version, applied_at FROM keap.schema_migrations") == recorded
    assert await current_version(conn) == latest_version()


async def legacy_database(conn: Any) -> None:
    """A database as the migrator left it before the files: integer versions 1-4."""
    await conn.execute("""
        CREATE SCHEMA keap;
        CREATE TABLE keap.schema_migrations (
            version integer PRIMARY KEY,
            name text NOT NULL,
            applied_at timestamptz NOT NULL DEFAULT now()
        );
    """)
    names = ["object tables", "children of deleted records", "quarantine", "product details"]
    for number, migration in enumerate(load()[1:5], start=1):
        await conn.execute(migration.sql)
        # Literal values: the old migrator ran in another process, so this connection must
        # not hold a prepared statement of the migrator's with an integer parameter.
        await conn.execute(
            "INSERT INTO keap.schema_migrations (version, name) "  # noqa: S608
            f"VALUES ({number}, '{names[number - 1]}')"
        )


async def test_a_database_migrated_before_the_files_is_carried_over(conn: Any, other: Any) -> None:
    await legacy_database(conn)
    await conn.execute(
        "INSERT INTO keap.contacts (id, raw) VALUES (1, '{}'); "
        "INSERT INTO keap.contact_tags VALUES (1, 2)"
    )
    assert await current_version(conn) == "20261101000004"

    applied = await migrate(conn)

    legacy = {"20261101000000", "20261101000001", "20261101000002", "20261101000003"}
    assert not legacy & set(applied)  # nothing applied again, the data untouched
    assert "20261101000004" not in applied
    assert await conn.fetchval("SELECT count(*) FROM keap.contact_tags") == 1
    versions = await conn.fetch("SELECT version FROM keap.schema_migrations ORDER BY version")
    assert [r["version"] for r in versions] == [m.version for m in load()]
    await migrate(other)
    assert await catalog(conn) == await catalog(other)


ACCOUNTS = "20261207000004"  # the migration that gives every row its account


def files_before(version: str, folder: Path) -> Path:
    """A migrations folder holding the files older than `version`."""
    folder.mkdir()
    for m in load():
        if m.version < version:
            (folder / f"{m.version}_{m.name}.sql").write_text(m.sql)
    return folder


async def fill_one_account(store: Store) -> None:
    """Every table of a database filled as one account's syncs fill it: Keap's records,
    contacts and orders deleted (their children gone), product details, quarantine."""
    small = {"contacts": 300, "orders": 80, "products": 20, "tags": 15}
    async with serve_sandbox(SandboxConfig(**small)) as keap:
        for stream, spec in STREAMS.items():
            records = list((await keap_records(keap.api_base, spec)).values())
            assert await store.upsert_records(stream, records) == len(records) > 0, stream
    assert sorted(await store.mark_deleted("contacts", [1, 2, 3])) == [1, 2, 3]
    assert sorted(await store.mark_deleted("orders", [4, 5])) == [4, 5]
    await store.write_details("products", '[{"id": "1", "inventory": {"inventory_count": 9}}]')
    await store.quarantine("contacts", [RefusedRecord(7, "SQLSTATE 23514", "{}")], "sync")
    await store.quarantine("tags", [RefusedRecord(3, "HTTP 400: invalid id")], "webhook")


async def test_a_single_account_database_is_carried_over_to_accounts_without_loss(
    conn: Any, other: Any, database: str, other_database: str, tmp_path: Path
) -> None:
    # `other`: the same rows as the account `default`, written under the newest schema.
    await migrate(other)
    await fill_one_account(Store(other, "default"))
    expected = await account_rows(other_database, "default")
    assert all(expected.values())  # every table has rows to carry over
    # `conn`: the schema before accounts, holding those rows.
    await migrate(conn, files_before(ACCOUNTS, tmp_path / "before"))
    assert (
        await conn.fetchval(
            "SELECT count(*) FROM information_schema.columns "
            "WHERE table_schema = 'keap' AND column_name = 'account' AND table_name = ANY($1)",
            list(expected),
        )
        == 0
    )
    for table, rows in expected.items():
        columns = [c for c in rows[0] if c != "account"]
        records = [tuple(r[c] for c in columns) for r in rows]
        await conn.copy_records_to_table(
            table, schema_name="keap", columns=columns, records=records
        )

    # The accounts migration, and any after it.
    assert await migrate(conn) == [m.version for m in load() if m.version >= ACCOUNTS]

    # Every row is there, as it was, now the account `default`'s; and the schema is the
    # one a new database gets.
    assert await account_rows(database, "default") == expected
    assert await catalog(conn) == await catalog(other)
    # The store of `default` finds them: the same counts, a newer record written in place.
    migrated = Store(conn, "default")
    assert await migrated.counts() == await Store(other, "default").counts()
    contact = json.loads(await conn.fetchval("SELECT raw FROM keap.contacts WHERE id = 10"))
    contact["given_name"], contact["update_time"] = "Later", "2099-01-01T00:00:00.000Z"
    assert await migrated.upsert_records("contacts", [contact]) == 1
    assert await conn.fetchval("SELECT count(*) FROM keap.contacts WHERE id = 10") == 1
    assert await conn.fetchval("SELECT given_name FROM keap.contacts WHERE id = 10") == "Later"
    # From now on, every write names its account.
    with pytest.raises(asyncpg.NotNullViolationError):
        await conn.execute("INSERT INTO keap.contacts (id, raw) VALUES (100000, '{}')")


async def test_files_the_cli_applied_are_skipped_and_new_ones_listed_for_it(
    conn: Any, tmp_path: Path
) -> None:
    assert await db_push(conn, MIGRATIONS_DIR)

    assert await migrate(conn) == []  # the CLI applied them all: recorded, not run again
    versions = await conn.fetch("SELECT version FROM keap.schema_migrations ORDER BY version")
    assert [r["version"] for r in versions] == [m.version for m in load()]

    # A file added later, applied by the migrator, is one `supabase db push` then skips.
    folder = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS_DIR, folder)
    (folder / "29991231000000_later.sql").write_text("CREATE TABLE keap.later (id int);\n")
    assert await migrate(conn, folder) == ["29991231000000"]
    assert await db_push(conn, folder) == []
    listed = await conn.fetchval(
        "SELECT name FROM supabase_migrations.schema_migrations WHERE version = '29991231000000'"
    )
    assert listed == "later"


async def test_a_failing_file_applies_nothing(conn: Any, tmp_path: Path) -> None:
    folder = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS_DIR, folder)
    (folder / "29991231000000_broken.sql").write_text("CREATE TABLE keap.broken (id nope);\n")

    with pytest.raises(asyncpg.PostgresError):
        await migrate(conn, folder)

    assert await conn.fetchval("SELECT to_regnamespace('keap')") is None


@pytest.mark.parametrize("name", ["2026_short.sql", "20261101000009_Capital.sql"])
def test_a_misnamed_file_is_refused_by_name(tmp_path: Path, name: str) -> None:
    (tmp_path / name).write_text("SELECT 1;\n")
    with pytest.raises(MigrationError, match=name):
        load(tmp_path)


def test_statements_are_split_as_the_cli_splits_them() -> None:
    sql = (
        "CREATE FUNCTION f() RETURNS int LANGUAGE sql AS $$ SELECT 1; $$;\n"
        "-- a comment; with a semicolon\n"
        "COMMENT ON TABLE t IS 'it''s; fine' /* and; this */;\n"
        "DO $x$ BEGIN PERFORM 1; END $x$;"
    )
    assert split(sql) == [
        "CREATE FUNCTION f() RETURNS int LANGUAGE sql AS $$ SELECT 1; $$",
        "-- a comment; with a semicolon\nCOMMENT ON TABLE t IS 'it''s; fine' /* and; this */",
        "DO $x$ BEGIN PERFORM 1; END $x$",
    ]


def test_the_migrate_command_reports_the_file_versions(database: str) -> None:
    command = [sys.executable, "-m", "shared.store.migrate", database]
    first = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=True)
    latest = latest_version()
    assert f"version {latest} of {latest}" in first.stdout
    assert ", ".join(m.version for m in load()) in first.stdout
