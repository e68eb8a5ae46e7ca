"""The stream runner: the streams of a run at once, pages from Keap into Postgres.

Each stream's pass runs as its own task under the one run (one budget, one pacer,
one stop decision `Run.must_stop`), and a full pass of a large object runs as several
slices (`slices`), each its own chain of pages. What keeps that within the platform:
Keap requests and database connections share the invocation's connection slots
(`shared.platform.connections`), the pacer decides when each request goes, and page
text in flight is bounded in bytes (`budget.PageMemory`).

A page's checkpoint is stored only after its upsert committed, so a run stopped at
any point (by its budget, a failure or a kill) leaves a state from which the next run
re-reads at most the pages in flight; the upsert is idempotent, so that costs nothing
but the requests. A stream's checkpoints go one at a time, each with the positions of
all its slices, so the stored state only moves forward.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import replace
from typing import Any

from shared.keap.client import KeapClient
from shared.keap.errors import KeapRequestError
from shared.keap.streams import StreamSpec, get_stream
from shared.store.store import PageFacts, Store
from shared.sync.budget import FIRST_PAGE_BYTES, Held, PageMemory
from shared.sync.custom_fields import read_models
from shared.sync.details import Gaps, read_details
from shared.sync.paginator import Page, Paginator
from shared.sync.run import Run, stream_errors
from shared.sync.slices import Slice, plan
from shared.sync.state import DEFAULT_OVERLAP_S, StreamState
from shared.sync.write import write_page

log = logging.getLogger("keap_sync.engine")

# An incremental pass's first page: a run with nothing changed downloads no more than
# this per object. While its pass goes on, each page is this many times the last.
FIRST_PAGE_SIZE = 50
PAGE_GROWTH = 4

Fetched = tuple[Page | None, Held | None]
PageFuture = asyncio.Future[Fetched]


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
    """Sync the streams at once, each from its stored state (or from the start with
    `reset`).

    `page_size` overrides Keap's maximum (tools and tests use it to see many pages)."""
    if reset:
        for name in names:
            await run.reset(name)
    states = await run.stream_states()
    if not reset:
        await _restart_emptied(run, store, names, states)
    memory = PageMemory(run.budget.page_bytes)
    syncers = [
        StreamSync(run, keap, store, _spec(name, page_size), states.get(name), overlap_s, memory)
        for name in _oldest_first(names, states)
    ]
    await StreamsAtOnce(run, keap, store, syncers, full=reset).sync()


async def _restart_emptied(
    run: Run, store: Store, names: list[str], states: dict[str, dict[str, Any]]
) -> None:
    """Read from the start the streams that have a cursor while the database holds none of
    their rows (a new or restored database behind the same coordinator): their cursors
    would otherwise skip everything Keap changed before them. An object Keap has no
    records of costs one request either way."""
    synced = [n for n in names if (states.get(n) or {}).get("cursor")]
    for name in sorted(await store.holding_none(synced)):
        log.warning("%s: the database holds none of its rows; reading it from the start", name)
        await run.reset(name)
        states.pop(name, None)


def _oldest_first(names: list[str], states: dict[str, dict[str, Any]]) -> list[str]:
    """Streams whose pass ended longest ago (or never) first: they take the first
    turns at the pacer, so a small budget still reaches each stream in turn."""
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


async def all_at_once(work: Iterable[Awaitable[None]]) -> None:
    """Run `work` at once; the first failure cancels the rest and is raised."""
    tasks = [asyncio.ensure_future(w) for w in work]
    try:
        await asyncio.gather(*tasks)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


