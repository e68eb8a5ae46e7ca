"""Secure by default in Supabase: the Data API's roles read nothing from `keap` until the
owner writes a policy, while the sync (the tables' owner) keeps full access.

Supabase's roles `anon` and `authenticated` are created here as Supabase has them (no login,
used through `SET ROLE` by its API), with the grants Supabase's documentation has an owner
give when exposing a schema: usage on it and every privilege on its tables.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest

from shared.store.custom_fields import Field, apply_model
from shared.store.migrations import migrate
from shared.store.store import Store
from tests.sync.test_store import contact

API_ROLES = ("anon", "authenticated")

SUPABASE_ROLES = """
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'anon') THEN
        CREATE ROLE anon NOLOGIN NOINHERIT;
    END IF;
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'authenticated') THEN
        CREATE ROLE authenticated NOLOGIN NOINHERIT;
    END IF;
END
$$;
GRANT USAGE ON SCHEMA keap TO anon, authenticated;
GRANT ALL ON ALL TABLES IN SCHEMA keap TO anon, authenticated;
"""


@pytest.fixture
async def conn(database: str) -> AsyncIterator[Any]:
    c = await asyncpg.connect(database)
    try:
        await migrate(c)
        store = Store(c, "default")
        await store.upsert_records("contacts", [contact(1, "2025-01-01T00:00:00.000Z")])
        # A custom field view, as a sync builds it from Keap's model.
        await apply_model(store, "contacts", [Field("1", "Lead Score", "WHOLE_NUMBER")])
        await c.execute(
            "INSERT INTO keap.sync_state (account, object, rows) VALUES ('default', 'contacts', 1)"
        )
        await c.execute(SUPABASE_ROLES)
        yield c
    finally:
        await c.close()


async def relations(conn: Any, kinds: str) -> list[str]:
    rows = await conn.fetch(
        "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = 'keap' AND c.relkind = ANY($1::char[]) ORDER BY 1",
        list(kinds),
    )
    return [r["relname"] for r in rows]


async def test_every_table_has_row_level_security_and_no_policy(conn: Any) -> None:
    tables = await relations(conn, "rp")
    assert {"contacts", "sync_runs", "sync_state", "quarantine", "schema_migrations"} <= set(tables)
    unprotected = await conn.fetch(
        "SELECT relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = 'keap' AND c.relkind IN ('r', 'p') AND NOT c.relrowsecurity"
    )
    assert unprotected == []
    assert await conn.fetchval("SELECT count(*) FROM pg_policies WHERE schemaname = 'keap'") == 0
    views = await relations(conn, "v")
    assert "contacts_custom" in views
    for view in views:
        options = await conn.fetchval(
            "SELECT reloptions FROM pg_class WHERE oid = ('keap.' || quote_ident($1))::regclass",
            view,
        )
        assert "security_invoker=true" in (options or []), view


@pytest.mark.parametrize("role", API_ROLES)
async def test_the_data_api_roles_read_nothing_and_write_nothing(conn: Any, role: str) -> None:
    relations_ = await relations(conn, "rpv")
    async with conn.transaction():
        await conn.execute(f"SET LOCAL ROLE {role}")
        for name in relations_:
            assert await conn.fetchval(f'SELECT count(*) FROM keap."{name}"') == 0, name  # noqa: S608
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        async with conn.transaction():
            await conn.execute(f"SET LOCAL ROLE {role}")
            await conn.execute("INSERT INTO keap.tags (id, raw) VALUES (1, '{}')")


async def test_the_owner_keeps_full_access_and_one_policy_opens_one_table(conn: Any) -> None:
    assert await conn.fetchval("SELECT count(*) FROM keap.contacts") == 1
    assert await conn.fetchval("SELECT count(*) FROM keap.sync_state") == 1

    # The two statements manual-setup.md gives to expose one table read-only.
    await conn.execute("GRANT SELECT ON keap.contacts TO authenticated")
    await conn.execute(
        "CREATE POLICY contacts_read ON keap.contacts FOR SELECT TO authenticated USING (true)"
    )
    async with conn.transaction():
        await conn.execute("SET LOCAL ROLE authenticated")
        assert await conn.fetchval("SELECT count(*) FROM keap.contacts") == 1
        assert await conn.fetchval("SELECT count(*) FROM keap.sync_state") == 0
    async with conn.transaction():
        await conn.execute("SET LOCAL ROLE anon")
        assert await conn.fetchval("SELECT count(*) FROM keap.contacts") == 0
