"""Fixtures for the sync engine's tests: a database of its own per test, a sandbox with
small data sets, and the local runtime (coordinator, sync worker) pointed at both."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from local.keap_sandbox import RunningSandbox, SandboxConfig, serve_sandbox
from local.runtime import LocalRuntime
from shared.platform.env import WorkerEnv
from tests.conftest import admin_headers, local_config

API_KEY = "sandbox-api-key"
SMALL = {
    "contacts": 3000,
    "companies": 120,
    "opportunities": 1300,
    "orders": 400,
    "tasks": 300,
    "products": 60,
    "tags": 40,
    "notes": 500,
    "subscriptions": 1100,
}


@dataclass
class SyncWorld:
    """A sandbox, the runtime syncing from it, and the database it syncs into."""

    keap: RunningSandbox
    runtime: LocalRuntime
    dsn: str

    @property
    def env(self) -> WorkerEnv:
        assert self.runtime.envs is not None
        return self.runtime.envs.sync_worker

    @property
    def sync_url(self) -> str:
        return self.runtime.urls["sync-worker"]

    @property
    def admin(self) -> dict[str, str]:
        return admin_headers(self.runtime)

    def keap_requests(self, since: int = 0) -> list[dict[str, Any]]:
        """/crm/rest requests the sandbox served, from position `since` of its log."""
        return list(self.keap.sandbox.request_log)[since:]


async def read_all_details(world: SyncWorld, most_runs: int = 20) -> int:
    """Run products' incremental syncs until every product's details are read (a run
    reads them only for a while after its pages); the number of runs it took."""
    from shared.sync import service

    for runs in range(1, most_runs + 1):
        result = await service.run(world.env, "incremental", ["products"])
        assert result.status == "ok", result.errors
        if result.streams["products"].details_read == 0:
            return runs
    raise AssertionError(f"product details still unread after {most_runs} runs")


async def cancel_full_run_mid_way(
    world: SyncWorld, streams: list[str] | None, page_size: int
) -> None:
    """Start a full run (40 ms a Keap request) and cancel it once 1,000 contacts are
    written, as a kill would stop it."""
    from shared.sync import service
    from tests.timing import wait_for

    world.keap.sandbox.update_config(latency_ms=40)
    task = asyncio.create_task(service.run(world.env, "full", streams, page_size=page_size))

    async def under_way() -> bool:
        return await table_rows(world.dsn, "contacts") >= 1000

    await wait_for(under_way, 60, "1000 contacts written")
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def start_world(
    tmp_path: Path,
    dsn: str,
    sandbox: dict[str, Any] | None = None,
    vars: dict[str, str] | None = None,
) -> tuple[Any, SyncWorld]:
    """Start a sandbox and a runtime; returns (the sandbox context, the world)."""
    config = SandboxConfig(**{**SMALL, **(sandbox or {})})
    keap_context = serve_sandbox(config)
    keap = await keap_context.__aenter__()
    worker_vars = {"KEAP_API_BASE": keap.api_base, "KEAP_TOKEN_URL": keap.token_url}
    worker_vars["KEAP_AUTHORIZE_URL"] = keap.authorize_url
    worker_vars.update({"KEAP_API_KEY": API_KEY} if vars is None else vars)
    runtime = LocalRuntime(local_config(tmp_path, dsn, sandbox=False, vars=worker_vars))
    try:
        await runtime.start()
    except BaseException:
        await keap_context.__aexit__(None, None, None)
        raise
    return keap_context, SyncWorld(keap, runtime, dsn)


async def stop_world(keap_context: Any, world: SyncWorld) -> None:
    await world.runtime.stop()
    await keap_context.__aexit__(None, None, None)


@pytest.fixture
async def world(tmp_path: Path, database: str) -> AsyncIterator[SyncWorld]:
    """Sandbox (small data sets, an API key) + runtime + a fresh database."""
    keap_context, w = await start_world(tmp_path, database)
    try:
        yield w
    finally:
        await stop_world(keap_context, w)


async def table_rows(dsn: str, table: str) -> int:
    """Rows in `keap.<table>` (0 before the table exists)."""
    conn = await asyncpg.connect(dsn)
    try:
        if not await conn.fetchval("SELECT to_regclass($1) IS NOT NULL", f"keap.{table}"):
            return 0
        return int(await conn.fetchval(f"SELECT count(*) FROM keap.{table}"))  # noqa: S608
    finally:
        await conn.close()
