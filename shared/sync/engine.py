"""The stream runner: pages from Keap into Postgres, one checkpoint per page.

While a page is written, the next one is already being fetched: the stream's next
page, or after a stream's last page the first page of the next stream. One page
ahead, no more, so memory stays at two pages. A page's checkpoint is stored only
after its upsert committed, so a run stopped at any point (by its budget, a failure
or a kill) leaves a state from which the next run re-reads at most the pages in
flight; the upsert is idempotent, so that costs nothing but the requests.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

from shared.keap.client import KeapClient
from shared.keap.errors import KeapRequestError
from shared.keap.streams import StreamSpec, get_stream
from shared.store.store import PageFacts, Store
from shared.sync.details import Gaps, read_details
from shared.sync.paginator import Page, Paginator
from shared.sync.run import Run, stream_errors
from shared.sync.state import DEFAULT_OVERLAP_S, StreamState
from shared.sync.write import write_page

log = logging.getLogger("keap_sync.engine")

PageFuture = asyncio.Future[Page | None]


async def sync_streams(
    run: Run,
    keap: KeapClient,
    store: Store,
    names: list[str],
    *,
    reset: bool = False,
    overlap_s: float = DEFAULT_OVERLAP_S,
    page_size: int | None = None,
) -> None:
    """Sync each stream in turn, from its stored state (or from the start with `reset`).

    `page_size` overrides Keap's maximum (tools and tests use it to see many pages)."""
    if reset:
        for name in names:
            await run.reset(name)
    states = await run.stream_states()
    syncers = [
        StreamSync(run, keap, store, _spec(name, page_size), states.get(name), overlap_s)
        for name in _oldest_first(names, states)
    ]
    await StreamsInTurn(run, keap, store, syncers).sync()


def _oldest_first(names: list[str], states: dict[str, dict[str, Any]]) -> list[str]:
    """Streams whose pass ended longest ago (or never) first, so a small budget that
    cannot cover every stream in one run still reaches each of them in turn."""
    return sorted(names, key=lambda n: (states.get(n) or {}).get("completed_at") or "")


def _spec(name: str, page_size: int | None) -> StreamSpec:
    spec = get_stream(name)
    return spec if page_size is None else replace(spec, page_size=page_size)


async def _cancel(task: asyncio.Future[Any] | None) -> None:
    if task is None or task.done():
        return
    task.cancel()
    with contextlib.suppress(BaseException):
        await task


class StreamsInTurn:
    """Streams synced one after another, while the budget lasts.

    The next stream's first page is fetched while the current stream's last page is
    written. Per-record reads (see `details`) go on beside the next streams' pages, in
    the room those leave, and are awaited once every page is read."""

    def __init__(self, run: Run, keap: KeapClient, store: Store, syncers: list[StreamSync]) -> None:
        self.run = run
        self.keap = keap
        self.store = store
        self.syncers = syncers
        self.gaps = Gaps(lambda: keap.pacer.interval_s)
        self.next_first: PageFuture | None = None  # the next stream's first page, if started
        self.details: list[asyncio.Future[None]] = []
        for syncer in syncers:
            syncer.on_fetch = self.gaps.page_requested

    async def sync(self) -> None:
        """Each stream's pages in turn, then the per-record reads still going."""
        try:
            await self._all_pages()
            self.gaps.pages_done()
            for reading in self.details:
                await reading
        finally:
            self.gaps.pages_done()
            for pending in [self.next_first, *self.details]:
                await _cancel(pending)

    async def _all_pages(self) -> None:
        for index, syncer in enumerate(self.syncers):
            first, self.next_first = self.next_first, None
            if first is None and self.run.must_stop():
                return
            await self._sync_stream(syncer, first, self.syncers[index + 1 :])

    async def _sync_stream(
        self, syncer: StreamSync, first: PageFuture | None, after: Sequence[StreamSync]
    ) -> None:
        """One stream's pages; then its per-record reads start."""
        name = syncer.spec.name
        async with stream_errors(self.run, name, name, lambda: syncer.stored):
            await syncer.sync(first, after_last=lambda: self._start_first(after))
            if syncer.spec.detail_fields:
                self.details.append(asyncio.ensure_future(self._read_details(syncer)))

    def _start_first(self, after: Sequence[StreamSync]) -> None:
        """Start fetching the next stream's first page, if there is one and it fits."""
        if after and self.run.budget.stop_reason() is None:
            self.next_first = asyncio.ensure_future(after[0].first_page())

    async def _read_details(self, syncer: StreamSync) -> None:
        name = syncer.spec.name
        async with stream_errors(self.run, name, name, lambda: syncer.stored):
            await read_details(self.run, self.keap, self.store, syncer.spec, self.gaps)


