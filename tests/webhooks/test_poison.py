"""Records Postgres cannot take, through the real hook chain: sandbox -> handler ->
queue -> Postgres. They never hold up the events behind them."""

from __future__ import annotations

from urllib.parse import parse_qs

import asyncpg

from local.runtime import LocalRuntime
from shared.rpc.methods import QUEUE_CONFIGURE, QUEUE_STATUS, QueueChanges
from shared.store.store import Store
from tests.conftest import account_client
from tests.timing import wait_for
from tests.webhooks.conftest import drained, rows


async def test_a_record_postgres_refuses_waits_alone_then_goes_to_quarantine(
    own_live: LocalRuntime,
) -> None:
    live = own_live
    assert live.dsn is not None
    conn = await asyncpg.connect(live.dsn)
    try:
        await Store(conn, "default").migrate()
        # A rule of the database's owner that one of Keap's contacts breaks.
        await conn.execute(
            "ALTER TABLE keap.contacts ADD CONSTRAINT no_robots CHECK (given_name <> 'Robot')"
        )
    finally:
        await conn.close()
    queue = account_client(live)
    # Each refusal waits longer (0.5, 1, 2, 4 s), so the events behind it are seen to pass.
    await queue.call(
        QUEUE_CONFIGURE,
        QueueChanges(changes=dict(retry_base_s=0.5, retry_max_s=4, refused_attempts=5)),
    )
    sandbox = live.sandbox
    robot = int(sandbox.create("contacts", {"given_name": "Robot"})["id"])
    nul = int(sandbox.create("contacts", {"given_name": "Ann\x00e"})["id"])

    async def robot_waiting() -> bool:
        return (await queue.call(QUEUE_STATUS))["refused_waiting"] == 1

    await wait_for(robot_waiting, 30, "the robot contact to be refused once")
    edited = sandbox.make_changes(n_edits=3, kind="notes")["edited"]

    async def notes_in() -> bool:
        return len(await rows(live.dsn or "", "notes", edited)) == 3

    await wait_for(notes_in, 30, "the notes behind the refused contact")
    assert (await queue.call(QUEUE_STATUS))["refused_waiting"] == 1  # still waiting its turn

    status = await drained(live)
    assert status["totals"]["quarantined"] == 1
    assert status["recently_dropped"][0]["object_id"] == robot
    written = await rows(live.dsn, "contacts", [robot, nul])
    assert list(written) == [nul] and written[nul]["given_name"] == "Anne"
    conn = await asyncpg.connect(live.dsn)
    try:
        kept = await conn.fetchrow(
            "SELECT source, attempts, error FROM keap.quarantine "
            "WHERE stream = 'contacts' AND id = $1",
            robot,
        )
    finally:
        await conn.close()
    assert kept is not None and kept["source"] == "webhook" and kept["attempts"] == 1
    assert "23514" in kept["error"] and "no_robots" in kept["error"]
    # Bounded: the robot contact was asked of Keap once per try, five times in all.
    asked = [
        r
        for r in sandbox.request_log
        if r["path"] == "/crm/rest/v2/contacts"
        and str(robot) in parse_qs(r["query"]).get("filter", [""])[0].split("==")[-1].split(",")
    ]
    assert len(asked) == 5
