"""Fields Keap leaves out of list responses, read per record (products' inventory count).

Only records written since their details were last read are fetched (the store keeps
`details_read_at` beside `synced_at`), one GET each, within the run's budget: what a
run leaves is read by the next one. A record Keap no longer has is marked deleted.

While the sync still reads pages, these requests take only the room pages leave (see
`Gaps`), so they never hold a page back. Once the pages are read, an incremental run
lets them go as fast as Keap's limits allow, for a twentieth of the run's time so far
(at least a second), so no run waits long on them. A full run ends with its pages: it
reads at Keap's rate ceiling, which leaves no room, and the incremental runs after it
(minutes later) read the counts it leaves.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable, Iterator

from shared.keap.client import KeapClient
from shared.keap.errors import KeapNotFound
from shared.keap.streams import StreamSpec
from shared.store.store import Store
from shared.sync.run import Run

CONCURRENCY = 3  # with the page in flight and its prefetch: under the Worker's 6 sockets
WRITE_EVERY = 25  # records per statement
BUDGET_SHARE = 3  # at most a third of a run's subrequests go to details
MOST_PER_GAP = 3
TAIL_SHARE = 0.05  # after the pages, details may add this share of the run's time ...
TAIL_MIN_S = 1.0  # ... or this long, whichever is more


class Gaps:
    """Room for other requests between one page request and the next.

    Every request waits its turn at Keap's spike arrest (the pacer's interval), and a sync
    waits on each page's latency, so the pacer sits idle between page requests. After
    each page request, as many other requests may go as will have gone by the time the
    next page request is due (a quarter of a turn late at most): judged from the shortest
    recent time between page requests (a page kept waiting would make the times longer,
    and the room with them). A page request takes its turn at the pacer before the
    requests it makes room for. Once `pages_done`, any number may go, until the run's
    tail (see the module) is spent."""

    def __init__(
        self,
        interval: Callable[[], float],
        clock: Callable[[], float] = time.monotonic,
        *,
        tail: bool = True,
    ) -> None:
        self._interval = interval  # read late: the pacer is known after the first request
        self._clock = clock
        self._tail = tail  # whether requests may go on once the pages are read
        self._started = clock()
        self._tail_ends: float | None = None
        self._last: float | None = None
        self._cycles: deque[float] = deque(maxlen=8)
        self._taken = 0
        self._open = False
        self._changed = asyncio.Event()

    def page_requested(self) -> None:
        now = self._clock()
        if self._last is not None:
            self._cycles.append(now - self._last)
        self._last = now
        self._taken = 0
        self._changed.set()

    def pages_done(self) -> None:
        if not self._open:
            now = self._clock()
            tail = max(TAIL_MIN_S, TAIL_SHARE * (now - self._started)) if self._tail else 0.0
            self._tail_ends = now + tail
        self._open = True
        self._changed.set()

    def room(self) -> int:
        """Requests that fit after the last page request."""
        if not self._cycles:
            return 0
        interval = self._interval()
        # The page request's own turn, then one turn per request; the next page request
        # may find the last of them a quarter turn late, no more.
        fits = int((min(self._cycles) - interval / 4) / interval) - 1
        return max(0, min(MOST_PER_GAP, fits))

    async def wait(self) -> None:
        """Wait until there is room (or the pages are read), without taking it."""
        while not self._open and self._taken >= self.room():
            self._changed.clear()
            await self._changed.wait()

    async def take(self) -> bool:
        """Wait for room for one request; False once the run's tail is spent."""
        await self.wait()
        self._taken += 1
        return self._tail_ends is None or self._clock() < self._tail_ends


async def read_details(
    run: Run, keap: KeapClient, store: Store, spec: StreamSpec, gaps: Gaps | None = None
) -> None:
    """Read the `detail_fields` of the stream's records that changed (in the room `gaps`
    leaves, if given); count them in the stream's `details_read`."""
    if not spec.detail_fields or spec.get_path is None:
        return
    ids = await store.pending_details(spec.name, run.budget.subrequests // BUDGET_SHARE)
    await DetailReads(run, keap, store, spec, gaps).read(iter(ids))


class DetailReads:
    """One stream's per-record reads: CONCURRENCY readers share the ids (each is read
    once), and the records are written WRITE_EVERY to a statement."""

    def __init__(
        self, run: Run, keap: KeapClient, store: Store, spec: StreamSpec, gaps: Gaps | None
    ) -> None:
        self.run = run
        self.keap = keap
        self.store = store
        self.spec = spec
        self.gaps = gaps
        self.result = run.result.streams[spec.name]
        self.texts: list[str] = []  # records read, not yet written
        self.gone: list[int] = []  # ids Keap no longer has

    async def read(self, ids: Iterator[int]) -> None:
        """Read `ids` until done, out of room or out of budget; write what was read."""
        readers = [asyncio.ensure_future(self._reader(ids)) for _ in range(CONCURRENCY)]
        try:
            await asyncio.gather(*readers)  # the first failure, as it was raised
        finally:
            for task in readers:
                task.cancel()
            await asyncio.gather(*readers, return_exceptions=True)
        await self._flush()
        self.result.deleted += len(await self.store.mark_deleted(self.spec.name, self.gone))

    async def _reader(self, ids: Iterator[int]) -> None:
        for record_id in ids:
            if not await self._may_read():
                return  # the rest waits for the next run
            await self._read(record_id)

    async def _may_read(self) -> bool:
        """Wait for room for one more request; False once there will be none this run."""
        if self.gaps is not None and not await self.gaps.take():
            return False
        return self.run.budget.stop_reason(cost=1) is None

    async def _read(self, record_id: int) -> None:
        try:
            response = await self.keap.get(*self.spec.get_request(record_id))
        except KeapNotFound:
            self.gone.append(record_id)
            return
        self.texts.append(response.text)
        if len(self.texts) >= WRITE_EVERY:
            await self._flush()

    async def _flush(self) -> None:
        if self.texts:
            batch = f"[{','.join(self.texts)}]"
            self.texts.clear()
            self.result.details_read += await self.store.write_details(self.spec.name, batch)
            await self.run.keep_lease()
