"""Helpers for the webhook tests: a runtime, authenticated hook URLs, deliveries, queue state."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from local.first_run import connect_via_oauth
from local.postgres import EmbeddedPostgres
from local.runtime import LocalRuntime
from shared.rpc.methods import QUEUE_CONFIGURE, QUEUE_STATUS, QueueChanges
from shared.webhooks.auth import hook_url
from tests.conftest import account_client, admin_headers, local_config
from tests.timing import wait_for


@pytest.fixture
async def handler_runtime(
    tmp_path: Path, postgres: EmbeddedPostgres
) -> AsyncIterator[LocalRuntime]:
    """The three workers without the Keap sandbox: enough to receive and queue deliveries;
    a second account, `other`, exists by the ACCOUNTS setting."""
    rt = LocalRuntime(
        local_config(tmp_path, postgres.dsn, sandbox=False, vars={"ACCOUNTS": "other"})
    )
    await rt.start()
    try:
        yield rt
    finally:
        await rt.stop()


def url_for(rt: LocalRuntime, account: str = "default") -> str:
    """The authenticated hook URL the coordinator would register for `account`."""
    return hook_url(rt.settings, account)


async def queue_depth(rt: LocalRuntime, account: str = "default") -> int:
    return int((await account_client(rt, account).call(QUEUE_STATUS))["depth"])


BASE_TIME = datetime(2026, 1, 1, tzinfo=UTC)


def stamp(n: int) -> str:
    return (BASE_TIME + timedelta(seconds=n)).isoformat().replace("+00:00", "Z")


def delivery(event_key: str, ids: list[int], at: int = 0) -> dict[str, Any]:
    """A delivery as Keap sends it."""
    noun = event_key.split(".")[0]
    return {
        "event_key": event_key,
        "object_type": noun,
        "object_keys": [
            {"id": i, "apiUrl": f"https://api.example/v2/{noun}s/{i}", "timestamp": stamp(at)}
            for i in ids
        ],
    }


# --- a live setup: sandbox, connected account, hooks registered and verified -----------
# Keap's schedule a hundred times faster, but Keap's patience with a slow answer kept: the
# local coordinator serves one call at a time, so an enqueue may wait for a drain batch.
FAST_HOOKS = {
    "hook_delay_s": 0.0,
    "hook_group_delay_s": 0.0,
    "hook_time_scale": 0.01,
    "hook_min_timeout_s": 10.0,
}
FAST_QUEUE = {"retry_base_s": 0.05, "retry_max_s": 0.5}


async def start_live(tmp_path: Path, dsn: str, **overrides: Any) -> LocalRuntime:
    """A runtime whose coordinator is connected to the sandbox over OAuth and whose hooks
    are registered (through the admin route, with Keap's real handshake)."""
    rt = LocalRuntime(local_config(tmp_path, dsn, sandbox_contacts=500, **overrides))
    await rt.start()
    try:
        rt.sandbox.update_config(**FAST_HOOKS)
        async with httpx.AsyncClient(timeout=30) as client:
            connected = await connect_via_oauth(rt, client)
            assert connected.status_code == 200, connected.text
            registered = await client.post(
                f"{rt.urls['sync-coordinator']}/hooks/register", headers=admin_headers(rt)
            )
        assert registered.status_code == 200, registered.text
        await account_client(rt).call(QUEUE_CONFIGURE, QueueChanges(changes=FAST_QUEUE))
    except BaseException:
        await rt.stop()
        raise
    return rt


@pytest.fixture
async def live(tmp_path: Path, postgres: EmbeddedPostgres) -> AsyncIterator[LocalRuntime]:
    rt = await start_live(tmp_path, postgres.dsn)
    try:
        yield rt
    finally:
        await rt.stop()


@pytest.fixture
async def own_live(tmp_path: Path, database: str) -> AsyncIterator[LocalRuntime]:
    """`live` on a database of its own: for tests that change the schema, or edit and
    delete Keap's base records (rows the session database would keep for later tests)."""
    rt = await start_live(tmp_path, database)
    try:
        yield rt
    finally:
        await rt.stop()


async def drained(rt: LocalRuntime, within: float = 60.0) -> dict[str, Any]:
    """Wait until the sandbox has delivered everything and the queue is empty."""
    assert await rt.sandbox.wait_hooks_idle(within)

    async def empty() -> bool:
        return await queue_depth(rt) == 0

    await wait_for(empty, within, "the hook queue to drain")
    return await account_client(rt).call(QUEUE_STATUS)


async def rows(dsn: str, table: str, ids: list[int]) -> dict[int, dict[str, Any]]:
    """Rows of `keap.<table>` by id (what a user of the database sees)."""
    conn = await asyncpg.connect(dsn)
    try:
        found = await conn.fetch(
            f"SELECT * FROM keap.{table} WHERE id = ANY($1::bigint[])",  # noqa: S608
            ids,
        )
    except asyncpg.UndefinedTableError:  # nothing written yet
        return {}
    finally:
        await conn.close()
    return {r["id"]: dict(r) for r in found}
