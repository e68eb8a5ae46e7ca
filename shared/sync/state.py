"""A stream's incremental state: where the last run got to, and where the next starts.

Stored as JSON with the coordinator after every page. `cursor` means "every record
updated before this time is in the database". A pass (one read from the cursor to
the end) that a budget or a crash cut short leaves its position here as well:

- `asc`: `hwm`, the newest update time written; resume with `since=hwm` (inclusive,
  so the records at that instant are read again and rewritten as no-ops).
- `id_asc`: the pass's fixed lower time bound `since`, the last id written
  `after_id`, and `started`, the wall-clock start that becomes the cursor at its end
  (records edited behind the pass's position are newer than that).
- `desc`: `hwm`, the newest time seen (the cursor once the pass reaches the old
  cursor) and `page_token`, Keap's position in the descending list. If Keap refuses
  the token on resume, the pass starts again from the top, keeping `hwm`.

A full pass of a large object may instead be read in `slices` (see
`shared.sync.slices`): each keeps its own position, and `started` becomes the cursor.
A pass also counts the records it read so far (`records`), for the status page.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from shared import timefmt
from shared.keap.streams import Params, StreamSpec
from shared.sync.paginator import Page
from shared.sync.slices import Slice

DEFAULT_OVERLAP_S = 300.0  # re-read this much before the cursor: late commits, clock skew


@dataclass
class StreamState:
    spec: StreamSpec
    cursor: str | None = None
    hwm: str | None = None
    since: str | None = None
    after_id: int | None = None
    started: str | None = None
    page_token: str | None = None
    in_pass: bool = False
    slices: list[Slice] = field(default_factory=list)  # a sliced pass's ranges
    records: int = 0  # read by this pass so far
    completed_at: str | None = None  # when a pass last reached its end (wall clock)
    overlap_s: float = DEFAULT_OVERLAP_S

    # --- stored form ------------------------------------------------------------------
    @classmethod
    def from_json(
        cls, spec: StreamSpec, data: dict[str, Any] | None, overlap_s: float = DEFAULT_OVERLAP_S
    ) -> StreamState:
        data = data or {}
        position = data.get("pass") or {}
        return cls(
            spec=spec,
            cursor=data.get("cursor"),
            completed_at=data.get("completed_at"),
            hwm=position.get("hwm"),
            since=position.get("since"),
            after_id=position.get("after_id"),
            started=position.get("started"),
            page_token=position.get("page_token"),
            in_pass=bool(position),
            slices=[Slice.from_json(s) for s in position.get("slices") or ()],
            records=int(position.get("records") or 0),
            overlap_s=overlap_s,
        )

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"mode": self.spec.mode, "cursor": self.cursor}
        if self.completed_at:
            out["completed_at"] = self.completed_at
        if self.in_pass:
            position = {
                "hwm": self.hwm,
                "since": self.since,
                "after_id": self.after_id,
                "started": self.started,
                "page_token": self.page_token,
                "slices": [s.to_json() for s in self.slices] or None,
                "records": self.records or None,
            }
            out["pass"] = {k: v for k, v in position.items() if v is not None}
        return out

    # --- a pass -----------------------------------------------------------------------
    def _from_cursor(self) -> str | None:
        """The lower time bound a new pass reads from: the cursor minus the overlap."""
        return timefmt.shift(self.cursor, -self.overlap_s) if self.cursor else None

    def begin(self, now: datetime | None = None) -> None:
        """Start a pass unless one is unfinished (then this run resumes it)."""
        if self.in_pass:
            return
        self.in_pass = True
        self.hwm = None
        self.after_id = None
        self.page_token = None
        self.slices = []
        self.records = 0
        self.since = self._from_cursor()
        if self.spec.mode == "id_asc":
            self.started = self._start_time(now)

    def _start_time(self, now: datetime | None) -> str:
        return timefmt.keap((now or timefmt.now()) - timedelta(seconds=self.overlap_s))

    @property
    def may_slice(self) -> bool:
        """A pass just begun from no cursor (a full pass) of an object Keap can slice."""
        return (
            self.in_pass
            and self.spec.sliceable
            and not self.cursor
            and not self.slices
            and not self.records
            and self.hwm is None
            and self.after_id is None
            and self.page_token is None
        )

    def slice(self, slices: list[Slice], now: datetime | None = None) -> None:
        """Read this pass in `slices`; its start becomes the cursor at its end."""
        self.slices = slices
        self.started = self._start_time(now)

    def request(self) -> tuple[Params, str | None]:
        """Parameters and page token of the first request of this run."""
        if self.spec.mode == "desc":
            return self.spec.pass_params(), self.page_token
        since = (self.hwm or self.since) if self.spec.mode == "asc" else self.since
        return self.spec.pass_params(since=since, after_id=self.after_id), None

    def stop_before(self) -> datetime | None:
        """desc: records older than this were synced by an earlier pass."""
        return timefmt.parse(self.since) if self.since else None

    def ends_with(self, page: Page, exhausted: bool) -> bool:
        """Whether `page` is the last this pass needs."""
        if exhausted:
            return True
        if self.spec.mode == "desc":
            stop = self.stop_before()
            return stop is not None and page.oldest is not None and page.oldest < stop
        return False

    def advance(self, page: Page) -> None:
        """Record a written page as the pass's new position."""
        self.records += page.count
        if page.newest is not None:
            newest = timefmt.keap(page.newest)
            current = timefmt.parse(self.hwm) if self.hwm else None
            if current is None or page.newest > current:
                self.hwm = newest
        if self.spec.mode == "id_asc" and page.max_id is not None:
            self.after_id = max(page.max_id, self.after_id or 0)
        if self.spec.mode == "desc":
            self.page_token = page.next_token

    def finish(self) -> None:
        """The pass reached its end: move the cursor and forget the position."""
        new = self.started if self.spec.mode == "id_asc" or self.slices else self.hwm
        if new and timefmt.later(new, self.cursor):
            self.cursor = new
        self.in_pass = False
        self.hwm = self.since = self.started = self.page_token = None
        self.after_id = None
        self.slices = []
        self.records = 0
        self.completed_at = timefmt.keap(timefmt.now())

    def restart_pass(self) -> None:
        """Keap refused the stored page token: read the pass again from its start."""
        self.page_token = None
