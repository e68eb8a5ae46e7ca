"""Records of one kind: generated base records plus an overlay of changes, and listing.

Base record i exists unless deleted, and its create/update times grow with i, so any
time or id range over base records is an id range. Edited and created records live in
the overlay with their own times. A list request merges the two streams in sort order
starting after the page token's (key, id) position.
"""

from __future__ import annotations

import bisect
import heapq
from collections.abc import Iterator
from typing import Any

from .filters import Query
from .generator import CUSTOM_FIELD_DEFS, Generator
from .kinds import KindSpec, OrderKey
from .paging import Cursor

Record = dict[str, Any]
Entry = tuple[Any, int]  # (sort key, id)


class Collection:
    """All records of one kind."""

    def __init__(self, spec: KindSpec, gen: Generator) -> None:
        self.spec = spec
        self.kind = spec.name
        self.gen = gen
        self.timeline = gen.timelines[spec.name]
        self.base_count = self.timeline.count
        self.overlay: dict[int, Record] = {}
        self.meta: dict[int, tuple[int, int]] = {}  # overlay id -> (create_ms, update_ms)
        self.deleted: set[int] = set()
        self.next_id = self.base_count + 1
        self.version = 0
        self._has_custom_fields = spec.name in CUSTOM_FIELD_DEFS
        self._sorted: dict[tuple[str, int], list[Entry]] = {}

    # -- reading -----------------------------------------------------------------------

    def exists(self, record_id: int) -> bool:
        if record_id in self.overlay:
            return True
        return 1 <= record_id <= self.base_count and record_id not in self.deleted

    def get(self, record_id: int, custom_fields: bool = True) -> Record | None:
        """The current record (None if it does not exist). Treat it as read-only."""
        record = self.overlay.get(record_id)
        if record is not None:
            return record
        if not 1 <= record_id <= self.base_count or record_id in self.deleted:
            return None
        record = self.gen.base(self.kind, record_id)
        if custom_fields and self._has_custom_fields:
            record = {**record, "custom_fields": self.gen.custom_fields(self.kind, record_id)}
        return record

    def times(self, record_id: int) -> tuple[int, int]:
        """(create_ms, update_ms) of an existing record."""
        found = self.meta.get(record_id)
        if found is not None:
            return found
        return self.timeline.create_ms(record_id), self.timeline.update_ms(record_id)

    def live_ids(self) -> Iterator[int]:
        """Every existing id, ascending."""
        created = sorted(i for i in self.overlay if i > self.base_count)
        for i in range(1, self.base_count + 1):
            if i not in self.deleted:
                yield i
        yield from created

    def live_count(self) -> int:
        created = sum(1 for i in self.overlay if i > self.base_count)
        return self.base_count - len(self.deleted) + created

    # -- writing -----------------------------------------------------------------------

    def allocate_id(self) -> int:
        record_id = self.next_id
        self.next_id += 1
        return record_id

    def put(self, record_id: int, record: Record, create_ms: int, update_ms: int) -> None:
        """Store a full record (with custom fields) as the current version of record_id."""
        self.overlay[record_id] = record
        self.meta[record_id] = (create_ms, update_ms)
        self.deleted.discard(record_id)
        self._changed()

    def remove(self, record_id: int) -> bool:
        if not self.exists(record_id):
            return False
        self.overlay.pop(record_id, None)
        self.meta.pop(record_id, None)
        if record_id <= self.base_count:
            self.deleted.add(record_id)
        self._changed()
        return True

    def _changed(self) -> None:
        self.version += 1
        self._sorted.clear()

    # -- kept across restarts (persistence.py) -----------------------------------------

    def snapshot(self) -> dict[str, Any]:
        """What changed since the records were generated: edits, creates, deletes."""
        return {
            "overlay": {str(i): [r, *self.meta[i]] for i, r in self.overlay.items()},
            "deleted": sorted(self.deleted),
            "next_id": self.next_id,
        }

    def restore(self, data: dict[str, Any]) -> None:
        for key, (record, create_ms, update_ms) in data["overlay"].items():
            self.overlay[int(key)] = record
            self.meta[int(key)] = (create_ms, update_ms)
        self.deleted = set(data["deleted"])
        self.next_id = max(int(data["next_id"]), self.next_id)
        self._changed()

    # -- listing -----------------------------------------------------------------------

    def list(
        self,
        query: Query,
        order: OrderKey,
        desc: bool,
        after: Cursor | None,
        limit: int,
    ) -> tuple[list[Record], Cursor | None]:
        """Up to `limit` matching records after `after`, and the cursor of the next page
        (None when nothing is left). Generated records come without custom fields (see
        render.list_body); edited and created ones carry theirs."""
        out: list[Record] = []
        last: Entry | None = None
        for key, record_id in self._entries(query, order, desc, after):
            record = self.get(record_id, custom_fields=False)
            if record is None or not query.matches_record(record):
                continue
            if len(out) == limit:
                assert last is not None
                return out, Cursor(last[0], last[1])
            out.append(record)
            last = (key, record_id)
        return out, None

    def _key(self, by: str, record_id: int) -> int:
        if by == "id":
            return record_id
        create_ms, update_ms = self.times(record_id)
        return create_ms if by == "create" else update_ms

    def _entries(
        self, query: Query, order: OrderKey, desc: bool, after: Cursor | None
    ) -> Iterator[Entry]:
        if order.by == "field":
            return self._field_entries(query, order, desc, after)
        base = self._base_entries(query, order.by, desc, after)
        overlay = self._overlay_entries(query, order.by, desc, after)
        return heapq.merge(base, overlay, reverse=desc)

    def _base_entries(
        self, query: Query, by: str, desc: bool, after: Cursor | None
    ) -> Iterator[Entry]:
        tl = self.timeline
        lo = max(1, query.id_min)
        hi = self.base_count if query.id_max is None else min(self.base_count, query.id_max)
        if query.update_min is not None:
            lo = max(lo, tl.first_updated_at_or_after(query.update_min))
        if query.update_max is not None:
            hi = min(hi, tl.last_updated_at_or_before(query.update_max))
        if query.create_min is not None:
            lo = max(lo, tl.first_created_at_or_after(query.create_min))
        if query.create_max is not None:
            hi = min(hi, tl.last_created_at_or_before(query.create_max))
        if after is not None:
            # Base keys grow with id, so "after the cursor" is a prefix or suffix of ids.
            if by == "id":
                split_at = int(after.key)
            else:
                last_at = (
                    tl.last_updated_at_or_before if by == "update" else tl.last_created_at_or_before
                )
                below, upto = last_at(int(after.key) - 1), last_at(int(after.key))
                split_at = max(below, min(upto, after.id - 1 if desc else after.id))
            if desc:
                hi = min(hi, split_at - (by == "id"))
            else:
                lo = max(lo, split_at + 1)
        if lo > hi:
            return
        if query.ids is not None:
            ids: Any = sorted(i for i in query.ids if lo <= i <= hi)
            ids = reversed(ids) if desc else ids
        else:
            ids = range(hi, lo - 1, -1) if desc else range(lo, hi + 1)
        overlay, deleted, excluded = self.overlay, self.deleted, query.excluded_ids
        for i in ids:
            if i in overlay or i in deleted or i in excluded:
                continue
            yield (self._key(by, i), i)

    def _overlay_entries(
        self, query: Query, by: str, desc: bool, after: Cursor | None
    ) -> Iterator[Entry]:
        entries = self._sorted.get((by, self.version))
        if entries is None:
            entries = sorted((self._key(by, i), i) for i in self.overlay)
            self._sorted[(by, self.version)] = entries
        yield from self._walk(entries, query, desc, after)

    def _field_entries(
        self, query: Query, order: OrderKey, desc: bool, after: Cursor | None
    ) -> Iterator[Entry]:
        # Sorting by a field value needs every record; fine for the small kinds, slow for
        # a million contacts ordered by email (build once per data version, then cached).
        assert order.get is not None
        cache_key = (f"field:{id(order)}", self.version)
        entries = self._sorted.get(cache_key)
        if entries is None:
            get = order.get
            entries = sorted(
                (get(self.get(i, custom_fields=False) or {}), i) for i in self.live_ids()
            )
            self._sorted[cache_key] = entries
        yield from self._walk(entries, query, desc, after)

    def _walk(
        self, entries: list[Entry], query: Query, desc: bool, after: Cursor | None
    ) -> Iterator[Entry]:
        if desc:
            stop = (
                len(entries)
                if after is None
                else bisect.bisect_left(entries, (after.key, after.id))
            )
            positions: Any = range(stop - 1, -1, -1)
        else:
            start = 0 if after is None else bisect.bisect_right(entries, (after.key, after.id))
            positions = range(start, len(entries))
        for pos in positions:
            key, i = entries[pos]
            create_ms, update_ms = self.times(i)
            if query.matches_keys(i, create_ms, update_ms):
                yield key, i
