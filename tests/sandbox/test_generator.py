"""Generated data: deterministic per seed, varied like a real account, cheap at any size."""

from __future__ import annotations

import time
import unicodedata
from datetime import UTC, datetime
from typing import Any

import httpx

from local.keap_sandbox import RunningSandbox, Sandbox, SandboxConfig, serve_sandbox
from local.keap_sandbox.generator import KINDS
from tests.sandbox.conftest import small_config

BASE_TIME = datetime(2026, 1, 15, tzinfo=UTC)
KEY = {"X-Keap-API-Key": "sandbox-api-key"}


def _records(sandbox: Sandbox, kind: str, ids: range) -> list[dict[str, Any] | None]:
    return [sandbox.get(kind, i) for i in ids]


def test_the_same_seed_gives_the_same_records_and_another_seed_does_not() -> None:
    one = Sandbox(small_config(seed=7, base_time=BASE_TIME))
    two = Sandbox(small_config(seed=7, base_time=BASE_TIME))
    other = Sandbox(small_config(seed=8, base_time=BASE_TIME))
    for kind in KINDS:
        ids = range(1, 11)
        assert _records(one, kind, ids) == _records(two, kind, ids), kind
        assert _records(one, kind, ids) != _records(other, kind, ids), kind
    assert one.make_changes(n_edits=5, n_creates=2, n_deletes=1) == two.make_changes(
        n_edits=5, n_creates=2, n_deletes=1
    )


async def test_the_last_of_a_million_contacts_comes_without_building_the_others() -> None:
    started = time.perf_counter()
    config = SandboxConfig(contacts=1_000_000, limits_enabled=False)
    async with (
        serve_sandbox(config) as keap,
        httpx.AsyncClient(base_url=keap.api_base, headers=KEY) as client,
    ):
        one = await client.get(
            "/v2/contacts/999999", params={"fields": "id,given_name,custom_fields"}
        )
        assert one.status_code == 200 and one.json()["id"] == "999999"
        tail = await client.get(
            "/v2/contacts", params={"filter": "contact_id>=999990", "page_size": 100}
        )
        assert [c["id"] for c in tail.json()["contacts"]] == [
            str(i) for i in range(999_990, 1_000_001)
        ]
        newest = await client.get(
            "/v2/contacts", params={"order_by": "update_time desc", "page_size": 3}
        )
        assert [c["id"] for c in newest.json()["contacts"]] == ["1000000", "999999", "999998"]
        contacts = keap.sandbox.records["contacts"]
        assert contacts.overlay == {} and contacts.live_count() == 1_000_000
        built = keap.sandbox.records.gen.base.cache_info().currsize
        assert built < 50, "only the records asked for were built"
    assert time.perf_counter() - started < 5


def test_generated_times_grow_with_id() -> None:
    sandbox = Sandbox(small_config(base_time=BASE_TIME))
    contacts = [sandbox.get("contacts", i) for i in range(1, 301)]
    updates = [c["update_time"] for c in contacts if c]
    assert updates == sorted(updates) and len(set(updates)) == 300
    assert all(c["create_time"] < c["update_time"] for c in contacts if c)
    assert updates[-1] < "2026-01-15" and updates[0] >= "2025-01-15"


def _scripts(text: str) -> set[str]:
    names = set()
    for ch in text:
        if ch.isalpha():
            names.add(unicodedata.name(ch, "?").split()[0])
    return names


def test_data_is_as_varied_as_a_real_account() -> None:
    sandbox = Sandbox(SandboxConfig(contacts=3000, notes=300, base_time=BASE_TIME))
    contacts = [sandbox.get("contacts", i) or {} for i in range(1, 3001)]

    scripts = set().union(*(_scripts(c["given_name"]) for c in contacts))
    assert {
        "LATIN",
        "CYRILLIC",
        "GREEK",
        "ARABIC",
        "HEBREW",
        "CJK",
        "HANGUL",
        "DEVANAGARI",
    } <= scripts

    assert any("family_name" not in c for c in contacts), "some names are missing"
    assert any(c.get("family_name") == "" for c in contacts), "some are empty"
    assert {len(c["email_addresses"]) for c in contacts} == {0, 1, 2, 3}
    assert {len(c["phone_numbers"]) for c in contacts} == {0, 1, 2, 3}
    assert any(c.get("company") for c in contacts) and any("company" not in c for c in contacts)
    assert any(len(c["tag_ids"]) >= 3 for c in contacts)

    contents = [f["content"] for c in contacts for f in c["custom_fields"]]
    kinds = {type(v).__name__ for v in contents}
    assert {"str", "int", "float", "bool", "list", "NoneType"} <= kinds
    assert "" in contents

    notes = [sandbox.get("notes", i) or {} for i in range(1, 301)]
    assert max(len(n["text"]) for n in notes) > 5000, "some notes are long"


async def test_the_contact_model_describes_one_custom_field_of_each_type(
    keap: RunningSandbox,
) -> None:
    async with httpx.AsyncClient(headers=KEY) as client:
        model = (await client.get(f"{keap.api_base}/v2/contacts/model")).json()
    types = [f["field_type"] for f in model["custom_fields"]]
    assert len(types) == len(set(types)) == 24
    assert "custom_fields" in model["optional_properties"]
