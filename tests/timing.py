"""Time in tests: a clock moved by hand, and waiting for a condition (never for time to pass)."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable


class HandClock:
    """Seconds (monotonic or epoch, as the code under test expects) moved by hand."""

    def __init__(self, now: float = 0.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


async def wait_for(
    check: Callable[[], bool | Awaitable[bool]],
    within: float = 30.0,
    what: str = "condition",
    every: float = 0.05,
) -> None:
    """Poll `check` (plain or async) every `every` seconds until it holds; fail with `what`
    after `within` seconds."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        held = check()
        if inspect.isawaitable(held):
            held = await held
        if held:
            return
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out after {within} s waiting for {what}")
        await asyncio.sleep(every)
