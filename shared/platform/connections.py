"""The outgoing connections one invocation may hold open at once.

A Worker invocation has at most 6 simultaneous outgoing connections, database
connections included; the runtime queues a seventh instead of failing it, so going
over costs time in ways nobody sees. A run therefore shares one `Connections` between
its Keap client (a slot per request in flight) and its store (a slot per open database
connection), and whatever is left for Keap is what the run can have in flight.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

WORKER_CONNECTIONS = 6


class Connections:
    """At most `limit` connections open at once; `slot()` holds one for a request,
    `acquire()`/`release()` for a connection kept open."""

    def __init__(self, limit: int = WORKER_CONNECTIONS) -> None:
        if limit < 1:
            raise ValueError("at least one connection is needed")
        self.limit = limit
        self._free = asyncio.Semaphore(limit)
        self.open = 0
        self.peak = 0  # the most open at once: what a test or benchmark checks

    async def acquire(self) -> None:
        await self._free.acquire()
        self.open += 1
        self.peak = max(self.peak, self.open)

    def release(self) -> None:
        self.open -= 1
        self._free.release()

    @contextlib.asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        await self.acquire()
        try:
            yield
        finally:
            self.release()
