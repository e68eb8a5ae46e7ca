"""Custom fields as typed columns: the views `keap.<object>_custom` after real syncs from the
sandbox, whose model endpoints describe the fields its records use."""

from __future__ import annotations

import json
import logging
from datetime import date
from decimal import Decimal
from typing import Any

import asyncpg
import httpx
import pytest

from shared import timefmt
from shared.store.custom_fields import Field as CustomField
from shared.store.custom_fields import apply_model, columns, snake_case
from shared.store.migrations import migrate
from shared.store.store import Store
from shared.sync import service
from tests.sync.conftest import API_KEY, SyncWorld

MODEL_OBJECTS = ["contacts", "companies", "opportunities", "orders", "tasks", "notes"]
MODEL_OBJECTS.append("subscriptions")


def expected(field_type: str, content: Any) -> Any:
    """What the view should hold for a value Keap sent as `content`."""
    if content is None:
        return None
    if field_type in {"LIST_BOX", "USER_LIST_BOX"}:
        return [str(v) for v in content]
    if field_type == "YES_NO":
        return content
    if field_type == "DATE":
        return date.fromisoformat(content[:10])
    if field_type == "DATE_TIME":
        return timefmt.parse(content)
    if field_type in {"WHOLE_NUMBER", "DECIMAL_NUMBER", "CURRENCY", "PERCENT"} | {
        "YEAR",
        "MONTH",
        "DAY_OF_WEEK",
        "USER",
    }:
        return Decimal(json.dumps(content))
    return content


async def query(dsn: str, sql: str, *args: Any) -> list[dict[str, Any]]:
    conn = await asyncpg.connect(dsn)
    try:
        return [dict(r) for r in await conn.fetch(sql, *args)]
    finally:
        await conn.close()


async def definitions(dsn: str, obj: str) -> dict[str, dict[str, Any]]:
    rows = await query(dsn, "SELECT * FROM keap.custom_fields WHERE object = $1", obj)
    return {r["id"]: r for r in rows}


async def add_field(world: SyncWorld, obj: str, label: str, field_type: str) -> dict[str, Any]:
    """A custom field added through the sandbox's Keap API, as an admin would in Keap."""
    async with httpx.AsyncClient(headers={"X-Keap-API-Key": API_KEY}) as client:
        response = await client.post(
            f"{world.keap.api_base}/v2/{obj}/model/customFields",
            json={"label": label, "field_type": field_type},
        )
    assert response.status_code == 201, response.text
    return dict(response.json())


async def test_the_view_holds_each_contacts_custom_fields_with_their_types(
    world: SyncWorld,
) -> None:
    # The first run reads every record (a full pass) and, right after, every model.
    assert (await service.run(world.env, "incremental")).status == "ok"

    fields = await definitions(world.dsn, "contacts")
    assert len(fields) == 24  # one of each of Keap's field types
    types = {
        r["column_name"]: r["data_type"]
        for r in await query(
            world.dsn,
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = 'keap' AND table_name = 'contacts_custom'",
        )
    }
    for f in fields.values():
        assert (
            types[f["column_name"]]
            == {
                "text": "text",
                "numeric": "numeric",
                "date": "date",
                "timestamptz": "timestamp with time zone",
                "boolean": "boolean",
                "text[]": "ARRAY",
            }[f["column_type"]]
        ), f
    assert types["id"] == "bigint"

    sample = await query(
        world.dsn,
        "SELECT id, raw -> 'custom_fields' AS raw FROM keap.contacts WHERE id % 60 = 1",
    )
    assert len(sample) == 50
    typed = await query(world.dsn, "SELECT * FROM keap.contacts_custom WHERE id % 60 = 1")
    by_id = {r["id"]: r for r in typed}
    checked = 0
    for row in sample:
        values = {v["id"]: v.get("content") for v in json.loads(row["raw"])}
        shown = by_id[row["id"]]
        for field_id, f in fields.items():
            want = expected(f["field_type"], values.get(field_id))
            assert shown[f["column_name"]] == want, (row["id"], f["label"], values.get(field_id))
            checked += want is not None
    assert checked > 50 * 24 * 0.7  # most fields hold a value

    for obj in MODEL_OBJECTS:  # every object with a model has its view, with values
        ids = await query(world.dsn, f"SELECT count(*) AS n FROM keap.{obj}_custom")  # noqa: S608
        rows = await query(world.dsn, f"SELECT count(*) AS n FROM keap.{obj}")  # noqa: S608
        assert ids == rows, obj
        text = await query(
            world.dsn,
            "SELECT count(*) AS n FROM (SELECT jsonb_strip_nulls(to_jsonb(c) - 'id') AS v "  # noqa: S608
            f"FROM keap.{obj}_custom c) AS x WHERE v <> '{{}}'",
        )
        assert text[0]["n"] > 0, f"{obj}: no custom field value in its view"


