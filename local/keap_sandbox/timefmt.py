"""Times as Keap v2 writes them (`2025-04-16T20:33:02.321Z`) and as epoch milliseconds."""

from __future__ import annotations

import time
from datetime import UTC, datetime

DAY_MS = 86_400_000
YEAR_MS = 365 * DAY_MS
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def now_ms() -> int:
    return int(time.time() * 1000)


def iso(ms: int) -> str:
    """Epoch milliseconds -> `YYYY-MM-DDTHH:MM:SS.mmmZ`."""
    t = time.gmtime(ms // 1000)
    return f"{t[0]:04d}-{t[1]:02d}-{t[2]:02d}T{t[3]:02d}:{t[4]:02d}:{t[5]:02d}.{ms % 1000:03d}Z"


def iso_date(ms: int) -> str:
    """Epoch milliseconds -> `YYYY-MM-DD`."""
    t = time.gmtime(ms // 1000)
    return f"{t[0]:04d}-{t[1]:02d}-{t[2]:02d}"


def parse_ms(text: str) -> int:
    """A full ISO-8601 date-time with a zone (`Z` or an offset) -> epoch milliseconds.

    Date-only values are refused, as Keap refuses them in filters.
    """
    value = text.strip()
    if len(value) <= 10:
        raise ValueError(f"not a date-time: {text!r}")
    dt = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    if dt.tzinfo is None:
        raise ValueError(f"date-time without a time zone: {text!r}")
    return round((dt - _EPOCH).total_seconds() * 1000)


def day_start_ms(ms: int) -> int:
    return ms - ms % DAY_MS


def datetime_ms(dt: datetime) -> int:
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return round((dt - _EPOCH).total_seconds() * 1000)
