"""What one run may spend: wall time, subrequests and memory.

Cloudflare stops an invocation that goes over its limits, possibly in the middle of a
write. A run therefore checks its budget before each page and stops cleanly, with
its checkpoints in place, while there is still room to record how it ended.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

# Cron invocations may run 15 minutes; keep a minute for the end of the run.
CRON_WALL_S = 14 * 60.0
# Cloudflare allows 1,000 subrequests per invocation (Keap calls, coordinator calls
# and database connections all count).
SUBREQUESTS = 900
MEMORY_MB = 96.0  # Workers have 128 MB; leave room for the runtime itself
PAGE_COST = 2  # one Keap request and one checkpoint
END_RESERVE = 6  # finish_run, release_lease, status, and a retry or two
MIN_PAGE_SIZE = 50


@dataclass
class Budget:
    wall_s: float = CRON_WALL_S
    subrequests: int = SUBREQUESTS
    memory_mb: float = MEMORY_MB
    max_pages: int | None = None  # a hard page limit, for tools and tests
    clock: Callable[[], float] = time.monotonic
    used: int = field(default=0, init=False)
    pages: int = field(default=0, init=False)
    started: float = field(default=0.0, init=False)
    _slowest_page_s: float = field(default=0.0, init=False)
    _page_started: float | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        self.started = self.clock()

    def spend(self, n: int = 1) -> None:
        """Count subrequests made."""
        self.used += n

    @property
    def elapsed_s(self) -> float:
        return self.clock() - self.started

    def page_started(self) -> None:
        self._page_started = self.clock()

    def page_done(self) -> None:
        """Count a finished page and remember how long the slowest one took."""
        self.pages += 1
        if self._page_started is not None:
            took = self.clock() - self._page_started
            self._slowest_page_s = max(self._slowest_page_s, took)
            self._page_started = None

    def stop_reason(self, cost: int = PAGE_COST) -> str | None:
        """Why another page (of `cost` subrequests) does not fit, or None if it does."""
        if self.max_pages is not None and self.pages >= self.max_pages:
            return f"page limit of {self.max_pages} reached"
        if self.used + cost + END_RESERVE > self.subrequests:
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
