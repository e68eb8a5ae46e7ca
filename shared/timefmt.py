"""Time as this product reads and writes it: the one module that knows a time's spelling.

Every time it writes (cursors, filters, status pages, health, hook dedup keys) is in one
spelling, the one Keap's filters accept: UTC, milliseconds, `Z`
(`2025-04-16T20:33:02.321Z`).

What it reads as a Keap date-time is what Keap sends in records and in hook deliveries
(`object_keys[].timestamp`): an ISO 8601 date and time to the second, with an optional
fraction and zone, e.g. `2025-04-16T20:33:02.321Z` (v2 records), `2016-06-13T21:46:22Z`,
`2024-03-15T10:30:00.000+0000` (the spec's stage moves) or `...+00:00`. A time without a
zone is UTC, as Keap documents its times. A date alone (`2025-04-16`), a time without
seconds, week dates and the basic format (`20250416T...`) are not Keap date-times.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

_DATE_TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:?\d{2})?")


def parse(value: object) -> datetime | None:
    """A Keap date-time as an aware UTC datetime; None for anything else."""
    if not isinstance(value, str) or not _DATE_TIME.fullmatch(value):
        return None
    try:
        dt = datetime.fromisoformat(value)
        return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)
    except (ValueError, OverflowError):  # a month 13; a zone past the calendar's edge
        return None


def normalize(value: str) -> str:
    """A Keap date-time (surrounding blanks aside) in the one spelling; ValueError else."""
    dt = parse(value.strip())
    if dt is None:
        raise ValueError("must be an ISO 8601 date-time, e.g. 2025-04-16T20:33:02.321Z")
    return keap(dt)


def keap(dt: datetime) -> str:
    """The one spelling: UTC with milliseconds and a `Z` (a naive time is taken as UTC)."""
    utc = dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)
    return utc.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def from_epoch(seconds: float | None) -> str | None:
    """Epoch seconds (what the coordinator stores) in the one spelling."""
    return None if seconds is None else keap(datetime.fromtimestamp(seconds, UTC))


def shift(value: str, seconds: float) -> str:
    """A stored time moved by `seconds` (negative: earlier)."""
    dt = parse(value)
    if dt is None:
        raise ValueError(f"not a Keap time: {value!r}")
    return keap(dt + timedelta(seconds=seconds))


def later(a: str, b: str | None) -> bool:
    """Whether time `a` is after `b` (anything is after no time, nothing unreadable is)."""
    ta, tb = parse(a), parse(b)
    return ta is not None and (tb is None or ta > tb)


def now() -> datetime:
    return datetime.now(UTC)
