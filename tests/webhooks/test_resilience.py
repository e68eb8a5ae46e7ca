"""No event lost: a burst of 10,000 changes while Postgres dies, or while the coordinator
restarts mid-drain, ends with every change in Postgres."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from local.postgres import EmbeddedPostgres
from local.runtime import LocalRuntime
from shared.rpc.methods import QUEUE_STATUS
from tests.conftest import account_client
from tests.timing import wait_for
from tests.webhooks.conftest import drained, rows

ROUNDS = 10
PER_ROUND = {"n_creates": 500, "n_edits": 400, "n_deletes": 100}  # 1,000 events a round


async def burst(rt: LocalRuntime, rounds: int, touched: dict[str, set[int]]) -> None:
    """Changes in the sandbox, a round at a time, each round in deliveries of its own."""
    for _ in range(rounds):
        made = rt.sandbox.make_changes(**PER_ROUND)
        for name, ids in made.items():
            touched[name].update(ids)
        await wait_for(lambda: not rt.sandbox.hooks.batching, 10, "the round's deliveries")


def delivered_objects(rt: LocalRuntime) -> int:
    """Objects in the deliveries the handler acknowledged (Keap's side of the ledger)."""
    return sum(a.object_count for a in rt.sandbox.hooks.attempts if a.ok)


async def assert_postgres_matches_keap(rt: LocalRuntime, touched: dict[str, set[int]]) -> None:
    """Every contact the burst touched is in Postgres as Keap has it now."""
    assert rt.dsn is not None
    ids = sorted(touched["created"] | touched["edited"] | touched["deleted"])
    found = await rows(rt.dsn, "contacts", ids)
    wrong = []
    for contact_id in ids:
        keap = rt.sandbox.get("contacts", contact_id)
        row = found.get(contact_id)
        if keap is None:  # deleted in Keap: the row, if it was ever written, says so
            if row is not None and row["deleted_at"] is None:
                wrong.append((contact_id, "not marked deleted"))
        elif row is None or row["deleted_at"] is not None:
            wrong.append((contact_id, "missing"))
        elif json.loads(row["raw"]).get("update_time") != keap.get("update_time"):
            wrong.append((contact_id, "stale"))
    assert not wrong, f"{len(wrong)} contacts differ, e.g. {wrong[:5]}"


def fresh_touched() -> dict[str, set[int]]:
    return {"created": set(), "edited": set(), "deleted": set()}


async def test_postgres_down_mid_burst_loses_nothing(
    live: LocalRuntime, postgres: EmbeddedPostgres
) -> None:
    touched = fresh_touched()
    await burst(live, 2, touched)
    await asyncio.to_thread(postgres.kill)
    try:
        await burst(live, ROUNDS - 2, touched)

        async def failing() -> bool:
            status = await account_client(live).call(QUEUE_STATUS)
            return status["depth"] > 0 and "database" in (status["last_error"] or "")

        await wait_for(failing, 20, "the queue to notice Postgres is gone")
        down = await account_client(live).call(QUEUE_STATUS)
    finally:
        await asyncio.to_thread(postgres.start)
    status = await drained(live, within=120)
    assert down["failures"] >= 1
    assert status["totals"]["received"] == delivered_objects(live) >= 9_000
    totals = status["totals"]
    done = totals["applied"] + totals["deleted"] + totals["dropped"] + totals["quarantined"]
    assert done == status["totals"]["received"]
    await assert_postgres_matches_keap(live, touched)


async def test_coordinator_restart_mid_drain_loses_nothing(live: LocalRuntime) -> None:
    assert live.envs is not None and live.envs.coordinator.durable_objects is not None
    namespace: Any = live.envs.coordinator.durable_objects
    touched = fresh_touched()
    await burst(live, ROUNDS // 2, touched)

    async def draining() -> bool:
        status = await account_client(live).call(QUEUE_STATUS)
        return status["totals"]["applied"] > 0 and status["depth"] > 0

    await wait_for(draining, 20, "the drain to be under way")
    await namespace.close()  # the object goes away mid-drain, as on a deploy or eviction
    await burst(live, ROUNDS - ROUNDS // 2, touched)
    await namespace.close()
    status = await drained(live, within=120)
    assert status["totals"]["received"] == delivered_objects(live) >= 9_000
    await assert_postgres_matches_keap(live, touched)
