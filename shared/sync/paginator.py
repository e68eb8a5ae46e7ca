"""Reading a Keap list endpoint one page at a time.

A `Page` keeps the body as Keap sent it, its bytes (they go to Postgres as they came,
never decoded to text in Python): Postgres parses it inside the upsert, which
also reports the page's facts (ids, update-time range). Parsing it in Python as well
would cost more CPU than anything else the sync does, so by default only the next
page token is picked out of the text. Where the facts are needed before the page is
written (descending streams decide from them whether to read on) or without a write
at all (reconciliation, id batches), the page is parsed (`parse=True`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from shared import timefmt
from shared.keap.client import KeapClient
from shared.keap.streams import StreamSpec
from shared.store.store import PageFacts

_TOKEN_KEY = '"next_page_token"'  # noqa: S105 - a JSON key, not a secret
_TOKEN_KEY_BYTES = _TOKEN_KEY.encode()
_decoder = json.JSONDecoder()


@dataclass
class Page:
    # JSON: the response body as received, or a rebuilt list (then items_key is None)
    payload: str | bytes
    items_key: str | None
    next_token: str | None
    parsed: bool = True
    ids: list[int] = field(default_factory=list)  # known once parsed (or written)
    count: int = 0
    max_id: int | None = None
    newest: datetime | None = None  # greatest update time on the page
    oldest: datetime | None = None  # least update time on the page
    number: int = 0
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def size(self) -> int:
        return len(self.payload)

    def learn(self, facts: PageFacts) -> None:
        """Facts of an unparsed page, as the upsert found them."""
        self.count, self.max_id = facts.received, facts.max_id
        self.newest, self.oldest = facts.newest, facts.oldest


def scan_token(text: str | bytes) -> str | None:
    """`next_page_token` without parsing the body.

    Inside JSON strings every quote is escaped, so `"next_page_token"` with bare quotes
    can only be a key; Keap's list records have no such field, so it is the page's.
    """
    if isinstance(text, bytes):
        at = text.rfind(_TOKEN_KEY_BYTES)
        # Only the token's own bit is decoded, not the page.
        return None if at < 0 else scan_token(text[at:].decode("utf-8", "replace"))
    at = text.rfind(_TOKEN_KEY)
    if at < 0:
        return None
    i = at + len(_TOKEN_KEY)
    while text[i] in " \t\r\n":
        i += 1
    if text[i] != ":":
        return None
    i += 1
    while text[i] in " \t\r\n":
        i += 1
    value, _ = _decoder.raw_decode(text, i)
    return value if isinstance(value, str) and value else None


def read_page(spec: StreamSpec, text: str | bytes, number: int = 0, *, parse: bool = True) -> Page:
    """One list response body as a Page (parsed, or with its next token only)."""
    if not parse:
        return Page(text, spec.items_key, scan_token(text), parsed=False, number=number)
    body = json.loads(text)
    records = body.get(spec.items_key) or []
    ids: list[int] = []
    times: list[datetime] = []
    for record in records:
        ids.append(int(record[spec.id_field]))
        t = timefmt.parse(record.get(spec.cursor_field))
        if t is not None:
            times.append(t)
    payload: str | bytes = text
    key = spec.items_key
    if len(set(ids)) != len(ids):
        # One statement cannot write a row twice: keep the last copy of each id.
        latest = {int(r[spec.id_field]): r for r in records}
        payload, key, ids = json.dumps(list(latest.values())), None, list(latest)
    return Page(
        payload=payload,
        items_key=key,
        next_token=body.get("next_page_token") or None,
        ids=ids,
        count=len(ids),
        max_id=max(ids, default=None),
        newest=max(times, default=None),
        oldest=min(times, default=None),
        number=number,
    )


class Paginator:
    """Follows `next_page_token` from a first request's parameters."""

    def __init__(
        self,
        client: KeapClient,
        spec: StreamSpec,
        params: dict[str, Any],
        page_token: str | None = None,
        *,
        parse: bool = True,
    ) -> None:
        self.client = client
        self.spec = spec
        self.params = dict(params)
        self.token = page_token
        self.parse = parse
        self.pages = 0
        self.exhausted = False

    async def next_page(self) -> Page | None:
        """The next page, or None once the list has ended."""
        if self.exhausted:
            return None
        params = dict(self.params)
        if self.token:
            params["page_token"] = self.token
        response = await self.client.get(self.spec.path, params)
        self.pages += 1
        page = read_page(self.spec, response.content, self.pages, parse=self.parse)
        page.params = params
        self.token = page.next_token
        # An empty page ends the list even if Keap handed out a token with it.
        if not page.next_token or (page.parsed and page.count == 0):
            self.exhausted = True
        return page

    def set_page_size(self, size: int) -> None:
        self.params["page_size"] = size
