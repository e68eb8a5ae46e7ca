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
from collections.abc import Callable
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
    # Streams whose pass ended longest ago (or never) go first, so a small budget that
    # cannot cover every stream in one run still reaches each of them in turn.
    names = sorted(names, key=lambda n: (states.get(n) or {}).get("completed_at") or "")
    syncers = []
    for name in names:
        spec = get_stream(name)
        if page_size is not None:
            spec = replace(spec, page_size=page_size)
        syncers.append(StreamSync(run, keap, store, spec, states.get(name), overlap_s))
    firsts: dict[int, PageFuture] = {}

    def prefetch(index: int) -> Callable[[], bool]:
        def start() -> bool:
            if index >= len(syncers) or run.budget.stop_reason() is not None:
                return False
            firsts[index] = asyncio.ensure_future(syncers[index].first_page())
            return True

        return start

    # Per-record reads (see `details`) go on beside the next streams' pages, in the
    # room those leave.
    details: list[asyncio.Future[None]] = []
    gaps = Gaps(lambda: keap.pacer.interval_s)
    for syncer in syncers:
        syncer.on_fetch = gaps.page_requested

    async def read_details_of(syncer: StreamSync) -> None:
        name = syncer.spec.name
        async with stream_errors(run, name, name, lambda: syncer.stored):
            await read_details(run, keap, store, syncer.spec, gaps)

    try:
        for index, syncer in enumerate(syncers):
            first = firsts.pop(index, None)
            if first is None:
                reason = run.budget.stop_reason()
                if reason is not None:
                    run.result.stop_reason = reason
                    break
            name = syncer.spec.name
            async with stream_errors(run, name, name, lambda s=syncer: s.stored):
                await syncer.run(first, prefetch(index + 1))
                if syncer.spec.detail_fields:
                    details.append(asyncio.ensure_future(read_details_of(syncer)))
        gaps.pages_done()
        for reading in details:
            await reading
    finally:
        gaps.pages_done()
        for pending in [*firsts.values(), *details]:
            await _cancel(pending)


async def _cancel(task: asyncio.Future[Any] | None) -> None:
    if task is None or task.done():
        return
    task.cancel()
    with contextlib.suppress(BaseException):
        await task


class StreamSync:
    def __init__(
        self,
        run: Run,
        keap: KeapClient,
        store: Store,
        spec: StreamSpec,
        stored: dict[str, Any] | None,
        overlap_s: float = DEFAULT_OVERLAP_S,
    ) -> None:
        self.run_ = run
        self.keap = keap
        self.store = store
        self.spec = spec
        self.stored = stored or {}
        self.state = StreamState.from_json(spec, stored, overlap_s)
        self.result = run.result.streams[spec.name]
        self.pager: Paginator | None = None
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

    async def run(
        self, first: PageFuture | None = None, after_last: Callable[[], bool] | None = None
    ) -> None:
        """Read and write pages until the pass ends or the budget says stop.

        `first`: the first page, if already being fetched. `after_last`: called once the
        stream's last page is known, to start fetching whatever comes next.
        """
        budget = self.run_.budget
        self.result.status = "partial"
        budget.page_started()
        fetch: PageFuture | None = first or asyncio.ensure_future(self.first_page())
        try:
            while fetch is not None:
                page = await fetch
                fetch = None
                assert self.pager is not None and page is not None
                last = self.state.ends_with(page, self.pager.exhausted)
                if last:
                    if after_last is not None:
                        after_last()
                else:
                    reason = budget.stop_reason()
                    if reason is None:
                        size = int(self.pager.params["page_size"])
                        self.pager.set_page_size(budget.page_size_for(page.size, size))
                        fetch = asyncio.ensure_future(self._next_page())
                    else:
                        self.run_.result.stop_reason = reason
                if await self._write(page, last) and not last:
                    last = True  # an empty page after all: what was prefetched is moot
                    await _cancel(fetch)
                    fetch = None
                budget.page_done()
                if last:
                    self.result.status = "complete"
                elif fetch is not None:
                    budget.page_started()
        finally:
            await _cancel(fetch)
        self.result.cursor = self.state.cursor

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
            await self.run_.checkpoint(self.spec.name, state, pages=1, records=page.count)
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
