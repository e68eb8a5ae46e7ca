"""/health under a crowd: answered from checks kept a few seconds, so 600 concurrent calls
open a handful of Postgres connections at most, while a sync runs to completion beside them."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import asyncpg
import httpx

from shared.sync import service
from tests.sync.conftest import SyncWorld, start_world, stop_world

CALLS = 600


async def test_600_concurrent_health_calls_open_a_handful_of_connections(
    tmp_path: Path, database: str
) -> None:
    keap_context, world = await start_world(tmp_path, database)
    try:
        await _crowd_beside_a_sync(world)
    finally:
        await stop_world(keap_context, world)


async def _crowd_beside_a_sync(world: SyncWorld) -> None:
    world.keap.sandbox.update_config(latency_ms=20)  # a run long enough to crowd
    watcher = await asyncpg.connect(world.dsn)
    most = 0

    async def sample() -> None:
        nonlocal most
        while True:
            n = await watcher.fetchval(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
            most = max(most, int(n))
            await asyncio.sleep(0.01)

    sampler = asyncio.create_task(sample())
    run = asyncio.create_task(service.run(world.env, "full"))
    urls = [world.runtime.urls["sync-worker"], world.runtime.urls["sync-coordinator"]]
    limits = httpx.Limits(max_connections=CALLS, max_keepalive_connections=0)
    try:
        async with httpx.AsyncClient(timeout=60, limits=limits) as client:
            answers = await asyncio.gather(
                *(client.get(f"{urls[i % 2]}/health") for i in range(CALLS))
            )
        assert not run.done()  # the crowd came and went while the run went on
        result = await run
    finally:
        sampler.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sampler
        await watcher.close()
    assert result.status == "ok", result.errors
    assert {a.status_code for a in answers} == {200}, {a.status_code for a in answers}
    assert all(a.json()["status"] == "healthy" for a in answers)
    # The run's own connection, and one per worker's round of checks, at most.
    assert 1 <= most <= 3, most
