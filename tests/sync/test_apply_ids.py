"""`apply_ids`: what the webhook queue uses to turn a batch of ids into rows."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import asyncpg
import pytest

from local.keap_sandbox import RunningSandbox, SandboxConfig, serve_sandbox
from shared.config import Settings
from shared.keap.client import KeapClient
from shared.keap.credentials import KeapAccess, StaticCredentials
from shared.keap.streams import STREAMS
from shared.store.store import Store
from shared.sync.apply import apply_ids, mark_deleted
from tests.sync.compare import db_records, keap_records
from tests.sync.conftest import API_KEY, SMALL


@dataclass
class Parts:
    keap: KeapClient
    store: Store
    sandbox: RunningSandbox
    dsn: str


@pytest.fixture
async def parts(database: str) -> AsyncIterator[Parts]:
    async with serve_sandbox(SandboxConfig(**SMALL)) as sandbox:
        settings = Settings(KEAP_API_BASE=sandbox.api_base)
        credentials = StaticCredentials(KeapAccess(kind="api_key", token=API_KEY))
        conn = await asyncpg.connect(database)
        store = Store(conn, "default")
        await store.migrate()
        try:
            async with KeapClient(settings, credentials) as keap:
                yield Parts(keap, store, sandbox, database)
        finally:
            await conn.close()


async def test_a_batch_of_ids_is_one_request_and_one_write(parts: Parts) -> None:
    ids = list(range(1, 101))

    result = await apply_ids("contacts", ids, keap=parts.keap, store=parts.store)

    assert (result.keap_requests, result.found, result.written) == (1, 100, 100)
    assert result.missing == []
    rows = await db_records(parts.dsn, "contacts")
    everything = await keap_records(parts.sandbox.api_base, STREAMS["contacts"])
    assert rows == {i: everything[i] for i in ids}


async def test_ids_keap_no_longer_has_are_marked_deleted(parts: Parts) -> None:
    await apply_ids("tasks", [1, 2, 3], keap=parts.keap, store=parts.store)
    parts.sandbox.sandbox.delete("tasks", 2)

    result = await apply_ids("tasks", ["2", "3", "999999"], keap=parts.keap, store=parts.store)

    assert result.missing == [2, 999999]
    assert result.deleted == [2]  # 999999 was never in the table
    assert sorted(await db_records(parts.dsn, "tasks")) == [1, 3]


async def test_limits_per_object_are_respected(parts: Parts) -> None:
    # Keap takes at most 100 opportunity ids per filter.
    result = await apply_ids("opportunities", range(1, 251), keap=parts.keap, store=parts.store)

    assert (result.keap_requests, result.found) == (3, 250)


async def test_companies_without_an_ids_filter_are_fetched_one_by_one(parts: Parts) -> None:
    parts.sandbox.sandbox.delete("companies", 3)

    result = await apply_ids("companies", [1, 2, 3], keap=parts.keap, store=parts.store)

    assert (result.keap_requests, result.found, result.missing) == (3, 2, [3])
    everything = await keap_records(parts.sandbox.api_base, STREAMS["companies"])
    rows = await db_records(parts.dsn, "companies")
    assert rows == {1: everything[1], 2: everything[2]}


async def test_an_edit_of_a_known_record_is_written_and_a_delete_event_marks_it(
    parts: Parts,
) -> None:
    await apply_ids("tasks", [5], keap=parts.keap, store=parts.store)
    parts.sandbox.sandbox.update("tasks", 5, {"description": "Changed"})

    edited = await apply_ids("tasks", [5], keap=parts.keap, store=parts.store)
    gone = await mark_deleted("tasks", ["5"], store=parts.store)

    assert edited.written == 1
    assert gone == [5]
    assert await db_records(parts.dsn, "tasks") == {}
