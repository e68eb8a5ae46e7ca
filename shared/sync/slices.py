"""Slices of a full pass: disjoint id ranges of one object, read at the same time.

A full pass of a large object (one with no cursor yet, or a `full` run) is split into
id ranges `(after, upto]`, each read in id order with Keap's id comparison filter
(`contact_id>after;contact_id<=upto`). The pass first reads one page in id order from
the start: an object that fits on it needs nothing more. For a larger one, the next
request reads the page of the greatest ids beyond it (in descending id order): its
records are written like any page's, and its least id is where the ranges between the
two pages end. Ranges cannot overlap and together cover every id, so no record is read
twice or missed, whatever update times records share; each slice's position is the
last id it wrote, stored with the stream's state, so a stopped run resumes every slice
where it stood. Records that change (or are created) while the pass runs are read by
the next incremental pass: the pass's cursor is its start time (less the overlap), as
for `id_asc` streams.

Keap's ids grow by one per record created, so equal ranges hold about as many records
each.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# A slice worth its own page chain holds at least this many pages.
PAGES_PER_SLICE = 2
MAX_SLICES = 8  # more chains than the run's connections would only wait on them


@dataclass
class Slice:
    after: int  # ids above this ...
    upto: int | None  # ... up to this one (None: no end)
    last_id: int | None = None  # the greatest id written so far
    done: bool = False

    @property
    def position(self) -> int:
        """Where the slice's next read starts: after the last id written."""
        return max(self.after, self.last_id or self.after)

    def advance(self, max_id: int | None, last: bool) -> None:
        if max_id is not None:
            self.last_id = max(max_id, self.last_id or max_id)
        self.done = self.done or last

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"after": self.after, "upto": self.upto}
        if self.last_id is not None:
            out["last_id"] = self.last_id
        if self.done:
            out["done"] = True
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Slice:
        return cls(
            after=int(data["after"]),
            upto=None if data.get("upto") is None else int(data["upto"]),
            last_id=None if data.get("last_id") is None else int(data["last_id"]),
            done=bool(data.get("done")),
        )


def plan(upto: int | None, page_size: int, after: int = 0, most: int = MAX_SLICES) -> list[Slice]:
    """Equal id ranges over (`after`, `upto`], each a whole number of pages wide (so a
    slice ends on a full page, not a few records) and at least `PAGES_PER_SLICE` pages;
    one range when the span is too small to gain from more, none when it is empty."""
    if upto is None or upto <= after:
        return []
    span = upto - after
    count = min(most, span // (page_size * PAGES_PER_SLICE))
    if count < 2:
        return [Slice(after=after, upto=upto)]
    pages_each = -(-span // (count * page_size))
    step = pages_each * page_size
    count = -(-span // step)
    bounds = [after + i * step for i in range(count)] + [upto]
    return [Slice(after=bounds[i], upto=bounds[i + 1]) for i in range(count)]
