"""Every request the sync can send to Keap, held to Keap's v2 spec.

What an endpoint takes is read from `keap-v2-openapi.yml` (parameter names, enums and
`explode`, and the prose of `fields`, `order_by` and `filter`; see
`local/keap_sandbox/openapi.py`). The requests are built by the project's own code: every
position a stream's state can be in, and the requests a real run sends (first pages, next
pages, runs resumed after their budget ran out, incremental runs, reconciliation, batches
of hook ids and per-id GETs), as the sandbox logged them.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import asyncpg
import pytest

from local.keap_sandbox.openapi import load_operations
from local.keap_sandbox.query import check_query
from shared.keap.client import KeapClient
from shared.keap.credentials import KeapAccess, StaticCredentials
from shared.keap.streams import STREAM_NAMES, STREAMS, StreamSpec
from shared.rpc.client import coordinator_client
from shared.rpc.methods import GET_STREAM_STATES
from shared.store.store import Store
from shared.store.tables import TABLES
from shared.sync import service
from shared.sync.apply import apply_ids
from shared.sync.budget import Budget
from shared.sync.state import StreamState
from tests.sandbox.conftest import keap_spec
from tests.sync.conftest import API_KEY, SyncWorld, start_world, stop_world

CURSOR = "2025-03-01T10:00:00.000Z"
TOKEN = "opaque-page-token"


def _items(params: dict[str, Any]) -> list[tuple[str, str]]:
    """Query items as httpx sends a params dict (a list: one parameter per item)."""
    out: list[tuple[str, str]] = []
    for name, value in params.items():
        values = value if isinstance(value, list) else [value]
        out += [(name, str(v)) for v in values]
    return out


def _problem(method: str, path: str, items: Iterable[tuple[str, str]]) -> str | None:
    """Why Keap's spec refuses the request, or None."""
    op = load_operations().match(method, path)
    if op is None:
        return f"{method} {path} is not an operation of Keap's spec"
    try:
        check_query(op, items)
    except ValueError as exc:
        return f"{method} {path}?{list(items)}: {exc}"
    return None


def _built_requests(spec: StreamSpec) -> dict[str, tuple[str, dict[str, Any]]]:
    """Every list request shape the stream's state builds, by what it is for."""
    positions: dict[str, dict[str, Any] | None] = {
        "first full pass": None,
        "incremental pass": {"cursor": CURSOR},
        "resumed pass": {
            "cursor": CURSOR,
            "pass": {
                "hwm": CURSOR,
                "since": CURSOR,
                "after_id": 41,
                "started": CURSOR,
                "page_token": TOKEN,
            },
        },
    }
    out: dict[str, tuple[str, dict[str, Any]]] = {}
    for what, stored in positions.items():
        state = StreamState.from_json(spec, stored)
        state.begin()
        params, token = state.request()
        out[what] = (spec.path, {**params, **({"page_token": token} if token else {})})
        out[f"{what}, next page"] = (spec.path, {**params, "page_token": TOKEN})
    if spec.id_order and spec.id_compare:
        out["reconciliation window"] = (spec.path, spec.id_window_params(1200))
    else:
        out["reconciliation of the whole set"] = (spec.path, spec.whole_set_params())
    if spec.ids_filter:
        out["batch of hook ids"] = (spec.path, spec.ids_params(range(1, spec.batch_size + 1)))
    if spec.get_path:
        path, params = spec.get_request(7)
        out["per-id GET"] = (path, params or {})
    return out


@pytest.mark.parametrize("name", STREAM_NAMES)
def test_every_request_a_streams_state_builds_fits_the_spec(name: str) -> None:
    spec = STREAMS[name]
    built = _built_requests(spec)
    problems = [
        f"{what}: {problem}"
        for what, (path, params) in built.items()
        if (problem := _problem("GET", path, _items(params)))
    ]
    assert problems == []
    # What each mode is built from: an update-time filter, or an ordering by update time.
    first = dict(_items(built["incremental pass"][1]))
    if spec.mode == "desc":
        assert first["order_by"] == f"{spec.order_by} desc" and "filter" not in first
    else:
        assert first["filter"].startswith(f"{spec.since_filter}=={CURSOR[:4]}")
    if spec.mode == "id_asc":
        assert f"{spec.id_compare}>41" in dict(_items(built["resumed pass"][1]))["filter"]
    if spec.mode == "desc":
        assert dict(_items(built["resumed pass"][1]))["page_token"] == TOKEN


def _logged(world: SyncWorld, since: int = 0) -> list[tuple[str, str, list[tuple[str, str]]]]:
    """(method, v2 path, query items) of every v2 request the sandbox served."""
    out = []
    for entry in world.keap_requests(since):
        path = entry["path"].removeprefix("/crm/rest")
        if path.startswith("/v2/"):
            out.append((entry["method"], path, parse_qsl(entry["query"], keep_blank_values=True)))
    return out


