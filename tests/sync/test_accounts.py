"""Two Keap accounts in one database: each account's rows are its own.

Two sandboxes with different data sets (different seeds, the same ids: record 5 of one is
not record 5 of the other) sync into one Postgres as the accounts `alpha` and `beta`. A
sync, hook deliveries and a reconciliation of `alpha` leave every row of `beta` (objects,
children, quarantine) exactly as it was, and each account stays equal to its own Keap.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import httpx
import pytest

from shared.store.store import RefusedRecord, Store
from shared.sync import service
from shared.sync.status import get_status
from shared.webhooks.auth import hook_url
from tests.sync.compare import ACCOUNT_TABLES, account_rows, assert_db_matches_keap, db_records
from tests.sync.conftest import API_KEY, SyncWorld, start_world, stop_world
from tests.timing import wait_for
from tests.webhooks.conftest import delivery, queue_depth

ALPHA, BETA = "alpha", "beta"
DATA = {
    "contacts": 600,
    "companies": 40,
    "opportunities": 200,
    "orders": 150,
    "tasks": 100,
    "products": 30,
    "tags": 20,
    "notes": 150,
    "subscriptions": 150,
}


async def accounts_present(dsn: str) -> set[str]:
    conn = await asyncpg.connect(dsn)
    try:
        union = " UNION ".join(f"SELECT account FROM keap.{t}" for t in ACCOUNT_TABLES)  # noqa: S608
        return {r["account"] for r in await conn.fetch(union)}
    finally:
        await conn.close()


@pytest.fixture
async def worlds(tmp_path: Path, database: str) -> AsyncIterator[tuple[SyncWorld, SyncWorld]]:
    """Two sandboxes (seeds 42 and 7), each with its runtime, syncing into one database."""
    async with contextlib.AsyncExitStack() as stack:
        found = []
        for name, seed in ((ALPHA, 42), (BETA, 7)):
            folder = tmp_path / name
            folder.mkdir()
            # API-key accounts exist because ACCOUNTS names them.
            context, world = await start_world(
                folder,
                database,
                sandbox={**DATA, "seed": seed},
                vars={"KEAP_API_KEY": API_KEY, "ACCOUNTS": name},
            )
            stack.push_async_callback(stop_world, context, world)
            found.append(world)
        yield found[0], found[1]


async def assert_both_match_keap(alpha: SyncWorld, beta: SyncWorld) -> None:
    await assert_db_matches_keap(alpha.dsn, alpha.keap.api_base, account=ALPHA)
    await assert_db_matches_keap(beta.dsn, beta.keap.api_base, account=BETA)


async def test_one_accounts_sync_hooks_and_reconcile_leave_the_other_untouched(
    worlds: tuple[SyncWorld, SyncWorld],
) -> None:
    alpha, beta = worlds
    dsn = alpha.dsn
    keap_a = alpha.keap.sandbox

    # Both accounts synced side by side into one database.
    runs = await asyncio.gather(
        service.run(alpha.env, "full", account=ALPHA),
        service.run(beta.env, "full", account=BETA),
    )
    assert [r.status for r in runs] == ["ok", "ok"], [r.errors for r in runs]
    await assert_both_match_keap(alpha, beta)
    assert await accounts_present(dsn) == {ALPHA, BETA}
    contacts_a = await db_records(dsn, "contacts", ALPHA)
    contacts_b = await db_records(dsn, "contacts", BETA)
    assert set(contacts_a) == set(contacts_b)  # the same ids in both accounts,
    assert sum(contacts_a[i] != contacts_b[i] for i in contacts_a) > len(contacts_a) // 2
    # ... holding different records.

    # What alpha is about to change, beta has records of the same ids for, with children
    # and quarantine entries: tagged contacts (edited by a hook, deleted by a hook, deleted
    # and found by reconciliation), orders with items (deleted by a hook, by
    # reconciliation), a tag beta's contacts carry (deleted, found by reconciliation).
    rows_a, rows_b = await account_rows(dsn, ALPHA), await account_rows(dsn, BETA)
    tagged = sorted(
        {r["contact_id"] for r in rows_a["contact_tags"]}
        & {r["contact_id"] for r in rows_b["contact_tags"]}
    )
    with_items = sorted(
        {r["order_id"] for r in rows_a["order_items"]}
        & {r["order_id"] for r in rows_b["order_items"]}
    )
    tag = max(
        {r["tag_id"] for r in rows_b["contact_tags"]},
        key=lambda t: sum(r["tag_id"] == t for r in rows_b["contact_tags"]),
    )
    edit_contact, hook_contact, gone_contact = tagged[:3]
    hook_order, gone_order = with_items[:2]
    touched = {"contacts": tagged[:3], "orders": with_items[:2], "tags": [tag]}
    async with Store.open(beta.env.database, account=BETA) as store:  # type: ignore[arg-type]
        for stream, ids in touched.items():
            await store.quarantine(stream, [RefusedRecord(i, "kept by beta") for i in ids], "sync")
    beta_rows = await account_rows(dsn, BETA)
    assert len(beta_rows["quarantine"]) == 6

    # An incremental sync of alpha after edits in its Keap.
    edited = {k: keap_a.make_changes(n_edits=4, kind=k)["edited"] for k in ("contacts", "orders")}
    before = await account_rows(dsn, ALPHA)
    result = await service.run(alpha.env, "incremental", account=ALPHA)
    assert result.status == "ok", result.errors
    after = await account_rows(dsn, ALPHA)
    for stream, ids in edited.items():
        was = {r["id"]: r["raw"] for r in before[stream]}
        now = {r["id"]: r["raw"] for r in after[stream]}
        assert all(now[i] != was[i] for i in ids), stream
    assert await account_rows(dsn, BETA) == beta_rows

    # Hook deliveries for alpha: an edit, and deletes of a contact and an order that have
    # children in both accounts.
    keap_a.update("contacts", edit_contact, {"job_title": "Edited in alpha"})
    keap_a.delete("contacts", hook_contact)
    keap_a.delete("orders", hook_order)
    async with httpx.AsyncClient(timeout=30) as client:
        for body in (
            delivery("contact.edit", [edit_contact]),
            delivery("contact.delete", [hook_contact]),
            delivery("order.delete", [hook_order]),
        ):
            sent = await client.post(hook_url(alpha.runtime.settings, ALPHA), json=body)
            assert sent.status_code == 200, sent.text

    async def applied() -> bool:
        return await queue_depth(alpha.runtime, ALPHA) == 0

    await wait_for(applied, 30, "alpha's hook queue to drain")
    rows_a = await account_rows(dsn, ALPHA)
    contact = {r["id"]: r for r in rows_a["contacts"]}
    assert contact[edit_contact]["job_title"] == "Edited in alpha"
    assert contact[hook_contact]["deleted_at"] is not None
    assert next(r for r in rows_a["orders"] if r["id"] == hook_order)["deleted_at"] is not None
    assert not [r for r in rows_a["contact_tags"] if r["contact_id"] == hook_contact]
    assert not [r for r in rows_a["order_items"] if r["order_id"] == hook_order]
    assert await account_rows(dsn, BETA) == beta_rows

    # A reconciliation of alpha after deletes its Keap announced to no one.
    keap_a.delete("contacts", gone_contact)
    keap_a.delete("orders", gone_order)
    keap_a.delete("tags", tag)
    result = await service.run(alpha.env, "reconcile", account=ALPHA)
    assert result.status == "ok", result.errors
    assert result.streams["contacts"].deleted == 1 and result.streams["orders"].deleted == 1
    assert result.streams["tags"].deleted == 1
    assert await account_rows(dsn, BETA) == beta_rows

    # Each account still equals its own Keap, record by record, children included; and
    # each account's status counts its own rows.
    await assert_both_match_keap(alpha, beta)
    for world, account in ((alpha, ALPHA), (beta, BETA)):
        status, _ = await get_status(world.env, account, refresh=True)
        live = await db_records(dsn, "contacts", account)
        assert status["objects"]["contacts"]["rows"] == len(live), account
    assert await accounts_present(dsn) == {ALPHA, BETA}
