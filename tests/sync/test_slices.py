"""A full pass of a large object read in id slices at once: nothing lost, nothing
doubled, whatever update times records share, however the runs are cut short, while
Keap keeps changing; the database is compared with Keap record by record."""

from __future__ import annotations

import asyncio
import itertools
import re
from typing import Any
from urllib.parse import parse_qs

import asyncpg
import httpx

from local.keap_sandbox.kinds import KINDS
from local.keap_sandbox.timefmt import iso
from shared.keap.streams import STREAM_NAMES
from shared.rpc.client import coordinator_client
from shared.rpc.methods import GET_STREAM_STATES
from shared.sync import service
from shared.sync.budget import Budget
from shared.sync.slices import MAX_SLICES, PAGES_PER_SLICE, Slice, plan
from tests.sync.compare import assert_db_matches_keap
from tests.sync.conftest import SyncWorld, cancel_full_run_mid_way
from tests.timing import wait_for

PAGE = 50  # 3,000 contacts in 50-record pages: eight slices


def test_slices_cover_every_id_once_and_only_large_objects_are_sliced() -> None:
    slices = plan(100_000, 1000)
    assert len(slices) == MAX_SLICES
    assert slices[0].after == 0 and slices[-1].upto == 100_000
    for before, after in itertools.pairwise(slices):
        assert before.upto == after.after  # (after, upto] ranges meet without a gap
    # Two slices would be too small: the span is read as one range.
    small = 1000 * PAGES_PER_SLICE * 2 - 1
    assert plan(small, 1000) == [Slice(after=0, upto=small)]
    assert plan(None, 1000) == [] and plan(0, 1000) == []


def test_slices_split_the_ids_between_two_pages_in_whole_pages() -> None:
    slices = plan(19_000, 1000, after=1000)
    assert slices[0].after == 1000 and slices[-1].upto == 19_000
    for before, after in itertools.pairwise(slices):
        assert before.upto == after.after
        assert before.upto is not None and (before.upto - before.after) % 1000 == 0
    assert plan(1000, 1000, after=1000) == []
    assert plan(4999, 1000, after=1000) == [Slice(after=1000, upto=4999)]


async def test_a_full_pass_of_an_object_on_one_page_is_one_request(world: SyncWorld) -> None:
    mark = len(world.keap_requests())
    result = await service.run(world.env, "full", ["companies"])  # 120, on a page of 1,000
    assert result.status == "ok", result.errors
    asked = [r for r in world.keap_requests(mark) if r["path"].endswith("/v2/companies")]
    assert len(asked) == 1  # its first page in id order held it all: no probe for its last id

    # A larger object: its first page, the page of its greatest ids beyond that, then
    # the slices between them; every request is a page of records.
    mark = len(world.keap_requests())
    result = await service.run(world.env, "full", ["contacts"], page_size=PAGE)
    assert result.status == "ok", result.errors
    asked = [r for r in world.keap_requests(mark) if r["path"].endswith("/v2/contacts")]
    assert len(asked) == result.streams["contacts"].pages == 3000 // PAGE
    first, top = (parse_qs(r["query"]) for r in asked[:2])
    assert first["filter"] == ["contact_id>0"] and first["order_by"] == ["id asc"]
    assert top["filter"] == [f"contact_id>{PAGE}"] and top["order_by"] == ["id desc"]
    ranges = [f for f in _slice_filters(world, mark) if ";" in f]
    assert len(ranges) == len(asked) - 2
    await assert_db_matches_keap(world.dsn, world.keap.api_base, ["companies", "contacts"])


def test_a_slice_resumes_after_the_last_id_it_wrote() -> None:
    piece = Slice(after=400, upto=800)
    assert piece.position == 400
    piece.advance(450, last=False)
    assert (piece.position, piece.done) == (450, False)
    assert Slice.from_json(piece.to_json()) == piece
    piece.advance(None, last=True)  # an empty last page
    assert piece.done and piece.position == 450


def _bulk_import(world: SyncWorld, kind: str, ids: list[int]) -> str:
    """Give `ids` one update time, as a bulk import does; returns it."""
    records = world.keap.sandbox.records[kind]
    at = max(records.times(i)[1] for i in ids) + 1
    for record_id in ids:
        record = dict(records.get(record_id) or {})
        record[KINDS[kind].update_field] = iso(at)
        records.put(record_id, record, records.times(record_id)[0], at)
    return iso(at)


def _slice_filters(world: SyncWorld, since: int = 0) -> list[str]:
    """The filters of the contacts' slice requests Keap was sent."""
    pattern = re.compile(r"^contact_id>\d+(;contact_id<=\d+)?$")
    filters = []
    for entry in world.keap_requests(since):
        if entry["path"].endswith("/v2/contacts"):
            found = parse_qs(entry["query"]).get("filter") or [""]
            filters += [f for f in found if pattern.match(f)]
    return filters


async def _states(world: SyncWorld) -> dict[str, Any]:
    return await coordinator_client(world.env).call(GET_STREAM_STATES)


