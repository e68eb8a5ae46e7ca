"""Opaque page tokens: a position (sort key, id) plus a fingerprint of the query.

A position rather than an offset, so records edited, created or deleted between pages
never make a page skip or repeat the records around them.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from .errors import ApiError


@dataclass(frozen=True)
class Cursor:
    key: Any  # the sort key of the last record returned
    id: int


def fingerprint(*parts: str | None) -> str:
    """Identifies the query a token belongs to (route, filter, order); not page_size."""
    return hashlib.sha256("\x1f".join(p or "" for p in parts).encode()).hexdigest()[:16]


def encode(cursor: Cursor, query_fp: str) -> str:
    raw = json.dumps({"k": cursor.key, "i": cursor.id, "q": query_fp}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode(token: str | None, query_fp: str) -> Cursor | None:
    if not token:
        return None
    try:
        padded = token + "=" * (-len(token) % 4)
        data = json.loads(base64.urlsafe_b64decode(padded.encode()))
        cursor, fp = Cursor(data["k"], int(data["i"])), data["q"]
    except (ValueError, KeyError, TypeError) as exc:
        raise ApiError(400, "Invalid page_token") from exc
    if fp != query_fp:
        raise ApiError(400, "page_token does not belong to this query (filter or order_by changed)")
    return cursor
