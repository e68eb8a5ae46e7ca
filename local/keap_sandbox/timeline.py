"""Base create/update times of generated records: monotonic in id, so time ranges are id ranges."""

from __future__ import annotations

import bisect
from dataclasses import dataclass

from .timefmt import YEAR_MS


@dataclass(frozen=True)
class Timeline:
    """Record i (1..count) was created 3..1 years before `anchor_ms` and last updated
    in the year before it, both increasing with i."""

    count: int
    anchor_ms: int

    @property
    def _update_start(self) -> int:
        return self.anchor_ms - YEAR_MS

    @property
    def _create_start(self) -> int:
        return self.anchor_ms - 3 * YEAR_MS

    def update_ms(self, i: int) -> int:
        return self._update_start + (i - 1) * (YEAR_MS - 1) // max(self.count, 1)

    def create_ms(self, i: int) -> int:
        return self._create_start + (i - 1) * (2 * YEAR_MS - 1) // max(self.count, 1)

    def first_updated_at_or_after(self, ms: int) -> int:
        """The lowest base id whose update time is >= ms (count + 1 if none)."""
        ids = range(1, self.count + 1)
        return 1 + bisect.bisect_left(ids, ms, key=self.update_ms)

    def last_updated_at_or_before(self, ms: int) -> int:
        """The highest base id whose update time is <= ms (0 if none)."""
        ids = range(1, self.count + 1)
        return bisect.bisect_right(ids, ms, key=self.update_ms)

    def first_created_at_or_after(self, ms: int) -> int:
        ids = range(1, self.count + 1)
        return 1 + bisect.bisect_left(ids, ms, key=self.create_ms)

    def last_created_at_or_before(self, ms: int) -> int:
        ids = range(1, self.count + 1)
        return bisect.bisect_right(ids, ms, key=self.create_ms)