async def test_a_field_added_in_keap_becomes_a_column_at_the_next_model_read(
    world: SyncWorld,
) -> None:
    assert (await service.run(world.env, "incremental", ["contacts", "companies"])).status == "ok"
    added = await add_field(world, "companies", "Renewal Date", "DATE")

    # An incremental run reads a model at most once an hour: not yet.
    before = len(world.keap.sandbox.request_log)
    assert (await service.run(world.env, "incremental", ["companies"])).status == "ok"
    asked = [r["path"] for r in world.keap_requests(before)]
    assert "/crm/rest/v2/companies/model" not in asked
    assert added["id"] not in await definitions(world.dsn, "companies")

    # An hour later it does, and the view gains the column (typed, empty so far).
    await query(
        world.dsn, "UPDATE keap.custom_field_models SET read_at = now() - interval '61 min'"
    )
    assert (await service.run(world.env, "incremental", ["companies"])).status == "ok"
    fields = await definitions(world.dsn, "companies")
    assert fields[added["id"]]["column_name"] == "renewal_date"
    rows = await query(world.dsn, "SELECT renewal_date FROM keap.companies_custom")
    assert rows and all(r["renewal_date"] is None for r in rows)


async def test_a_value_of_the_wrong_shape_is_null_in_the_view_and_intact_in_raw(
    world: SyncWorld,
) -> None:
    assert (await service.run(world.env, "incremental", ["contacts"])).status == "ok"
    fields = {f["field_type"]: f for f in (await definitions(world.dsn, "contacts")).values()}
    wrong = {
        "WHOLE_NUMBER": "twelve",
        "DATE": "2025-02-30",
        "DATE_TIME": "yesterday",
        "YES_NO": {"yes": True},
        "LIST_BOX": "Gold",
        "TEXT": ["a", "list"],
    }
    world.keap.sandbox.update(
        "contacts",
        7,
        {"custom_fields": [{"id": fields[t]["id"], "content": v} for t, v in wrong.items()]},
    )

    assert (await service.run(world.env, "incremental", ["contacts"])).status == "ok"

    raw = await query(
        world.dsn, "SELECT raw -> 'custom_fields' AS cf FROM keap.contacts WHERE id = 7"
    )
    kept = {v["id"]: v["content"] for v in json.loads(raw[0]["cf"])}
    view = (await query(world.dsn, "SELECT * FROM keap.contacts_custom WHERE id = 7"))[0]
    for field_type, value in wrong.items():
        assert kept[fields[field_type]["id"]] == value
        assert view[fields[field_type]["column_name"]] is None, field_type
    # The other contacts' values are untouched by one contact's odd ones.
    assert await query(world.dsn, "SELECT count(*) AS n FROM keap.contacts_custom") == [{"n": 3000}]


async def test_a_reader_holding_the_view_is_not_broken_by_a_rebuild(world: SyncWorld) -> None:
    assert (await service.run(world.env, "incremental", ["contacts"])).status == "ok"
    reader = await asyncpg.connect(world.dsn)
    try:
        transaction = reader.transaction()
        await transaction.start()
        first = await reader.fetch("SELECT * FROM keap.contacts_custom ORDER BY id LIMIT 5")
        added = await add_field(world, "contacts", "Membership Level", "TEXT")

        # The rebuild waits for the reader, gives way, and the run itself goes on.
        result = await model_read(world, ["contacts"])
        assert result.status == "ok", result.errors
        again = await reader.fetch("SELECT * FROM keap.contacts_custom ORDER BY id LIMIT 5")
        assert again == first
        await transaction.commit()
    finally:
        await reader.close()
    assert added["id"] not in await definitions(world.dsn, "contacts")

    # With the reader gone, the next run rebuilds it.
    assert (await service.run(world.env, "incremental", ["contacts"])).status == "ok"
    assert (await definitions(world.dsn, "contacts"))[added["id"]]["column_name"] == (
        "membership_level"
    )