async def test_a_sliced_full_sync_cut_short_again_and_again_ends_equal_to_keap(
    world: SyncWorld,
) -> None:
    sandbox = world.keap.sandbox
    # A bulk import: a third of the contacts, across every slice, on one update time.
    _bulk_import(world, "contacts", list(range(1, 3001, 3)))
    first = await service.run(world.env, "full", budget=Budget(max_pages=30), page_size=PAGE)
    assert first.status == "partial"
    slices = (await _states(world))["contacts"]["pass"]["slices"]
    assert len(slices) >= 2 and slices[-1]["upto"] is None
    runs = 1
    while not all(
        s.get("cursor") and "pass" not in s
        for n, s in (await _states(world)).items()
        if n in STREAM_NAMES
    ):
        # Keap keeps changing while the pass runs: edits and creates land in slices
        # already read, being read and not read yet.
        for kind in ("contacts", "subscriptions"):
            sandbox.make_changes(n_edits=4, n_creates=2, kind=kind)
        result = await service.run(
            world.env, "incremental", budget=Budget(max_pages=30), page_size=PAGE
        )
        assert result.status in ("partial", "ok"), result.errors
        runs += 1
        assert runs < 30
    assert runs > 3
    # The slices' ranges are what was asked of Keap, each from its own position.
    assert len(set(_slice_filters(world))) > len(slices)
    # What changed behind the pass is newer than its cursor: the next run reads it.
    assert (await service.run(world.env, "incremental", page_size=PAGE)).status == "ok"
    await assert_db_matches_keap(world.dsn, world.keap.api_base)


async def test_a_slice_whose_next_page_arrives_before_its_page_is_written_reads_it_too(
    world: SyncWorld,
) -> None:
    # A database slower than Keap: every page statement on contacts takes 200 ms more, so
    # a slice's next page (read ahead while one is written) is in before the write ends.
    # The contacts in pages of 1,000: the first page, then one slice of the rest.
    assert (await service.run(world.env, "full", ["tags"])).status == "ok"  # the schema
    conn = await asyncpg.connect(world.dsn)
    try:
        await conn.execute(
            "CREATE FUNCTION keap.slow_write() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN PERFORM pg_sleep(0.2); RETURN NULL; END $$; "
            "CREATE TRIGGER slow_write BEFORE INSERT ON keap.contacts "
            "FOR EACH STATEMENT EXECUTE FUNCTION keap.slow_write()"
        )
        result = await service.run(world.env, "full", ["contacts"])
    finally:
        await conn.execute("DROP FUNCTION keap.slow_write() CASCADE")
        await conn.close()

    assert result.status == "ok", result.errors
    await assert_db_matches_keap(world.dsn, world.keap.api_base, ["contacts"])


async def test_a_sliced_pass_killed_mid_way_resumes_every_slice_where_it_stood(
    world: SyncWorld,
) -> None:
    await cancel_full_run_mid_way(world, ["contacts"], PAGE)
    stood = (await _states(world))["contacts"]["pass"]["slices"]
    assert any(s.get("last_id") for s in stood)
    mark = len(world.keap_requests())

    result = await service.run(world.env, "incremental", ["contacts"], page_size=PAGE)

    assert result.status == "ok", result.errors
    # Each unfinished slice was asked for from the last id it wrote, not from its start.
    resumed = {f.split(";")[0] for f in _slice_filters(world, mark)}
    for piece in stood:
        if not piece.get("done"):
            start = piece.get("last_id") or piece["after"]
            assert f"contact_id>{start}" in resumed, piece
    assert result.streams["contacts"].records < 3000
    await assert_db_matches_keap(world.dsn, world.keap.api_base, ["contacts"])


async def test_the_status_shows_a_running_full_sync_slices_done_and_records_so_far(
    world: SyncWorld,
) -> None:
    world.keap.sandbox.update_config(latency_ms=40)
    seen: dict[str, Any] = {}
    async with httpx.AsyncClient(base_url=world.sync_url, headers=world.admin, timeout=60) as http:
        await http.get("/sync/status")  # cached from before the run, as it usually is
        task = asyncio.create_task(service.run(world.env, "full", ["contacts"], page_size=PAGE))

        async def shown() -> bool:
            body = (await http.get("/sync/status")).json()["status"]
            seen.update(body["objects"]["contacts"]["progress"] or {})
            return seen.get("slices", 0) > 1 and seen.get("records", 0) >= 500

        await wait_for(shown, 60, "a running full sync's progress in /sync/status")
        page = (await http.get("/sync/status", headers={"Accept": "text/html"})).text
        assert (await task).status == "ok"
        after = (await http.get("/sync/status")).json()["status"]["objects"]["contacts"]

    assert seen["slices_done"] < seen["slices"] and seen["records"] < 3000
    assert re.search(r"\d+ of \d+ slices done, [\d,]+ records so far", page)
    assert after["progress"] is None and after["rows"] == 3000


async def test_a_sliced_full_sync_through_5xx_and_a_spike_limit_of_5_ends_equal_to_keap(
    world: SyncWorld,
) -> None:
    world.keap.sandbox.update_config(error_rate=0.05, key_spike_per_second=5)

    result = await service.run(world.env, "full", page_size=PAGE * 4)

    assert result.status == "ok", result.errors
    stats = world.keap.sandbox.stats()
    assert sum(v for k, v in stats["faults"].items() if k.startswith("error_")) > 0
    assert len(_slice_filters(world)) > 1
    world.keap.sandbox.update_config(error_rate=0, key_spike_per_second=10)
    await assert_db_matches_keap(world.dsn, world.keap.api_base)