class StreamSync:
    """One stream's pass: its pages read from Keap and written to Postgres in turn."""

    def __init__(
        self,
        run: Run,
        keap: KeapClient,
        store: Store,
        spec: StreamSpec,
        stored: dict[str, Any] | None,
        overlap_s: float = DEFAULT_OVERLAP_S,
    ) -> None:
        self.run = run
        self.budget = run.budget
        self.keap = keap
        self.store = store
        self.spec = spec
        self.stored = stored or {}
        self.state = StreamState.from_json(spec, stored, overlap_s)
        self.result = run.result.streams[spec.name]
        self.pager: Paginator | None = None
        self.ahead: PageFuture | None = None  # the next page, fetched while one is written
        # Told as each page request goes out (see `details.Gaps`).
        self.on_fetch: Callable[[], None] = lambda: None

    async def first_page(self) -> Page | None:
        """Begin (or resume) the stream's pass and read its first page."""
        self.state.begin()
        params, token = self.state.request()
        self.pager = self._pager(params, token)
        try:
            return await self._next_page()
        except KeapRequestError as exc:
            if token is None or exc.status != 400:
                raise
        # Keap no longer accepts the stored position: read this pass again from its top.
        log.warning("%s: Keap refused the stored page token; restarting the pass", self.spec.name)
        self.state.restart_pass()
        params, token = self.state.request()
        self.pager = self._pager(params, token)
        return await self._next_page()

    async def _next_page(self) -> Page | None:
        assert self.pager is not None
        # Told from within this task, which goes on to take its turn at the pacer
        # before anything woken by the news runs.
        self.on_fetch()
        return await self.pager.next_page()

    def _pager(self, params: dict[str, Any], token: str | None) -> Paginator:
        # A descending pass decides from a page's oldest record whether to read on, so
        # it needs the page parsed before the write; the others learn from the upsert.
        parse = self.spec.mode == "desc"
        return Paginator(self.keap, self.spec, params, token, parse=parse)

    async def sync(
        self, first: PageFuture | None = None, after_last: Callable[[], None] = lambda: None
    ) -> None:
        """Read and write pages until the pass ends or the budget says stop.

        `first`: the first page, if already being fetched. `after_last`: called once the
        stream's last page is known, to start fetching whatever comes next.
        """
        self.result.status = "partial"
        self.budget.page_started()
        self.ahead = first or asyncio.ensure_future(self.first_page())
        try:
            while self.ahead is not None:
                page = await self.ahead
                self.ahead = None
                await self._take(page, after_last)
        finally:
            await _cancel(self.ahead)
        self.result.cursor = self.state.cursor

    async def _take(self, page: Page | None, after_last: Callable[[], None]) -> None:
        """Write one page while the next request (this stream's or the next one's) goes."""
        assert self.pager is not None and page is not None
        last = self.state.ends_with(page, self.pager.exhausted)
        if last:
            after_last()
        elif not self.run.must_stop():
            self.ahead = self._read_ahead(page)
        if await self._write(page, last):
            # An empty page may end the pass after all: what was read ahead is moot.
            await _cancel(self.ahead)
            self.ahead = None
            self.result.status = "complete"
        self.budget.page_done()
        if self.ahead is not None:
            self.budget.page_started()

    def _read_ahead(self, page: Page) -> PageFuture:
        """Start fetching the page after `page`, smaller if pages grow too big."""
        assert self.pager is not None
        size = int(self.pager.params["page_size"])
        self.pager.set_page_size(self.budget.page_size_for(page.size, size))
        return asyncio.ensure_future(self._next_page())

    async def _write(self, page: Page, last: bool) -> bool:
        """Upsert, advance, checkpoint; returns whether the pass has ended."""
        written = 0
        if page.count or not page.parsed:
            facts = await self._upsert(page)
            written = facts.written
            if not page.parsed:
                page.learn(facts)
                # An empty page ends the list even if Keap handed out a token with it.
                last = last or facts.received == 0
        self.state.advance(page)
        if last:
            self.state.finish()
        state = self.state.to_json()
        if page.count or state != self.stored:
            await self.run.checkpoint(self.spec.name, state, pages=1, records=page.count)
            self.stored = state
        self.result.pages += 1
        self.result.records += page.count
        self.result.written += written
        return last

    async def _upsert(self, page: Page) -> PageFacts:
        facts = await write_page(self.store, self.spec, page, "sync")
        self.result.cleaned += facts.cleaned
        self.result.quarantined += len(facts.refused)
        return facts
