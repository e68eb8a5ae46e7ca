"""The paginator over a real sandbox: every record once, in order, then the end."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest

from local.keap_sandbox import RunningSandbox, SandboxConfig, serve_sandbox
from shared.config import Settings
from shared.keap.client import KeapClient
from shared.keap.credentials import KeapAccess, StaticCredentials
from shared.keap.streams import STREAMS
from shared.sync.paginator import Paginator, read_page, scan_token
from tests.sync.conftest import API_KEY


@pytest.fixture
async def keap() -> AsyncIterator[tuple[KeapClient, RunningSandbox]]:
    async with serve_sandbox(SandboxConfig(contacts=1050, opportunities=230)) as sandbox:
        credentials = StaticCredentials(KeapAccess(kind="api_key", token=API_KEY))
        async with KeapClient(Settings(KEAP_API_BASE=sandbox.api_base), credentials) as client:
            yield client, sandbox


async def test_pages_follow_the_token_to_the_end(keap: tuple[KeapClient, RunningSandbox]) -> None:
    client, _ = keap
    spec = STREAMS["contacts"]
    pager = Paginator(client, spec, {"page_size": 100, "order_by": "update_time asc"})
    ids: list[int] = []
    newest = None
    while (page := await pager.next_page()) is not None:
        ids += page.ids
        assert newest is None or page.oldest >= newest  # ascending update times
        newest = page.newest

    assert ids == list(range(1, 1051))
    assert pager.pages == 11 and pager.exhausted
    assert client.requests == 11


async def test_descending_pages(keap: tuple[KeapClient, RunningSandbox]) -> None:
    client, _ = keap
    spec = STREAMS["opportunities"]
    pager = Paginator(client, spec, {"page_size": 100, "order_by": "update_time desc"})
    pages = [p async for p in _all(pager)]

    assert [p.count for p in pages] == [100, 100, 30]
    assert [i for p in pages for i in p.ids] == list(range(230, 0, -1))
    assert pages[0].newest > pages[-1].oldest


async def test_a_filter_with_no_match_is_one_empty_page(
    keap: tuple[KeapClient, RunningSandbox],
) -> None:
    client, _ = keap
    params = {"filter": "start_update_time==2999-01-01T00:00:00.000Z"}
    pager = Paginator(client, STREAMS["contacts"], params)

    page = await pager.next_page()

    assert page is not None and page.count == 0 and page.newest is None
    assert await pager.next_page() is None


def test_a_page_keeps_the_body_as_sent_and_drops_duplicate_ids() -> None:
    spec = STREAMS["tags"]
    body = json.dumps(
        {
            "tags": [
                {"id": "1", "update_time": "2025-01-01T00:00:00.000Z", "name": "old"},
                {"id": "2", "update_time": "2025-01-02T00:00:00.000Z"},
                {"id": "1", "update_time": "2025-01-03T00:00:00.000Z", "name": "new"},
            ],
            "next_page_token": "abc",
        }
    )

    page = read_page(spec, body)

    assert page.next_token == "abc"
    assert page.ids == [1, 2]
    assert page.items_key is None
    assert [r.get("name") for r in json.loads(page.payload)] == ["new", None]
    clean = read_page(spec, json.dumps({"tags": [{"id": "3"}]}))
    assert (clean.payload, clean.items_key, clean.next_token) == (
        json.dumps({"tags": [{"id": "3"}]}),
        "tags",
        None,
    )


async def _all(pager: Paginator):  # type: ignore[no-untyped-def]
    while (page := await pager.next_page()) is not None:
        yield page


def test_the_next_token_is_found_without_parsing_the_page() -> None:
    records = [{"id": "1", "notes": 'a \\"next_page_token\\": "fake" b'}]
    last = json.dumps({"contacts": records, "next_page_token": "tok=="})
    first = json.dumps({"next_page_token": "first", "contacts": records})

    assert scan_token(last) == "tok=="
    assert scan_token(first) == "first"
    assert scan_token(json.dumps({"contacts": records})) is None
    assert scan_token(json.dumps({"contacts": [], "next_page_token": None})) is None
    assert scan_token(json.dumps({"contacts": [], "next_page_token": ""})) is None
    page = read_page(STREAMS["contacts"], last, parse=False)
    assert (page.parsed, page.next_token, page.payload) == (False, "tok==", last)
