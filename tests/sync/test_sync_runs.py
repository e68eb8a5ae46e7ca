"""Full and incremental runs over real HTTP into a real Postgres: what a user would see."""

from __future__ import annotations

from shared.keap.streams import STREAM_NAMES
from shared.sync import service
from tests.sync.compare import assert_db_matches_keap
from tests.sync.conftest import SyncWorld, read_all_details


async def test_full_sync_makes_the_database_equal_keap(world: SyncWorld) -> None:
    result = await service.run(world.env, "full")

    assert result.status == "ok", result.errors
    assert all(s.status == "complete" for s in result.streams.values())
    assert result.streams["contacts"].records == 3000
    await assert_db_matches_keap(world.dsn, world.keap.api_base)


async def test_incremental_picks_up_edits_and_creates_and_reconcile_the_deletes(
    world: SyncWorld,
) -> None:
    assert (await service.run(world.env, "full")).status == "ok"
    sandbox = world.keap.sandbox
    touched = {}
    for kind in STREAM_NAMES:
        touched[kind] = sandbox.make_changes(n_edits=5, n_creates=3, n_deletes=2, kind=kind)

    result = await service.run(world.env, "incremental")

    assert result.status == "ok", result.errors
    for kind, ids in touched.items():
        # Every edit and create is in; only deletes (never announced by a list) are left.
        changed = set(ids["edited"]) | set(ids["created"])
        assert result.streams[kind].written >= len(changed), kind
    reconciled = await service.run(world.env, "reconcile")
    assert reconciled.status == "ok", reconciled.errors
    for kind, ids in touched.items():
        # A product whose details were still to read is found gone by its per-id GET
        # in the incremental run already; reconciliation finds the rest.
        found = result.streams[kind].deleted + reconciled.streams[kind].deleted
        assert found == len(ids["deleted"]), kind
    await assert_db_matches_keap(world.dsn, world.keap.api_base)


async def test_an_incremental_run_with_nothing_changed_asks_keap_once_per_object(
    world: SyncWorld,
) -> None:
    assert (await service.run(world.env, "full")).status == "ok"
    # What the full run left to the runs after it: product details, custom field models.
    await read_all_details(world)
    assert (await service.run(world.env, "incremental")).status == "ok"
    before = len(world.keap.sandbox.request_log)

    result = await service.run(world.env, "incremental")

    assert result.status == "ok"
    paths = [r["path"] for r in world.keap_requests(before)]
    assert sorted(paths) == sorted(f"/crm/rest/v2/{name}" for name in STREAM_NAMES)
    assert sum(s.written for s in result.streams.values()) == 0
    # A small first page: no object downloads more than 50 records to find nothing new.
    assert {n: s.records for n, s in result.streams.items() if s.records > 50} == {}


async def test_tag_applications_keap_does_not_date_are_caught_by_reconciliation(
    world: SyncWorld,
) -> None:
    assert (await service.run(world.env, "full")).status == "ok"
    records = world.keap.sandbox.records
    untagged = [
        i for i in range(1, 200) if "7" not in (records["contacts"].get(i) or {}).get("tag_ids", [])
    ][:5]
    records.apply_tag(7, untagged)  # Keap leaves the contacts' update_time alone
    world.keap.sandbox.delete("tags", 3)  # and drops the tag from every contact

    assert (await service.run(world.env, "incremental")).streams["contacts"].written == 0
    reconciled = await service.run(world.env, "reconcile")

    assert reconciled.status == "ok"
    assert reconciled.streams["contacts"].written > len(untagged)
    assert reconciled.streams["tags"].deleted == 1
    await assert_db_matches_keap(world.dsn, world.keap.api_base)
