"""Companies sync against a Keap that refuses `fields` names its spec does not document
for the endpoint (the sandbox), and still arrive with every property Keap offers."""

from __future__ import annotations

import asyncpg

from shared.keap.client import KeapClient
from shared.keap.credentials import KeapAccess, StaticCredentials
from shared.store.store import Store
from shared.sync import service
from shared.sync.apply import apply_ids
from tests.sandbox.conftest import keap_spec
from tests.sync.compare import assert_db_matches_keap, db_records
from tests.sync.conftest import API_KEY, SMALL, SyncWorld


def _company_properties() -> set[str]:
    return set(keap_spec()["components"]["schemas"]["Company"]["properties"])


async def test_a_companies_sync_fills_the_table_with_the_fields_keap_lets_us_ask_for(
    world: SyncWorld,
) -> None:
    result = await service.run(world.env, "full", ["companies"])

    assert result.status == "ok", result.errors
    rows = await db_records(world.dsn, "companies")
    assert len(rows) == SMALL["companies"] == world.keap.sandbox.records["companies"].live_count()
    await assert_db_matches_keap(world.dsn, world.keap.api_base, ["companies"])
    # The optional properties arrive (asked for by name), the default ones with them.
    assert all({"update_time", "create_time", "custom_fields"} <= set(r) for r in rows.values())
    seen = set().union(*(set(r) for r in rows.values()))
    assert seen <= _company_properties()
    assert {"notes", "fax_number", "address", "email_address", "phone_number", "website"} <= seen
    conn = await asyncpg.connect(world.dsn)
    try:
        typed = await conn.fetchrow(
            "SELECT count(*) FILTER (WHERE keap_updated_at IS NULL) AS no_time,"
            " count(*) FILTER (WHERE email IS NOT NULL) AS emails,"
            " count(*) FILTER (WHERE phone IS NOT NULL) AS phones FROM keap.companies"
        )
    finally:
        await conn.close()
    assert typed["no_time"] == 0
    assert typed["emails"] == sum(1 for r in rows.values() if r.get("email_address"))
    assert typed["phones"] == sum(1 for r in rows.values() if r.get("phone_number"))


async def test_a_company_fetched_by_id_keeps_every_property(world: SyncWorld) -> None:
    assert (await service.run(world.env, "full", ["companies"])).status == "ok"
    before = (await db_records(world.dsn, "companies"))[5]
    edited = world.keap.sandbox.update("companies", 5, {"notes": "Renewal due"})

    access = StaticCredentials(KeapAccess(kind="api_key", token=API_KEY))
    async with (
        KeapClient(world.env.settings, access) as keap,
        Store.open(world.env.database, account="default") as store,  # type: ignore[arg-type]
    ):
        applied = await apply_ids("companies", [5], keap=keap, store=store)

    assert (applied.found, applied.written, applied.keap_requests) == (1, 1, 1)
    after = (await db_records(world.dsn, "companies"))[5]
    assert after["notes"] == "Renewal due"
    assert after["update_time"] == edited["update_time"] > before["update_time"]
    assert set(after) == set(before) | {"notes"}, "the per-id GET lost properties"