class StreamsAtOnce:
    """Every stream's pass at once, while the budget lasts.

    Per-record reads (see `details`) and the custom field models (`custom_fields`) go on
    beside the streams' pages, in the room those leave, and are awaited once every page
    is read. After the pages, they may go on a little in an incremental run, not in a
    `full` one (see `details`)."""

    def __init__(
        self,
        run: Run,
        keap: KeapClient,
        store: Store,
        syncers: list[StreamSync],
        *,
        full: bool = False,
    ) -> None:
        self.run = run
        self.keap = keap
        self.store = store
        self.syncers = syncers
        self.full = full
        self.gaps = Gaps(lambda: keap.pacer.interval_s, tail=not full)
        self.details: list[asyncio.Future[None]] = []
        for syncer in syncers:
            syncer.on_fetch = self.gaps.page_requested

    async def sync(self) -> None:
        """Every stream's pages, then the model and per-record reads still going."""
        names = [syncer.spec.name for syncer in self.syncers]
        models = asyncio.ensure_future(
            read_models(self.run, self.keap, self.store, names, full=self.full, gaps=self.gaps)
        )
        try:
            await all_at_once(self._stream(syncer) for syncer in self.syncers)
            self.gaps.pages_done()
            await models
            for reading in self.details:
                await reading
        finally:
            self.gaps.pages_done()
            await _cancel(models)
            for pending in self.details:
                await _cancel(pending)

    async def _stream(self, syncer: StreamSync) -> None:
        """One stream's pages; then its per-record reads start."""
        if self.run.must_stop():
            return
        name = syncer.spec.name
        async with stream_errors(self.run, name, name, lambda: syncer.stored):
            await syncer.sync()
            if syncer.spec.detail_fields:
                self.details.append(asyncio.ensure_future(self._read_details(syncer)))

    async def _read_details(self, syncer: StreamSync) -> None:
        name = syncer.spec.name
        async with stream_errors(self.run, name, name, lambda: syncer.stored):
            await read_details(self.run, self.keap, self.store, syncer.spec, self.gaps)


