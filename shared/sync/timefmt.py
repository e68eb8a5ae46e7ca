"""Keap's time format (`2025-04-16T20:33:02.321Z`), parsed and written."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


def parse(value: object) -> datetime | None:
    """A Keap date-time as an aware datetime; None for anything else."""
    if not isinstance(value, str) or len(value) < 19:
        return None
    try:
        dt = datetime.fromisoformat(value)
    except ValueError:
        return None
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt


def keap(dt: datetime) -> str:
    """The form Keap's filters accept: UTC with milliseconds and a `Z`."""
    dt = dt.astimezone(UTC)
    return f"{dt:%Y-%m-%dT%H:%M:%S}.{dt.microsecond // 1000:03d}Z"


def shift(value: str, seconds: float) -> str:
    """A stored Keap time moved by `seconds` (negative: earlier)."""
    dt = parse(value)
    if dt is None:
        raise ValueError(f"not a Keap time: {value!r}")
    return keap(dt + timedelta(seconds=seconds))


def now() -> datetime:
    return datetime.now(UTC)
