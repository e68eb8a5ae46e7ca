"""The store on a real Postgres: migrations, the page upsert and its staleness guard."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import asyncpg
import pytest

from local.bindings import LocalDatabase
from shared.store.migrations import current_version, latest_version, load
from shared.store.store import CARDINALITY_VIOLATION, Store, StoreError
from shared.store.tables import TABLES
from tests.conftest import ROOT


@pytest.fixture
async def store(database: str) -> AsyncIterator[Store]:
    conn = await asyncpg.connect(database)
    s = Store(conn, "default")
    await s.migrate()
    try:
        yield s
    finally:
        await conn.close()


def contact(i: int, updated: str, **fields: Any) -> dict[str, Any]:
    return {
        "id": str(i),
        "given_name": f"Given {i}",
        "email_addresses": [
            {"email": f"other{i}@example.com", "field": "EMAIL2"},
            {"email": f"first{i}@example.com", "field": "EMAIL1"},
        ],
        "addresses": [{"field": "BILLING", "locality": "Chandler", "country_code": "USA"}],
        "company": {"id": "7", "company_name": "Acme"},
        "tag_ids": ["1", "2"],
        "update_time": updated,
        "create_time": "2024-01-01T00:00:00.000Z",
        **fields,
    }


async def row(store: Store, table: str, record_id: int) -> dict[str, Any]:
    found = await store.conn.fetchrow(f"SELECT * FROM keap.{table} WHERE id = $1", record_id)  # noqa: S608
    return dict(found) if found else {}


async def test_migrations_apply_once_even_when_runners_race(database: str) -> None:
    conns = [await asyncpg.connect(database) for _ in range(5)]
    try:
        applied = await asyncio.gather(*(Store(c, "default").migrate() for c in conns))
        every = [m.version for m in load()]
        assert sorted(applied) == [[], [], [], [], every]
        assert await current_version(conns[0]) == latest_version()
        versions = await conns[0].fetch("SELECT version FROM keap.schema_migrations")
        assert sorted(r["version"] for r in versions) == every
        assert await Store(conns[1], "default").migrate() == []
    finally:
        for c in conns:
            await c.close()


async def test_every_table_has_the_columns_its_upsert_writes(store: Store) -> None:
    for stream, table in TABLES.items():
        columns = await store.conn.fetch(
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_schema = 'keap' AND table_name = $1",
            stream,
        )
        details = [c for c, _ in table.details] + (["details_read_at"] if table.details else [])
        assert {c["column_name"] for c in columns} == {*table.column_names, *details}, stream


def test_the_migrate_command_applies_the_schema_and_never_prints_the_dsn(database: str) -> None:
    command = [sys.executable, "-m", "shared.store.migrate", database]
    first = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=True)
    again = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=True)

    latest = latest_version()
    assert f"version {latest} of {latest}" in first.stdout
    assert "already current" in again.stdout
    unreachable = database.replace(database.rsplit(":", 1)[1].split("/")[0], "1")
    failed = subprocess.run(
        [sys.executable, "-m", "shared.store.migrate", unreachable],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert failed.returncode == 1
    assert "database unavailable" in failed.stderr
    assert "postgresql://" not in failed.stderr + failed.stdout


async def test_a_page_lands_in_typed_columns_with_its_children(store: Store) -> None:
    page = {"contacts": [contact(1, "2025-01-01T00:00:00.000Z")], "next_page_token": "x"}

    facts = await store.upsert("contacts", json.dumps(page), "contacts")

    assert (facts.written, facts.received, facts.max_id) == (1, 1, 1)
    assert facts.newest == facts.oldest == datetime(2025, 1, 1, tzinfo=UTC)

    written = await row(store, "contacts", 1)
    assert written["email"] == "first1@example.com"  # EMAIL1, wherever it is in the list
    assert (written["company_id"], written["company_name"], written["city"]) == (
        7,
        "Acme",
        "Chandler",
    )
    assert written["keap_updated_at"].isoformat() == "2025-01-01T00:00:00+00:00"
    assert json.loads(written["raw"]) == page["contacts"][0]
    tags = await store.conn.fetch("SELECT tag_id FROM keap.contact_tags WHERE contact_id = 1")
    assert sorted(t["tag_id"] for t in tags) == [1, 2]


async def test_a_page_goes_to_postgres_as_the_bytes_keap_sent(database: str) -> None:
    names = {1: "Zoë Ångström", 2: "Emoji \U0001f600", 3: "Bad \ufffd byte", 4: "Nul \x00"}
    records = [contact(i, "2025-01-01T00:00:00.000Z", given_name=n) for i, n in names.items()]
    body = json.dumps({"contacts": records}, ensure_ascii=False).encode()
    body = body.replace("\ufffd".encode(), b"\xff")  # a byte that is not UTF-8

    async with Store.open(LocalDatabase(database), account="default") as store:
        # Sent as bytes: Postgres parses them; Python never decodes the page.
        assert await store.conn.fetchval("SELECT $1::jsonb ->> 'a'", b'{"a": "\xc3\xa9"}') == "é"
        facts = await store.upsert("contacts", body, "contacts")
        stored = await store.conn.fetch("SELECT id, given_name, raw FROM keap.contacts")

    # The byte that is not UTF-8 became U+FFFD, as decoding the page would have made it;
    # the NUL went, as for a page given as text.
    assert (facts.written, facts.cleaned) == (4, 1)
    assert {r["id"]: r["given_name"] for r in stored} == {**names, 4: "Nul "}
    assert all(json.loads(r["raw"])["given_name"] == r["given_name"] for r in stored)


async def test_an_older_version_never_overwrites_a_newer_one(store: Store) -> None:
    newer = contact(1, "2025-06-01T00:00:00.000Z", given_name="New", tag_ids=["3"])
    older = contact(1, "2025-01-01T00:00:00.000Z", given_name="Old", tag_ids=["1"])
    await store.upsert_records("contacts", [newer])

    assert await store.upsert_records("contacts", [older]) == 0
    assert await store.upsert_records("contacts", [newer]) == 0  # unchanged: nothing to do

    kept = await row(store, "contacts", 1)
    assert kept["given_name"] == "New"
    tags = await store.conn.fetch("SELECT tag_id FROM keap.contact_tags WHERE contact_id = 1")
    assert [t["tag_id"] for t in tags] == [3]
    newest = contact(1, "2025-07-01T00:00:00.000Z", given_name="Newest", tag_ids=[])
    assert await store.upsert_records("contacts", [newest]) == 1
    assert (await row(store, "contacts", 1))["given_name"] == "Newest"
    assert await store.conn.fetchval("SELECT count(*) FROM keap.contact_tags") == 0


async def test_order_items_follow_their_order(store: Store) -> None:
    def order(items: list[str], updated: str) -> dict[str, Any]:
        return {
            "id": "5",
            "modification_time": updated,
            "total": {"amount": 1234, "currency_code": "USD"},
            "order_items": [{"id": i, "quantity": 2, "product": {"id": "9"}} for i in items],
        }

    await store.upsert_records("orders", [order(["1", "2"], "2025-01-01T00:00:00.000Z")])
    await store.upsert_records("orders", [order(["2", "3"], "2025-02-01T00:00:00.000Z")])

    items = await store.conn.fetch("SELECT id, product_id, quantity FROM keap.order_items")
    assert sorted(tuple(i) for i in items) == [(2, 9, 2), (3, 9, 2)]
    assert (await row(store, "orders", 5))["total_amount"] == 1234


async def test_marking_deleted_and_coming_back(store: Store) -> None:
    await store.upsert_records("contacts", [contact(1, "2025-01-01T00:00:00.000Z")])
    await store.upsert_records("tags", [{"id": "2", "update_time": "2025-01-01T00:00:00.000Z"}])

    assert await store.mark_deleted("tags", [2]) == [2]
    # A deleted tag is no longer applied to anyone.
    tags = await store.conn.fetch("SELECT tag_id FROM keap.contact_tags")
    assert [t["tag_id"] for t in tags] == [1]
    assert await store.mark_deleted("contacts", [1, 99]) == [1]
    assert await store.mark_deleted("contacts", [1]) == []  # already marked
    assert (await row(store, "contacts", 1))["deleted_at"] is not None

    # Keap listing the record again (it was not deleted after all) brings it back.
    assert await store.upsert_records("contacts", [contact(1, "2025-01-01T00:00:00.000Z")]) == 1
    assert (await row(store, "contacts", 1))["deleted_at"] is None


async def test_children_go_with_their_parent_however_it_is_found_deleted(store: Store) -> None:
    def order(order_id: int, items: list[str]) -> dict[str, Any]:
        return {
            "id": str(order_id),
            "modification_time": "2025-01-01T00:00:00.000Z",
            "order_items": [{"id": i, "quantity": 1} for i in items],
        }

    updated = "2025-01-01T00:00:00.000Z"
    await store.upsert_records(
        "contacts", [contact(i, updated, tag_ids=[str(i)]) for i in (1, 2, 3)]
    )
    await store.upsert_records("orders", [order(5, ["1", "2"]), order(6, ["3"])])

    async def children() -> tuple[list[int], list[int]]:
        tagged = await store.conn.fetch("SELECT contact_id FROM keap.contact_tags ORDER BY 1")
        items = await store.conn.fetch("SELECT DISTINCT order_id FROM keap.order_items ORDER BY 1")
        return [r[0] for r in tagged], [r[0] for r in items]

    # A delete event (or apply_ids finding the record gone) ...
    assert await store.mark_deleted("contacts", [1]) == [1]
    assert await store.mark_deleted("orders", [5]) == [5]
    assert await children() == ([2, 3], [6])
    # ... and reconciliation, which finds contact 3 no longer listed by Keap.
    listed_at = datetime(2100, 1, 1, tzinfo=UTC)
    window = await store.reconcile_window("contacts", 0, None, [2], listed_at)
    assert window.deleted == [3]
    assert await children() == ([2], [6])

    # Keap listing a record again brings its children back with it.
    await store.upsert_records("contacts", [contact(1, updated, tag_ids=["1"])])
    assert await children() == ([1, 2], [6])


async def test_the_migration_clears_children_left_by_earlier_deletes(store: Store) -> None:
    await store.upsert_records("contacts", [contact(1, "2025-01-01T00:00:00.000Z")])
    # As an earlier version left it: the contact marked deleted, its tag rows in place.
    await store.conn.execute("UPDATE keap.contacts SET deleted_at = now()")

    orphans = next(m for m in load() if m.name == "children_of_deleted_records")
    await store.conn.execute(orphans.sql)

    assert await store.conn.fetchval("SELECT count(*) FROM keap.contact_tags") == 0


async def test_malformed_values_become_null_instead_of_failing_the_page(store: Store) -> None:
    odd = contact(
        1,
        "2025-01-01T00:00:00.000Z",
        owner_id="not a number",
        birth_date="someday",
        company={"id": "99999999999999999999999"},
    )
    fine = contact(2, "2025-01-01T00:00:00.000Z")

    assert await store.upsert_records("contacts", [odd, fine]) == 2

    kept = await row(store, "contacts", 1)
    assert (kept["owner_id"], kept["birth_date"], kept["company_id"]) == (None, None, None)


async def test_a_page_listing_an_id_twice_is_refused_with_its_sqlstate(store: Store) -> None:
    twice = [contact(1, "2025-01-01T00:00:00.000Z"), contact(1, "2025-01-02T00:00:00.000Z")]

    with pytest.raises(StoreError) as caught:
        await store.upsert_records("contacts", twice)

    assert caught.value.sqlstate == CARDINALITY_VIOLATION  # the engine dedupes and retries


async def test_a_closed_connection_is_a_clear_store_error(store: Store) -> None:
    await store.conn.close()

    with pytest.raises(StoreError) as caught:
        await store.upsert_records("tags", [{"id": "1"}])

    assert caught.value.code == "database_unavailable"


async def test_a_malformed_value_inside_a_callers_transaction_leaves_it_usable(
    store: Store,
) -> None:
    async with store.conn.transaction():
        odd = contact(1, "2025-01-01T00:00:00.000Z", owner_id="x")
        assert await store.upsert_records("contacts", [odd]) == 1
        assert await store.conn.fetchval("SELECT owner_id FROM keap.contacts") is None


def page_text(records: list[dict[str, Any]], poison: dict[int, str]) -> str:
    """A contacts page as Keap's JSON text, with `poison[id]` (a JSON string literal's
    inside, escapes and all) as that contact's given name."""
    text = json.dumps({"contacts": records, "next_page_token": "t"})
    for record_id, escaped in poison.items():
        text = text.replace(f'"Given {record_id}"', f'"{escaped}"')
    return text


