"""When Keap or Postgres misbehave: the sync still ends complete, or fails clearly and
loses nothing."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import httpx
import pytest

from local.postgres import EmbeddedPostgres
from local.serve import free_port
from shared.keap.pacing import Backoff
from shared.sync import service
from tests.sync.compare import assert_db_matches_keap
from tests.sync.conftest import SyncWorld, start_world, stop_world
from tests.timing import wait_for


async def test_normal_limits_are_never_hit(world: SyncWorld) -> None:
    # An API key allows 10 requests a second and 240 a minute; small pages make many.
    result = await service.run(world.env, "full", page_size=150)

    assert result.status == "ok", result.errors
    assert result.keap_requests > 40
    assert world.keap.sandbox.limits.rejected == {
        "spike": 0,
        "throttle": 0,
        "quota": 0,
        "tenant": 0,
    }
    assert world.keap.sandbox.counters.get("status_429", 0) == 0


async def test_a_tenant_allowed_fewer_requests_a_second_than_documented_draws_few_429s(
    world: SyncWorld,
) -> None:
    # The key's documented spike arrest is 10 a second; this tenant really gets 3.
    world.keap.sandbox.update_config(key_spike_per_second=3)

    result = await service.run(world.env, "full", page_size=150)

    assert result.status == "ok", result.errors
    refused = world.keap.sandbox.limits.rejected["spike"]
    served = world.keap.sandbox.counters["requests"]
    assert served >= 40
    assert refused / served < 0.03, (refused, served)
    await assert_db_matches_keap(world.dsn, world.keap.api_base)


async def test_a_sync_through_errors_drops_and_tight_limits_ends_complete(
    world: SyncWorld,
) -> None:
    world.keap.sandbox.update_config(
        error_rate=0.1, drop_rate=0.03, key_spike_per_second=4, key_throttle_per_minute=60
    )

    result = await service.run(world.env, "full", page_size=300)

    assert result.status == "ok", result.errors
    stats = world.keap.sandbox.stats()
    assert sum(v for k, v in stats["faults"].items() if k.startswith("error_")) > 0
    assert stats["limits_rejected"]["spike"] > 0
    world.keap.sandbox.update_config(error_rate=0, drop_rate=0, key_spike_per_second=10)
    await assert_db_matches_keap(world.dsn, world.keap.api_base)


async def test_keap_down_for_good_fails_the_run_clearly(world: SyncWorld) -> None:
    world.keap.sandbox.update_config(error_rate=1.0)

    result = await service.run(
        world.env, "incremental", ["tags"], backoff=Backoff(base_s=0.05, max_attempts=6)
    )

    assert result.status == "failed"
    assert result.error_code == "keap_unavailable"
    assert "after 6 attempts" in result.errors[0]


@pytest.fixture
async def own_postgres(tmp_path: Path) -> AsyncIterator[EmbeddedPostgres]:
    """A Postgres this test may kill without harming the others."""
    server = EmbeddedPostgres(tmp_path / "pg", free_port())
    await asyncio.to_thread(server.start)
    try:
        yield server
    finally:
        await asyncio.to_thread(server.stop)


async def _rows(dsn: str) -> int:
    try:
        conn = await asyncpg.connect(dsn)
    except OSError:
        return 0
    try:
        if not await conn.fetchval("SELECT to_regclass('keap.contacts') IS NOT NULL"):
            return 0
        return int(await conn.fetchval("SELECT count(*) FROM keap.contacts"))
    finally:
        await conn.close()


async def test_postgres_going_away_mid_run_fails_clearly_and_a_later_run_completes(
    tmp_path: Path, own_postgres: EmbeddedPostgres
) -> None:
    keap_context, world = await start_world(tmp_path, own_postgres.dsn)
    try:
        world.keap.sandbox.update_config(latency_ms=30)
        task = asyncio.create_task(service.run(world.env, "full", page_size=250))

        async def under_way() -> bool:
            return await _rows(world.dsn) >= 500

        await wait_for(under_way, 60, "500 contacts written", every=0.02)
        await asyncio.to_thread(own_postgres.kill)

        failed = await task

        assert failed.status == "failed"
        assert failed.error_code == "database_unavailable"
        assert failed.errors == [
            "database_unavailable: database unavailable (" + failed.errors[0].split("(", 1)[1]
        ]
        assert "postgresql://" not in " ".join(failed.errors)
        async with httpx.AsyncClient(base_url=world.sync_url, headers=world.admin) as http:
            status = (await http.get("/sync/status", params={"refresh": "true"})).json()
        assert status["status"]["database_error"].startswith("database unavailable")

        await asyncio.to_thread(own_postgres.start)
        world.keap.sandbox.update_config(latency_ms=0)
        resumed = await service.run(world.env, "incremental", page_size=250)

        assert resumed.status == "ok", resumed.errors
        await assert_db_matches_keap(world.dsn, world.keap.api_base)
    finally:
        await stop_world(keap_context, world)
