"""What one run may spend: wall time, subrequests and memory.

Cloudflare stops an invocation that goes over its limits, possibly in the middle of a
write. A run therefore checks its budget before each page and stops cleanly, with
its checkpoints in place, while there is still room to record how it ended.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from shared.config import Settings

# Cron invocations may run 15 minutes; keep a minute for the end of the run.
CRON_WALL_S = 14 * 60.0
# The Workers Paid plan allows 10,000 subrequests per invocation (Keap calls,
# coordinator calls and database connections all count); `SYNC_SUBREQUESTS` says
# otherwise for an account on other limits.
SUBREQUESTS = 10_000
MEMORY_MB = 96.0  # Workers have 128 MB; leave room for the runtime itself
PAGE_COST = 2  # one Keap request and one checkpoint
END_RESERVE = 6  # finish_run, release_lease, status, and a retry or two
MIN_PAGE_SIZE = 50
# Page text a run holds at once (fetched, not yet written). An isolate holds about
# 77 MB after its first request and should stay under about 110 MB; a 1,000-contact
# page is about 1.5 MB of text, which Python and the driver briefly hold twice.
PAGE_BYTES = 12 * 1024 * 1024
FIRST_PAGE_BYTES = 2 * 1024 * 1024  # what a chain's first page is assumed to weigh


@dataclass
class Budget:
    wall_s: float = CRON_WALL_S
    subrequests: int = SUBREQUESTS
    memory_mb: float = MEMORY_MB
    page_bytes: int = 0  # page text in flight at once (0: PAGE_BYTES); see PageMemory
    max_pages: int | None = None  # a hard page limit, for tools and tests
    clock: Callable[[], float] = time.monotonic
    used: int = field(default=0, init=False)
    pages: int = field(default=0, init=False)
    started: float = field(default=0.0, init=False)
    _slowest_page_s: float = field(default=0.0, init=False)
    _in_flight: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        self.started = self.clock()
        self.page_bytes = self.page_bytes or PAGE_BYTES

    @classmethod
    def from_settings(cls, settings: Settings) -> Budget:
        """The budget of a run as the worker's settings size it."""
        return cls(
            subrequests=settings.SYNC_SUBREQUESTS,
            page_bytes=int(settings.SYNC_PAGE_MEMORY_MB * 1024 * 1024),
        )

    def spend(self, n: int = 1) -> None:
        """Count subrequests made."""
        self.used += n

    @property
    def elapsed_s(self) -> float:
        return self.clock() - self.started

    def page_started(self) -> float:
        """A page is under way; returns what `page_done` takes when it is finished.
        Pages under way count against the subrequests left (see `stop_reason`)."""
        self._in_flight += 1
        return self.clock()

    def page_done(self, started: float) -> None:
        """Count a finished page and remember how long the slowest one took."""
        self.pages += 1
        self._in_flight = max(0, self._in_flight - 1)
        self._slowest_page_s = max(self._slowest_page_s, self.clock() - started)

    def stop_reason(self, cost: int = PAGE_COST) -> str | None:
        """Why another page (of `cost` subrequests) does not fit, or None if it does."""
        if self.max_pages is not None and self.pages + self._in_flight >= self.max_pages:
            return f"page limit of {self.max_pages} reached"
        # Pages already under way will spend theirs too.
        if self.used + cost * (1 + self._in_flight) + END_RESERVE > self.subrequests:
            return f"subrequest budget of {self.subrequests} reached ({self.used} used)"
        needed = max(self._slowest_page_s * 2, 1.0) + 5.0
        if self.elapsed_s + needed > self.wall_s:
            return f"time budget of {self.wall_s:.0f} s reached"
        return None

    def page_size_for(self, page_bytes: int, current: int) -> int:
        """A smaller page size when pages grow too big for the memory budget.

        Two pages are in memory at once (one written, one fetched) and parsing a
        page briefly costs several times its text, so a page may use an eighth.
        """
        limit = self.memory_mb * 1024 * 1024 / 8
        if page_bytes <= limit or current <= MIN_PAGE_SIZE:
            return current
        return max(MIN_PAGE_SIZE, int(current * limit / page_bytes))


class PageMemory:
    """Page data in flight, bounded in bytes rather than pages.

    A page reserves what its chain's last page weighed before it is fetched, is
    resized to what it weighs once read, and gives it back once written. A reservation
    that does not fit waits, unless nothing is held (one page always goes)."""

    def __init__(self, limit: int = PAGE_BYTES) -> None:
        self.limit = limit
        self.held = 0
        self.peak = 0  # the most held at once
        self._changed = asyncio.Event()

    async def reserve(self, estimate: int) -> Held:
        while self.held and self.held + estimate > self.limit:
            self._changed.clear()
            await self._changed.wait()
        self._add(estimate)
        return Held(self, estimate)

    def _add(self, size: int) -> None:
        self.held += size
        self.peak = max(self.peak, self.held)
        if size < 0:
            self._changed.set()


@dataclass
class Held:
    """One page's reservation of `PageMemory`."""

    memory: PageMemory
    size: int

    def resize(self, size: int) -> None:
        """The page's real weight, once it is read."""
        self.memory._add(size - self.size)
        self.size = size

    def release(self) -> None:
        """The page is written (or dropped): its bytes are free again."""
        self.resize(0)