class StreamSync:
    """One stream's pass: as one chain of pages (the next read while one is written), or
    as slices read at once, each a chain of its own."""

    def __init__(
        self,
        run: Run,
        keap: KeapClient,
        store: Store,
        spec: StreamSpec,
        stored: dict[str, Any] | None,
        overlap_s: float = DEFAULT_OVERLAP_S,
        memory: PageMemory | None = None,
    ) -> None:
        self.run = run
        self.budget = run.budget
        self.keap = keap
        self.store = store
        self.spec = spec
        self.stored = stored or {}
        self.state = StreamState.from_json(spec, stored, overlap_s)
        self.result = run.result.streams[spec.name]
        self.memory = memory or PageMemory(run.budget.page_bytes)
        self.page_bytes = FIRST_PAGE_BYTES  # what the stream's next page is expected to weigh
        self.pager: Paginator | None = None
        self.ahead: PageFuture | None = None  # the next page, fetched while one is written
        self._checkpointing = asyncio.Lock()
        # Told as each page request goes out (see `details.Gaps`).
        self.on_fetch: Callable[[], None] = lambda: None

    async def sync(self) -> None:
        """Read and write pages until the pass ends or the budget says stop."""
        self.result.status = "partial"
        self.state.begin()
        if self.state.may_slice:
            await self._plan_slices()
        if self.state.slices:
            await self._sliced()
        else:
            await self._chain()
        self.result.cursor = self.state.cursor

    # --- sliced ---------------------------------------------------------------------
    async def _plan_slices(self) -> None:
        """Begin a full pass in id order with its first page; if more follow, read the
        page of the greatest ids and split what lies between the two into id ranges read
        at once (one range, for an object too small to gain). The plan is stored with the
        pages' checkpoint, so a later run goes on from it instead of planning again."""
        head = Slice(after=0, upto=None)
        self.state.slice([head])
        pages = [await self._plan_page(head, self.spec.slice_params(0, None))]
        if not head.done:
            pages.append(await self._split(head))
        await self._checkpoint(sum(p.count for p in pages), pages=len(pages))

    async def _split(self, head: Slice) -> Page:
        """The page of the greatest ids beyond the head page, then ranges between them."""
        top = Slice(after=head.position, upto=None)
        page = await self._plan_page(top, self.spec.top_params(head.position), parse=True)
        head.done = True
        if top.done:  # the two pages hold every record
            self.state.slices = [head, top]
            return page
        # Every id above the top page's least was on it: it ends the ranges below.
        least = min(page.ids)
        top.after, top.done = least - 1, True
        head.upto = head.position
        rest = plan(least - 1, self.spec.page_size, after=head.position)
        self.state.slices = [head, *rest, top]
        log.info("%s: a full pass in %d slices below id %s", self.spec.name, len(rest), least)
        return page

    async def _plan_page(self, piece: Slice, params: dict[str, Any], parse: bool = False) -> Page:
        """One page read and written into `piece` while the pass is planned."""
        begun = self.budget.page_started()
        try:
            pager = Paginator(self.keap, self.spec, params, parse=parse)
            page, held = await self._fetch(pager)
            assert page is not None
            facts = await self._write_into(piece, page, held)
        finally:
            self.budget.page_done(begun)
        self._count(page, facts.written)
        return page

    async def _sliced(self) -> None:
        # Each slice's first page is claimed here, in turn with the other streams' first
        # pages (a run's tasks start in the order of its streams), so that a budget too
        # small for every stream goes to the streams that have waited longest.
        claimed = []
        for piece in self.state.slices:
            if piece.done:
                continue
            if self.run.must_stop():
                break
            claimed.append((piece, self.budget.page_started()))
        await all_at_once(self._slice(piece, begun) for piece, begun in claimed)
        if all(s.done for s in self.state.slices):
            self.state.finish()
            await self._checkpoint()
            self.result.status = "complete"

    async def _slice(self, piece: Slice, begun: float) -> None:
        """One slice's pages, each written and checkpointed before the next is taken,
        the next fetched while one is written (`begun`: the first page, claimed)."""
        params = self.spec.slice_params(piece.position, piece.upto)
        pager = Paginator(self.keap, self.spec, params, parse=False)
        claimed: float | None = begun
        ahead: PageFuture | None = asyncio.ensure_future(self._fetch(pager))
        try:
            while ahead is not None:
                page, held = await ahead
                assert page is not None
                taking, claimed, ahead = claimed, None, None
                if not pager.exhausted and not self.run.must_stop():
                    claimed = self.budget.page_started()
                    ahead = asyncio.ensure_future(self._fetch(pager))
                try:
                    facts = await self._write_into(piece, page, held)
                finally:
                    if taking is not None:
                        self.budget.page_done(taking)
                await self._checkpoint(page.count, pages=1)
                self._count(page, facts.written)
                if piece.done:
                    await _drop(ahead)
                    ahead = None
        finally:
            await _drop(ahead)
            if claimed is not None:
                self.budget.page_done(claimed)

    async def _write_into(self, piece: Slice, page: Page, held: Held | None) -> PageFacts:
        """Write a page of `piece` and move the slice past it (the checkpoint follows)."""
        try:
            facts = await self._upsert(page)
        finally:
            self._written(page, held)
        page.learn(facts)
        # The page's own token says whether it was the last (the pager may have moved on
        # to a page read ahead); an empty page ends the list even with a token.
        piece.advance(page.max_id, last=not page.next_token or facts.received == 0)
        self.state.records += page.count
        return facts

    # --- one chain ------------------------------------------------------------------
    async def _chain(self) -> None:
        begun: float | None = self.budget.page_started()
        self.ahead = asyncio.ensure_future(self._first_page())
        try:
            while self.ahead is not None:
                page, held = await self.ahead
                self.ahead = None
                taking, begun = begun, None
                assert taking is not None
                await self._take(page, held, taking)
                if self.ahead is not None:
                    begun = self.budget.page_started()
        finally:
            if begun is not None:
                self.budget.page_done(begun)
            await _drop(self.ahead)

    async def _first_page(self) -> Fetched:
        """Begin (or resume) the stream's pass and read its first page."""
        params, token = self.state.request()
        self.pager = self._pager(params, token)
        try:
            return await self._fetch(self.pager)
        except KeapRequestError as exc:
            if token is None or exc.status != 400:
                raise
        # Keap no longer accepts the stored position: read this pass again from its top.
        log.warning("%s: Keap refused the stored page token; restarting the pass", self.spec.name)
        self.state.restart_pass()
        params, token = self.state.request()
        self.pager = self._pager(params, token)
        return await self._fetch(self.pager)

    def _pager(self, params: dict[str, Any], token: str | None) -> Paginator:
        # A descending pass decides from a page's oldest record whether to read on, so
        # it needs the page parsed before the write; the others learn from the upsert.
        parse = self.spec.mode == "desc"
        pager = Paginator(self.keap, self.spec, params, token, parse=parse)
        if self.state.cursor:
            # An incremental pass mostly finds little: its first page is small.
            pager.set_page_size(min(FIRST_PAGE_SIZE, self.spec.page_size))
        return pager

    async def _take(self, page: Page | None, held: Held | None, begun: float) -> None:
        """Write one page while the next request goes."""
        assert self.pager is not None and page is not None
        last = self.state.ends_with(page, self.pager.exhausted)
        if not last and not self.run.must_stop():
            self.ahead = self._read_ahead(page)
        try:
            ended = await self._write(page, held, last)
        finally:
            self.budget.page_done(begun)
        if ended:
            # An empty page may end the pass after all: what was read ahead is moot.
            await _drop(self.ahead)
            self.ahead = None
            self.result.status = "complete"

    def _read_ahead(self, page: Page) -> PageFuture:
        """Start fetching the page after `page`: smaller if pages grow too big for the
        memory budget, else larger up to Keap's maximum (the pass goes on, so there is
        more to read than a small first page held)."""
        assert self.pager is not None
        size = int(self.pager.params["page_size"])
        smaller = self.budget.page_size_for(page.size, size)
        self.pager.set_page_size(
            smaller if smaller < size else min(self.spec.page_size, size * PAGE_GROWTH)
        )
        return asyncio.ensure_future(self._fetch(self.pager))

    async def _write(self, page: Page, held: Held | None, last: bool) -> bool:
        """Upsert, advance, checkpoint; returns whether the pass has ended."""
        written = 0
        try:
            if page.count or not page.parsed:
                facts = await self._upsert(page)
                written = facts.written
                if not page.parsed:
                    page.learn(facts)
                    # An empty page ends the list even if Keap handed out a token with it.
                    last = last or facts.received == 0
        finally:
            self._written(page, held)
        self.state.advance(page)
        if last:
            self.state.finish()
        await self._checkpoint(page.count, pages=1)
        self._count(page, written)
        return last

    # --- shared by both -------------------------------------------------------------
    async def _fetch(self, pager: Paginator) -> Fetched:
        """The pager's next page, within the bytes of pages in flight."""
        held = await self.memory.reserve(self.page_bytes)
        try:
            # Told from within this task, which goes on to take its turn at the pacer
            # before anything woken by the news runs.
            self.on_fetch()
            page = await pager.next_page()
        except BaseException:
            held.release()
            raise
        if page is None:
            held.release()
            return None, None
        held.resize(page.size)
        self.page_bytes = max(page.size, 1)
        return page, held

    @staticmethod
    def _written(page: Page, held: Held | None) -> None:
        """The page is in Postgres: its text goes now, not when the next page comes."""
        page.payload = ""
        if held is not None:
            held.release()

    async def _upsert(self, page: Page) -> PageFacts:
        facts = await write_page(self.store, self.spec, page, "sync")
        self.result.cleaned += facts.cleaned
        self.result.quarantined += len(facts.refused)
        return facts

    async def _checkpoint(self, records: int = 0, *, pages: int = 0) -> None:
        """Store the stream's state after `pages` (`records` on them) or at its end, one
        checkpoint at a time, so a later state never lands before an earlier one."""
        async with self._checkpointing:
            state = self.state.to_json()
            if not records and state == self.stored:
                return
            await self.run.checkpoint(self.spec.name, state, pages=pages, records=records)
            self.stored = state

    def _count(self, page: Page, written: int) -> None:
        self.result.pages += 1
        self.result.records += page.count
        self.result.written += written


async def _drop(ahead: PageFuture | None) -> None:
    """Cancel a page read ahead, giving back its bytes if it had arrived."""
    if ahead is None:
        return
    await _cancel(ahead)
    if ahead.done() and not ahead.cancelled() and ahead.exception() is None:
        _, held = ahead.result()
        if held is not None:
            held.release()
