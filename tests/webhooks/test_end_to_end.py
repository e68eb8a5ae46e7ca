"""A change in Keap reaches Postgres through the real hook: sandbox -> handler -> queue -> row."""

from __future__ import annotations

import asyncpg

from local.runtime import LocalRuntime
from shared.rpc.methods import QUEUE_STATUS
from tests.conftest import account_client
from tests.timing import wait_for
from tests.webhooks.conftest import drained, rows


async def test_an_add_an_edit_and_a_delete_reach_postgres(live: LocalRuntime) -> None:
    assert live.dsn is not None
    sandbox = live.sandbox
    created = sandbox.create(
        "contacts",
        {"given_name": "Ada", "family_name": "Lovelace", "job_title": "Analyst"},
    )
    contact_id = int(created["id"])

    async def row_is(**expected: object) -> bool:
        row = (await rows(live.dsn or "", "contacts", [contact_id])).get(contact_id)
        return row is not None and all(row[k] == v for k, v in expected.items())

    await wait_for(lambda: row_is(given_name="Ada", deleted_at=None), 20, "the added contact")

    sandbox.update("contacts", contact_id, {"given_name": "Augusta", "job_title": "Countess"})
    await wait_for(lambda: row_is(given_name="Augusta", job_title="Countess"), 20, "the edit")

    sandbox.delete("contacts", contact_id)

    async def deleted() -> bool:
        row = (await rows(live.dsn or "", "contacts", [contact_id])).get(contact_id)
        return row is not None and row["deleted_at"] is not None

    await wait_for(deleted, 20, "the delete")
    status = await drained(live)
    assert status["totals"]["received"] == 3
    assert status["totals"]["applied"] == 2 and status["totals"]["deleted"] == 1
    assert status["totals"]["dropped"] == 0


async def test_other_objects_and_tag_applications_reach_postgres(live: LocalRuntime) -> None:
    assert live.dsn is not None
    sandbox = live.sandbox
    made = {k: sandbox.make_changes(n_edits=3, kind=k)["edited"] for k in ("notes", "tasks")}
    tag_id, contact_id = 3, 42
    contact = sandbox.get("contacts", contact_id)
    assert contact is not None and str(tag_id) not in (contact.get("tag_ids") or [])
    sandbox.records.apply_tag(tag_id, [contact_id])

    await drained(live)
    for kind, ids in made.items():
        found = await rows(live.dsn, kind, ids)
        assert set(found) == set(ids), kind
    conn = await asyncpg.connect(live.dsn)
    try:
        tags = await conn.fetchval(
            "SELECT array_agg(tag_id) FROM keap.contact_tags WHERE contact_id = $1", contact_id
        )
    finally:
        await conn.close()
    assert tag_id in tags  # the contact's tags were refreshed
    status = await account_client(live).call(QUEUE_STATUS)
    assert status["totals"]["dropped"] == 0


async def test_a_deleted_contact_and_order_take_their_children_along(
    own_live: LocalRuntime,
) -> None:
    live = own_live
    assert live.dsn is not None
    sandbox = live.sandbox
    contact_id = next(i for i in range(1, 500) if (sandbox.get("contacts", i) or {}).get("tag_ids"))
    order_id = 7
    sandbox.update("contacts", contact_id, {"job_title": "Tagged"})
    sandbox.update("orders", order_id, {"notes": "Has items"})
    await drained(live)

    async def children() -> tuple[int, int]:
        conn = await asyncpg.connect(live.dsn)
        try:
            tags = await conn.fetchval(
                "SELECT count(*) FROM keap.contact_tags WHERE contact_id = $1", contact_id
            )
            items = await conn.fetchval(
                "SELECT count(*) FROM keap.order_items WHERE order_id = $1", order_id
            )
        finally:
            await conn.close()
        return tags, items

    keap_tags = (sandbox.get("contacts", contact_id) or {}).get("tag_ids") or []
    keap_items = (sandbox.get("orders", order_id) or {}).get("order_items") or []
    assert await children() == (len(keap_tags), len(keap_items)) and keap_tags and keap_items

    sandbox.delete("contacts", contact_id)
    sandbox.delete("orders", order_id)
    await drained(live)

    deleted = await rows(live.dsn, "contacts", [contact_id]) | await rows(
        live.dsn, "orders", [order_id]
    )
    assert all(r["deleted_at"] is not None for r in deleted.values()) and len(deleted) == 2
    assert await children() == (0, 0)
