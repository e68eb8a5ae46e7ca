"""The local runtime's clock: the wall clock, which tests may move forward instead of sleeping."""

from __future__ import annotations

import time


class MovableClock:
    """Epoch seconds: `time.time()` plus whatever `advance()` added."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += seconds
