"""Paging never skips or repeats a record, even while records change between pages; time
and id filters return exactly what they should."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator

import httpx
import pytest

from local.keap_sandbox import RunningSandbox, serve_sandbox
from local.keap_sandbox.timefmt import iso
from tests.sandbox.conftest import authorized_client, items, list_all, small_config


@pytest.fixture
async def big() -> AsyncIterator[RunningSandbox]:
    async with serve_sandbox(small_config(contacts=5000)) as running:
        yield running


async def test_all_contacts_exactly_once_while_records_change_between_pages(
    big: RunningSandbox,
) -> None:
    sandbox = big.sandbox
    initial = set(range(1, 5001))
    changed: list[dict[str, list[int]]] = []

    def churn() -> None:
        changed.append(sandbox.make_changes(n_edits=40, n_creates=3, n_deletes=2))

    async with authorized_client(big) as api:
        listed = await list_all(
            api, "/v2/contacts", "contacts", {"page_size": 1000}, between_pages=churn
        )

    ids = [int(c["id"]) for c in listed]
    assert len(changed) >= 4  # changes happened at every page boundary
    assert len(ids) == len(set(ids)), "no contact may appear twice"
    created = {i for c in changed for i in c["created"]}
    deleted = {i for c in changed for i in c["deleted"]}
    assert initial - deleted <= set(ids), "no contact that lived throughout may be skipped"
    assert created <= set(ids), "contacts created during the listing come at the end"
    assert set(ids) <= initial | created
    assert ids == sorted(ids), "default order is ascending id"


async def test_ordered_by_update_time_nothing_is_skipped_and_edits_come_again_at_the_end(
    big: RunningSandbox,
) -> None:
    sandbox = big.sandbox
    edited: list[int] = []

    def churn() -> None:
        edited.extend(sandbox.make_changes(n_edits=25)["edited"])

    async with authorized_client(big) as api:
        listed = await list_all(
            api,
            "/v2/contacts",
            "contacts",
            {"page_size": 1000, "order_by": "update_time asc"},
            between_pages=churn,
        )
    counts = Counter(int(c["id"]) for c in listed)
    assert set(counts) == set(range(1, 5001))
    assert {i for i, n in counts.items() if n > 1} <= set(edited), (
        "only a record edited meanwhile repeats"
    )
    times = [c["update_time"] for c in listed]
    assert times == sorted(times)


@pytest.mark.parametrize(
    ("kind", "since"),
    [
        ("contacts", "start_update_time"),
        ("companies", "since_time"),
        ("tasks", "since_time"),
        ("notes", "since_time"),
        ("tags", "since_update_time"),
        ("orders", "modified_since_time"),
    ],
)
async def test_update_time_filter_returns_exactly_the_changed_records(
    kind: str, since: str, keap: RunningSandbox, api: httpx.AsyncClient
) -> None:
    sandbox = keap.sandbox
    before = iso(sandbox.records.now())
    made = sandbox.make_changes(n_edits=7, n_creates=3, n_deletes=2, kind=kind)
    expected = (set(made["edited"]) | set(made["created"])) - set(made["deleted"])
    listed = await list_all(
        api, f"/v2/{kind}", kind, {"filter": f"{since}=={before}", "page_size": 4}
    )
    assert {int(r["id"]) for r in listed} == expected


async def test_time_ranges_over_generated_records(
    keap: RunningSandbox, api: httpx.AsyncClient
) -> None:
    """Base update times grow with id, so [start, end] picks a contiguous id range."""
    tl = keap.sandbox.records["contacts"].timeline
    start, end = iso(tl.update_ms(40)), iso(tl.update_ms(90))
    listed = await list_all(
        api,
        "/v2/contacts",
        "contacts",
        {"filter": f"start_update_time=={start};end_update_time=={end};"},
    )
    assert [int(c["id"]) for c in listed] == list(range(40, 91))


async def test_ids_filter_and_id_comparisons(keap: RunningSandbox, api: httpx.AsyncClient) -> None:
    keap.sandbox.delete("contacts", 7)
    by_ids = items(await api.get("/v2/contacts", params={"filter": "ids==11,3,7,250"}), "contacts")
    assert [c["id"] for c in by_ids] == ["3", "11", "250"]
    above = await list_all(api, "/v2/contacts", "contacts", {"filter": "contact_id>290"})
    assert [c["id"] for c in above] == [str(i) for i in range(291, 301)]
    notes = items(await api.get("/v2/notes", params={"filter": "id>=38"}), "notes")
    assert [n["id"] for n in notes] == ["38", "39", "40"]
    both = await api.get("/v2/notes", params={"filter": "id>3;ids==4,5"})
    assert both.status_code == 400


async def test_descending_order_and_page_size_limits(
    keap: RunningSandbox, api: httpx.AsyncClient
) -> None:
    listed = await list_all(
        api, "/v2/contacts", "contacts", {"order_by": "update_time desc", "page_size": 70}
    )
    assert [int(c["id"]) for c in listed] == list(range(300, 0, -1))
    assert (await api.get("/v2/contacts", params={"page_size": 1001})).status_code == 400
    assert (await api.get("/v2/contacts", params={"page_size": -1})).status_code == 400
    assert len(items(await api.get("/v2/contacts", params={"page_size": 1000}), "contacts")) == 300
    last = await api.get("/v2/contacts", params={"page_size": 300})
    assert "next_page_token" not in last.json(), "the last page ends the list"


async def test_a_page_token_belongs_to_its_query(api: httpx.AsyncClient) -> None:
    first = await api.get("/v2/contacts", params={"page_size": 10, "order_by": "update_time asc"})
    token = first.json()["next_page_token"]
    other = await api.get("/v2/contacts", params={"page_size": 10, "page_token": token})
    assert other.status_code == 400
    same = await api.get(
        "/v2/contacts", params={"page_size": 50, "order_by": "update_time asc", "page_token": token}
    )
    assert same.status_code == 200, "page_size may change between pages"
    assert (await api.get("/v2/contacts", params={"page_token": "garbage!"})).status_code == 400