async def test_text_postgres_cannot_hold_is_cleaned_alike_in_raw_and_columns(
    store: Store,
) -> None:
    records = [contact(i, f"2025-01-0{i}T00:00:00.000Z") for i in range(1, 6)]
    text = page_text(records, {2: "Ann\\u0000e", 3: "Bo\\ud800b", 4: "Emoji \\ud83d\\ude00"})
    with pytest.raises(asyncpg.PostgresError):  # what Postgres makes of the page as sent
        await store.conn.execute("SELECT $1::jsonb", text)

    facts = await store.upsert("contacts", text, "contacts")

    assert (facts.written, facts.received, facts.cleaned, facts.refused) == (5, 5, 2, ())
    names = {
        r["id"]: (r["given_name"], json.loads(r["raw"])["given_name"])
        for r in await store.conn.fetch("SELECT id, given_name, raw FROM keap.contacts")
    }
    assert names[2] == ("Anne", "Anne")
    assert names[3] == ("Bo\ufffdb", "Bo\ufffdb")
    assert names[4] == ("Emoji \U0001f600", "Emoji \U0001f600")  # a valid pair stays
    assert names[1] == ("Given 1", "Given 1")


async def test_a_record_postgres_still_refuses_is_left_out_and_the_page_lands(
    store: Store,
) -> None:
    # The database's owner added a rule of their own that one of Keap's records breaks.
    await store.conn.execute(
        "ALTER TABLE keap.contacts ADD CONSTRAINT no_robots CHECK (given_name <> 'Robot')"
    )
    records = [contact(i, f"2025-01-01T00:00:{i:02d}.000Z") for i in range(1, 41)]
    records[36]["given_name"] = "Robot"  # id 37

    facts = await store.upsert("contacts", json.dumps({"contacts": records}), "contacts")

    assert (facts.written, facts.received, facts.max_id) == (39, 40, 40)
    assert facts.newest == datetime(2025, 1, 1, 0, 0, 40, tzinfo=UTC)
    assert [r.id for r in facts.refused] == [37]
    assert "23514" in facts.refused[0].error and "no_robots" in facts.refused[0].error
    assert json.loads(facts.refused[0].raw or "")["given_name"] == "Robot"
    assert await store.conn.fetchval("SELECT count(*) FROM keap.contacts") == 39
    assert await store.conn.fetchval("SELECT count(*) FROM keap.contact_tags") == 39 * 2

    await store.quarantine("contacts", facts.refused, "sync")
    await store.quarantine("contacts", facts.refused, "sync")  # it failed again
    [kept] = await store.quarantined()
    assert (kept.stream, kept.id, kept.attempts, kept.source) == ("contacts", 37, 2, "sync")
    assert (await store.counts())["contacts"]["quarantined"] == 1

    # Once the record is written (the rule dropped, or the record fixed in Keap) it goes.
    await store.conn.execute("ALTER TABLE keap.contacts DROP CONSTRAINT no_robots")
    await store.upsert_records("contacts", [records[36]])
    assert await store.quarantined() == []


async def test_a_page_refused_record_after_record_fails_as_a_whole(store: Store) -> None:
    await store.conn.execute(
        "ALTER TABLE keap.contacts ADD CONSTRAINT no_one CHECK (given_name IS NULL)"
    )
    records = [contact(i, "2025-01-01T00:00:00.000Z") for i in range(1, 101)]

    with pytest.raises(StoreError) as caught:
        await store.upsert("contacts", json.dumps(records))

    assert caught.value.sqlstate == "23514"
    assert "more than 20 records" in caught.value.message
