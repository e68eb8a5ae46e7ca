"""Keap as it really is, against the sandbox and a real Postgres: an object Keap refuses
for good, records whose text Postgres cannot hold, a record Postgres refuses, and the
product fields only the per-id GET returns."""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator
from functools import cache
from typing import Any

import asyncpg
import httpx
import pytest
import yaml

from shared.keap.streams import STREAM_NAMES, STREAMS, StreamSpec
from shared.rpc.client import coordinator_client
from shared.rpc.methods import (
    ACQUIRE_LEASE,
    CHECKPOINT,
    RELEASE_LEASE,
    RUNS,
    Checkpoint,
    LeaseRequest,
    RunRef,
    RunsQuery,
)
from shared.sync import service
from shared.sync.budget import Budget
from tests.conftest import KEAP_FACTS
from tests.sync.compare import assert_db_matches_keap
from tests.sync.conftest import SyncWorld, read_all_details
from tests.timing import wait_for

FORBIDDEN = "The user does not have permission to perform this operation"

PREFIX = "/rest"  # the spec's paths start at /rest/v2; ours are relative to .../crm/rest


@cache
def spec_doc() -> dict[str, Any]:
    text = (KEAP_FACTS / "keap-v2-openapi.yml").read_text()
    return yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))  # noqa: S506


def schema(ref: str) -> dict[str, Any]:
    return spec_doc()["components"]["schemas"][ref.rsplit("/", 1)[-1]]


def item_schema(stream: StreamSpec) -> dict[str, Any]:
    """The schema of one record of a stream's list response."""
    op = spec_doc()["paths"][PREFIX + stream.path]["get"]
    listing = schema(op["responses"]["200"]["content"]["application/json"]["schema"]["$ref"])
    return schema(listing["properties"][stream.items_key]["items"]["$ref"])


@pytest.fixture
async def http(world: SyncWorld) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=world.sync_url, headers=world.admin, timeout=120) as c:
        yield c


async def fetch(dsn: str, query: str, *args: Any) -> list[dict[str, Any]]:
    conn = await asyncpg.connect(dsn)
    try:
        return [dict(r) for r in await conn.fetch(query, *args)]
    finally:
        await conn.close()


async def status(http: httpx.AsyncClient) -> dict[str, Any]:
    response = await http.get("/sync/status", params={"refresh": "true"})
    assert response.status_code == 200, response.text
    return dict(response.json()["status"])


async def status_page(http: httpx.AsyncClient) -> str:
    response = await http.get(
        "/sync/status", params={"refresh": "true"}, headers={"Accept": "text/html"}
    )
    assert response.status_code == 200
    return response.text