async def test_a_view_of_the_owners_on_top_keeps_the_columns_and_the_sync_going(
    world: SyncWorld, caplog: pytest.LogCaptureFixture
) -> None:
    assert (await service.run(world.env, "incremental", ["contacts"])).status == "ok"
    await query(
        world.dsn,
        "CREATE VIEW public.scores AS SELECT id, wholenumber_field FROM keap.contacts_custom",
    )
    added = await add_field(world, "contacts", "Membership Level", "TEXT")

    with caplog.at_level(logging.WARNING, "keap_sync"):
        result = await model_read(world, ["contacts"])

    assert result.status == "ok", result.errors
    assert "views of the database's owner depend on keap.contacts_custom" in caplog.text
    assert await query(world.dsn, "SELECT count(*) AS n FROM public.scores") == [{"n": 3000}]
    await query(world.dsn, "DROP VIEW public.scores")
    assert (await service.run(world.env, "incremental", ["contacts"])).status == "ok"
    assert added["id"] in await definitions(world.dsn, "contacts")


async def test_a_full_run_leaves_the_models_it_had_no_room_for_to_the_next_run(
    world: SyncWorld,
) -> None:
    assert (await service.run(world.env, "incremental", ["companies"])).status == "ok"
    added = await add_field(world, "companies", "Renewal Date", "DATE")

    # A full run reads pages at Keap's rate ceiling and ends with them: its one page
    # leaves no room for the model.
    before = len(world.keap.sandbox.request_log)
    assert (await service.run(world.env, "full", ["companies"])).status == "ok"
    asked = [r["path"] for r in world.keap_requests(before)]
    assert asked == ["/crm/rest/v2/companies"]
    assert added["id"] not in await definitions(world.dsn, "companies")

    # The next run reads it, though an incremental run read it less than an hour ago.
    before = len(world.keap.sandbox.request_log)
    assert (await service.run(world.env, "incremental", ["companies"])).status == "ok"
    asked = [r["path"] for r in world.keap_requests(before)]
    assert asked.count("/crm/rest/v2/companies/model") == 1
    assert (await definitions(world.dsn, "companies"))[added["id"]]["column_name"] == (
        "renewal_date"
    )


async def model_read(world: SyncWorld, objects: list[str]) -> Any:
    """An incremental run that reads the models of `objects` (an hour after the last)."""
    await query(
        world.dsn, "UPDATE keap.custom_field_models SET read_at = now() - interval '61 min'"
    )
    return await service.run(world.env, "incremental", objects)


def test_column_names_are_snake_case_and_collisions_are_resolved_by_field_id() -> None:
    fields = [
        CustomField("12", "Lead Score", "WHOLE_NUMBER"),
        CustomField("3", "lead score!", "TEXT"),
        CustomField("7", "ID", "TEXT"),
        CustomField("8", "2nd Phone", "PHONE_NUMBER"),
        CustomField("9", "Ünïcode — label", "TEXT"),
        CustomField("10", "???", "TEXT"),
        CustomField("11", "Colour", "SOMETHING_NEW"),
    ]
    named = {c.field.id: (c.name, c.type) for c in columns(fields)}
    assert named == {
        "3": ("lead_score", "text"),
        "7": ("id_7", "text"),
        "8": ("f_2nd_phone", "text"),
        "9": ("unicode_label", "text"),
        "10": ("field_10", "text"),
        "11": ("colour", "text"),
        "12": ("lead_score_12", "numeric"),
    }
    assert snake_case("Renewal Date (UTC)") == "renewal_date_utc"
    assert columns(list(reversed(fields))) == columns(fields)


async def test_each_accounts_rows_read_their_own_fields_in_a_shared_view(database: str) -> None:
    """Field ids are an account's own: `beta`'s field 1 is not `alpha`'s field 1."""
    conn = await asyncpg.connect(database)
    try:
        await migrate(conn)
        alpha, beta = Store(conn, "alpha"), Store(conn, "beta")
        fields = [{"id": "1", "content": 80}, {"id": "2", "content": "gold"}]
        for store in (alpha, beta):
            record = {"id": "5", "update_time": "2025-01-01T00:00:00.000Z", "custom_fields": fields}
            await store.upsert_records("contacts", [record])
        await apply_model(alpha, "contacts", [CustomField("1", "Lead Score", "WHOLE_NUMBER")])
        await apply_model(
            beta,
            "contacts",
            [CustomField("2", "Lead Score", "WHOLE_NUMBER"), CustomField("1", "Tier", "TEXT")],
        )
        rows = await conn.fetch(
            "SELECT account, lead_score, tier FROM keap.contacts_custom ORDER BY account"
        )
    finally:
        await conn.close()

    # One `lead_score` column for both accounts, each reading its own field; beta's field 2
    # holds text, so its lead score is NULL; alpha has no `tier`.
    assert [tuple(r) for r in rows] == [("alpha", 80, None), ("beta", None, "80")]