def _condition_names(items: list[tuple[str, str]]) -> set[str]:
    text = dict(items).get("filter", "")
    return {m.group(1) for m in re.finditer(r"([A-Za-z0-9_]+)(?:==|!=|>=|<=|>|<)", text)}


# Enough records of each object for a few 50-record pages, also in the range a full pass
# reads between its first page and the page of its greatest ids.
FEW = {name: 260 for name in STREAM_NAMES} | {"contacts": 300, "tags": 60, "products": 60}
PAGE = 50


@pytest.fixture
async def few(tmp_path: Path, database: str) -> AsyncIterator[SyncWorld]:
    keap_context, world = await start_world(tmp_path, database, sandbox=FEW)
    try:
        yield world
    finally:
        await stop_world(keap_context, world)


async def test_every_request_a_real_run_sends_fits_the_spec(few: SyncWorld) -> None:
    world = few
    # Runs cut short by their budget (so later runs resume), small pages (so lists page).
    coordinator = coordinator_client(world.env)
    for _ in range(20):
        states = await coordinator.call(GET_STREAM_STATES)
        if all(states.get(n, {}).get("cursor") and "pass" not in states[n] for n in STREAM_NAMES):
            break
        await service.run(world.env, "incremental", budget=Budget(max_pages=8), page_size=PAGE)
    else:
        raise AssertionError("twenty short runs did not finish the first sync")
    # The streams of a short run share its pages, so some never follow a page token in
    # one: a full run with room for every page (in slices where the object allows).
    assert (await service.run(world.env, "full", page_size=PAGE)).status == "ok"
    for kind in STREAM_NAMES:
        world.keap.sandbox.make_changes(n_edits=3, n_creates=1, kind=kind)
    assert (await service.run(world.env, "incremental", page_size=PAGE)).status == "ok"
    # Reconciliation, with rows missing from the table so that it fetches them by id.
    conn = await asyncpg.connect(world.dsn)
    try:
        for name in STREAM_NAMES:
            await conn.execute(f"DELETE FROM keap.{name} WHERE id IN (2, 3)")  # noqa: S608
    finally:
        await conn.close()
    reconciled = await service.run(world.env, "reconcile")
    assert reconciled.status == "ok", reconciled.errors
    # Hook events: batches of ids (and per-id GETs where there is no ids filter).
    access = StaticCredentials(KeapAccess(kind="api_key", token=API_KEY))
    async with (
        KeapClient(world.env.settings, access) as keap,
        Store.open(world.env.database, account="default") as store,  # type: ignore[arg-type]
    ):
        for name in STREAM_NAMES:
            await apply_ids(name, [1, 4, 999_999], keap=keap, store=store)

    sent = _logged(world)
    assert [p for m, path, items in sent if (p := _problem(m, path, items))] == []
    for name in STREAM_NAMES:
        spec = STREAMS[name]
        lists = [items for m, path, items in sent if (m, path) == ("GET", spec.path)]
        keys = [dict(items) for items in lists]
        names = [_condition_names(items) for items in lists]
        assert any("page_token" not in k for k in keys), name
        assert any("page_token" in k for k in keys), f"{name}: no page was followed"
        if spec.since_filter:
            assert any(spec.since_filter in n for n in names), name
        if spec.id_compare and spec.id_order:
            assert any(spec.id_compare in n for n in names), f"{name}: no id window"
        if spec.ids_filter:
            assert any(spec.ids_filter in n for n in names), f"{name}: no batch of ids"
        if spec.get_path:
            pattern = re.compile("^" + spec.get_path.replace("{id}", r"\d+") + "$")
            gets = [items for m, path, items in sent if m == "GET" and pattern.match(path)]
            assert gets, f"{name}: no per-id GET"
            # `fields` where the spec documents it for the per-id GET (companies), else none.
            assert all(bool(dict(i).get("fields")) == bool(spec.get_fields) for i in gets), name


@pytest.mark.parametrize("name", STREAM_NAMES)
def test_record_fields_read_exist_in_the_spec(name: str) -> None:
    stream = STREAMS[name]
    op = keap_spec()["paths"]["/rest" + stream.path]["get"]
    schemas = keap_spec()["components"]["schemas"]
    listing = op["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    items = schemas[listing.rsplit("/", 1)[-1]]["properties"][stream.items_key]
    properties = schemas[items["items"]["$ref"].rsplit("/", 1)[-1]]["properties"]
    assert stream.id_field in properties
    assert stream.cursor_field in properties
    sql = " ".join(
        [expr for _, expr in TABLES[name].columns]
        + [expr for _, expr in TABLES[name].lets]
        + [TABLES[name].created, TABLES[name].updated]
    )
    top_level = set(re.findall(r"r #>>? '\{(\w+)", sql)) | set(re.findall(r"\$\.(\w+)", sql))
    assert top_level <= set(properties), top_level - set(properties)
