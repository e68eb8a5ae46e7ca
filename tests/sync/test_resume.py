"""Runs cut short (by their budget, by cancellation) are finished by the next ones,
with no page lost and no row duplicated, for ascending, id-ordered and descending
streams alike, while Keap keeps changing in between."""

from __future__ import annotations

import asyncpg

from shared.keap.streams import STREAM_NAMES
from shared.rpc.client import coordinator_client
from shared.rpc.methods import GET_STREAM_STATES, RUNS
from shared.sync import service
from shared.sync.budget import Budget
from tests.sync.compare import assert_db_matches_keap
from tests.sync.conftest import SMALL, SyncWorld, cancel_full_run_mid_way, table_rows

PAGE = 250  # small pages: 3,000 contacts and 1,300 opportunities take many


async def test_runs_stopped_by_their_budget_finish_the_sync_between_changes(
    world: SyncWorld,
) -> None:
    sandbox = world.keap.sandbox
    coordinator = coordinator_client(world.env)
    runs = 0
    while True:
        states = await coordinator.call(GET_STREAM_STATES)
        caught_up = [n for n, s in states.items() if s.get("cursor") and "pass" not in s]
        if len(caught_up) == len(STREAM_NAMES):
            break
        result = await service.run(
            world.env, "incremental", budget=Budget(max_pages=4), page_size=PAGE
        )
        runs += 1
        assert result.status == "partial" and "page limit" in (result.stop_reason or "")
        # Keap keeps changing half way through: records move in every ordering.
        for kind in ("contacts", "opportunities", "subscriptions", "companies", "products"):
            sandbox.make_changes(n_edits=2, n_creates=1, kind=kind)
        assert runs < 40
    assert runs > 5
    # Changes made after a stream's last pass are newer than its cursor: one more run.
    assert (await service.run(world.env, "incremental", page_size=PAGE)).status == "ok"
    await assert_db_matches_keap(world.dsn, world.keap.api_base)


async def test_a_cancelled_run_releases_the_lease_and_the_next_run_completes(
    world: SyncWorld,
) -> None:
    await cancel_full_run_mid_way(world, None, PAGE)
    assert await table_rows(world.dsn, "contacts") < 3000

    result = await service.run(world.env, "incremental", page_size=PAGE)

    assert result.status == "ok", result.errors
    await assert_db_matches_keap(world.dsn, world.keap.api_base)
    coordinator = coordinator_client(world.env)
    runs = {r["kind"]: r["status"] for r in await coordinator.call(RUNS)}
    assert runs == {"full": "cancelled", "incremental": "ok"}


async def test_a_database_emptied_behind_the_coordinator_is_filled_by_the_next_run(
    world: SyncWorld,
) -> None:
    """A new or restored database under the same coordinator: the stored cursors would skip
    every record Keap changed before them, so streams holding no rows start over."""
    assert (await service.run(world.env, "full")).status == "ok"
    conn = await asyncpg.connect(world.dsn)
    try:
        tables = ", ".join(f"keap.{t}" for t in ("contacts", "contact_tags", "companies"))
        await conn.execute(f"TRUNCATE {tables}")
    finally:
        await conn.close()
    assert await table_rows(world.dsn, "contacts") == 0

    result = await service.run(world.env, "incremental")

    assert result.status == "ok", result.errors
    assert await table_rows(world.dsn, "contacts") == SMALL["contacts"]
    await assert_db_matches_keap(world.dsn, world.keap.api_base)