async def test_an_object_keap_refuses_fails_clearly_while_the_others_sync(
    world: SyncWorld, http: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    world.keap.sandbox.faults.refuse("/v2/orders", 403)

    with caplog.at_level(logging.ERROR, "keap_sync"):
        response = await http.post("/sync/full")

    assert response.status_code == 502
    body = response.json()
    assert body["error"]["code"] == "keap_refused"
    assert "HTTP 403" in body["error"]["message"] and FORBIDDEN in body["error"]["message"]
    run = body["run"]
    assert run["status"] == "failed"
    assert run["streams"]["orders"]["status"] == "failed"
    assert "HTTP 403" in run["streams"]["orders"]["error"]
    others = [name for name in STREAM_NAMES if name != "orders"]
    assert all(run["streams"][name]["status"] == "complete" for name in others)
    await assert_db_matches_keap(world.dsn, world.keap.api_base, others)
    logged = [r.getMessage() for r in caplog.records if "orders" in r.getMessage()]
    assert any("HTTP 403" in line and FORBIDDEN in line for line in logged), logged

    orders = (await status(http))["objects"]["orders"]
    assert orders["refused"]["status"] == 403 and orders["refused"]["message"].endswith(FORBIDDEN)
    assert any(FORBIDDEN in e for e in orders["errors"])
    page = await status_page(http)
    assert '<span class="badge bad">Keap refuses orders</span> HTTP 403' in page
    assert "refused by Keap (HTTP 403)" in page
    health = await http.get("/health")
    assert health.status_code == 503 and health.json()["status"] == "degraded"
    assert health.json()["checks"]["streams"] == "fail"
    assert FORBIDDEN not in health.text  # the detail is the admin's
    streams = (await http.get("/health/detail")).json()["services"]["streams"]
    assert streams["status"] == "error"
    assert "orders: HTTP 403" in streams["error"]

    # The cron runs go on, and keep trying the refused object once each.
    before = len(world.keap.sandbox.request_log)
    scheduled = f"{world.sync_url}/cdn-cgi/handler/scheduled"
    async with httpx.AsyncClient(timeout=60) as client:
        assert (await client.get(scheduled, params={"cron": "*/30 * * * *"})).status_code == 200
    listed = {f"/crm/rest/v2/{name}" for name in STREAM_NAMES}
    asked = [r["path"] for r in world.keap_requests(before) if r["path"] in listed]
    assert asked.count("/crm/rest/v2/orders") == 1 and set(asked) == listed
    coordinator = coordinator_client(world.env)
    assert (await coordinator.call(RUNS, RunsQuery(limit=1)))[0]["status"] == "failed"

    # Once Keap lets the object through, the next run syncs it and the state clears.
    world.keap.sandbox.faults.allow()
    assert (await http.post("/sync/orders")).json()["status"] == "ok"
    assert (await status(http))["objects"]["orders"]["refused"] is None

    async def healthy() -> bool:  # once the round of checks kept a few seconds is renewed
        return (await http.get("/health")).status_code == 200

    await wait_for(healthy, 30, "the sync worker healthy again", every=0.5)
    await assert_db_matches_keap(world.dsn, world.keap.api_base)


async def test_reconciliation_of_a_refused_object_says_why_rows_are_missing(
    world: SyncWorld, http: httpx.AsyncClient
) -> None:
    coordinator = coordinator_client(world.env)
    refused = {"status": 400, "message": "Invalid filter: start_update_time", "since": "x"}
    assert (await coordinator.call(ACQUIRE_LEASE, LeaseRequest(run_id="setup", ttl_s=60))).acquired
    await coordinator.call(
        CHECKPOINT, Checkpoint(run_id="setup", stream="contacts", state={"refused": refused})
    )
    await coordinator.call(RELEASE_LEASE, RunRef(run_id="setup"))

    run = (await http.post("/sync/contacts", params={"reconcile": "true"})).json()

    assert run["status"] == "ok"
    [note] = run["errors"]  # not "run a full sync", which Keap would refuse as well
    assert note.startswith("contacts: ") and note.endswith(
        "records are missing from the table; Keap refuses its sync "
        "(HTTP 400: Invalid filter: start_update_time)"
    )


async def test_text_postgres_cannot_hold_lands_cleaned_and_counted(
    world: SyncWorld, http: httpx.AsyncClient
) -> None:
    sandbox = world.keap.sandbox
    nul = sandbox.create("contacts", {"given_name": "Ann\x00e", "family_name": "Lee"})
    half = sandbox.create("contacts", {"given_name": "Bo\ud800b", "family_name": "Half"})
    tag = sandbox.create("tags", {"name": "VIP\x00", "description": "typed in a form"})

    response = await http.post("/sync/full")

    assert response.status_code == 200, response.text
    run = response.json()
    assert run["status"] == "ok"
    assert run["streams"]["contacts"]["cleaned"] == 2 and run["streams"]["tags"]["cleaned"] == 1
    assert run["streams"]["contacts"]["records"] == 3002
    rows = await fetch(
        world.dsn,
        "SELECT id, given_name, raw ->> 'given_name' AS raw_name FROM keap.contacts "
        "WHERE id = ANY($1::bigint[]) ORDER BY id",
        [int(nul["id"]), int(half["id"])],
    )
    assert [(r["given_name"], r["raw_name"]) for r in rows] == [
        ("Anne", "Anne"),
        ("Bo\ufffdb", "Bo\ufffdb"),
    ]
    tags = await fetch(world.dsn, "SELECT name FROM keap.tags WHERE id = $1", int(tag["id"]))
    assert tags == [{"name": "VIP"}]
    counts = await fetch(world.dsn, "SELECT count(*) AS n FROM keap.contacts")
    assert counts[0]["n"] == 3002  # and every other record of those pages
    last = (await status(http))["objects"]["contacts"]["last_run"]
    assert last["cleaned"] == 2

    # Later runs read past them as past any record.
    sandbox.update("contacts", int(nul["id"]), {"family_name": "Lee\x00"})
    again = (await http.post("/sync/contacts")).json()
    assert again["status"] == "ok" and again["streams"]["contacts"]["cleaned"] >= 1
    rows = await fetch(
        world.dsn, "SELECT family_name FROM keap.contacts WHERE id = $1", int(nul["id"])
    )
    assert rows == [{"family_name": "Lee"}]


async def test_a_record_postgres_refuses_is_quarantined_shown_and_the_rest_lands(
    world: SyncWorld, http: httpx.AsyncClient
) -> None:
    assert (await http.post("/sync/tags")).json()["status"] == "ok"
    # The database's owner added a rule of their own; one of Keap's tags breaks it.
    conn = await asyncpg.connect(world.dsn)
    try:
        await conn.execute(
            "ALTER TABLE keap.tags ADD CONSTRAINT tag_names CHECK (name <> 'Forbidden')"
        )
    finally:
        await conn.close()
    sandbox = world.keap.sandbox
    created = [sandbox.create("tags", {"name": name}) for name in ("A", "Forbidden", "B")]
    bad = int(created[1]["id"])

    run = (await http.post("/sync/tags")).json()

    assert run["status"] == "ok"
    assert run["streams"]["tags"]["quarantined"] == 1
    assert run["streams"]["tags"]["written"] == 2
    names = await fetch(world.dsn, "SELECT name FROM keap.tags WHERE id > 40 ORDER BY id")
    assert [r["name"] for r in names] == ["A", "B"]
    shown = await status(http)
    assert shown["objects"]["tags"]["quarantined"] == 1
    [entry] = shown["quarantine"]
    assert (entry["stream"], entry["id"], entry["source"]) == ("tags", bad, "sync")
    assert "23514" in entry["error"] and "tag_names" in entry["error"]
    page = await status_page(http)
    assert "Quarantined records" in page and f'<td class="num">{bad}</td>' in page
    assert "tag_names" in page

    # The rule goes, the record changes in Keap: the next run writes it, the entry goes.
    conn = await asyncpg.connect(world.dsn)
    try:
        await conn.execute("ALTER TABLE keap.tags DROP CONSTRAINT tag_names")
    finally:
        await conn.close()
    sandbox.update("tags", bad, {"description": "allowed now"})
    assert (await http.post("/sync/tags")).json()["streams"]["tags"]["written"] == 1
    assert (await status(http))["quarantine"] == []


async def test_products_carry_the_inventory_count_read_per_changed_product(
    world: SyncWorld, http: httpx.AsyncClient
) -> None:
    sandbox = world.keap.sandbox

    def keap_counts() -> dict[int, int]:
        products = sandbox.records["products"]
        return {
            i: int((products.get(i) or {})["inventory"]["inventory_count"])
            for i in products.live_ids()
        }

    async def db_counts() -> dict[int, int | None]:
        rows = await fetch(world.dsn, "SELECT id, inventory_count FROM keap.products")
        return {r["id"]: r["inventory_count"] for r in rows}

    # A full run reads pages only, at Keap's rate ceiling: the counts are left to the
    # incremental runs after it ...
    full = await service.run(world.env, "full", ["products"])
    assert full.status == "ok", full.errors
    assert full.streams["products"].details_read == 0
    assert (await status(http))["objects"]["products"]["details_pending"] == 60
    # ... each of which reads what its budget (a third of its subrequests) and time allow
    first = await service.run(world.env, "incremental", ["products"], budget=Budget(subrequests=60))
    assert first.status == "ok", first.errors
    assert 0 < first.streams["products"].details_read <= 60 // 3
    assert sum(c is not None for c in (await db_counts()).values()) == (
        first.streams["products"].details_read
    )
    shown = (await status(http))["objects"]["products"]
    assert shown["details_pending"] == 60 - first.streams["products"].details_read
    # ... and the next runs read the rest, each product once.
    before = len(sandbox.request_log)
    await read_all_details(world)
    per_product = [r for r in world.keap_requests(before) if r["path"] != "/crm/rest/v2/products"]
    assert len(per_product) == 60 - first.streams["products"].details_read
    assert len({r["path"] for r in per_product}) == len(per_product)
    assert all(r["path"].startswith("/crm/rest/v2/products/") for r in per_product)
    assert await db_counts() == keap_counts()
    assert (await status(http))["objects"]["products"]["details_pending"] == 0

    # Only products that changed are read again.
    edited = sandbox.make_changes(n_edits=2, kind="products")["edited"]
    # Stock moves (Keap's :adjustInventory); the edit above moved the update time.
    (sandbox.get("products", edited[0]) or {})["inventory"]["inventory_count"] = 999
    before = len(sandbox.request_log)
    third = (await http.post("/sync/products")).json()
    assert third["streams"]["products"]["details_read"] == 2
    read = sorted(r["path"] for r in world.keap_requests(before))
    assert read == sorted(
        ["/crm/rest/v2/products", *(f"/crm/rest/v2/products/{i}" for i in edited)]
    )
    assert (await db_counts())[edited[0]] == 999
    assert await db_counts() == keap_counts()
    await assert_db_matches_keap(world.dsn, world.keap.api_base, ["products"])


def _has(schema_: dict[str, Any], dotted: str) -> bool:
    """Whether the schema documents the property at `dotted` (refs followed)."""
    for name in dotted.split("."):
        if "$ref" in schema_:
            schema_ = schema(schema_["$ref"])
        properties = schema_.get("properties") or {}
        if name not in properties:
            return False
        schema_ = properties[name]
    return True


@pytest.mark.parametrize("name", [n for n in STREAM_NAMES if STREAMS[n].detail_fields])
def test_detail_fields_are_what_the_spec_leaves_out_of_lists_only(name: str) -> None:
    stream = STREAMS[name]
    assert stream.get_path is not None
    path = re.sub(r"\{id\}", "{" + stream.items_key[:-1] + "_id}", PREFIX + stream.get_path)
    got = spec_doc()["paths"][path]["get"]["responses"]["200"]["content"]["application/json"]
    for field in stream.detail_fields:
        assert _has(got["schema"], field), field
        assert not _has(item_schema(stream), field), field
