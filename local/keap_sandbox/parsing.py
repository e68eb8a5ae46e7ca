"""Shared request parsing for v2 endpoints: strict query parameters, ids, bodies,
page_size, order_by, update_mask."""

from __future__ import annotations

import bisect
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from starlette.requests import Request

from .errors import ApiError
from .kinds import OrderKey
from .paging import Cursor

if TYPE_CHECKING:
    from .sandbox import Sandbox

DEFAULT_PAGE_SIZE = 1000
MAX_PAGE_SIZE = 1000


def check_params(request: Request, allowed: Iterable[str]) -> None:
    """Refuse any query parameter the spec does not define for this operation.

    Stricter than Keap (which ignores unknown ones), so a client sending v1-style
    `limit`/`offset` fails in tests instead of silently reading page one forever.
    """
    allowed = set(allowed)
    unknown = sorted({k for k in request.query_params if k not in allowed})
    if unknown:
        listed = ", ".join(sorted(allowed)) or "none"
        raise ApiError(400, f"Unknown query parameter(s): {', '.join(unknown)}. Allowed: {listed}")


def page_size(request: Request) -> int:
    raw = request.query_params.get("page_size")
    if raw is None or raw == "":
        return DEFAULT_PAGE_SIZE
    try:
        size = int(raw)
    except ValueError as exc:
        raise ApiError(400, "page_size must be an integer") from exc
    if size < 0 or size > MAX_PAGE_SIZE:
        raise ApiError(400, f"page_size must be between 0 and {MAX_PAGE_SIZE}")
    return size or DEFAULT_PAGE_SIZE


@dataclass(frozen=True)
class Ordering:
    name: str
    key: OrderKey
    desc: bool


DEFAULT_ORDER = Ordering("id", OrderKey("id"), False)


def ordering(raw: str | None, options: dict[str, OrderKey]) -> Ordering:
    """`order_by=<field>[ asc|desc]`; without it, records come in ascending id order."""
    if not raw:
        return DEFAULT_ORDER
    parts = raw.replace(",", " ").split()
    name = parts[0]
    direction = parts[1].lower() if len(parts) > 1 else "asc"
    if name not in options or direction not in ("asc", "desc") or len(parts) > 2:
        allowed = ", ".join(options)
        raise ApiError(400, f"Invalid order_by '{raw}'. Fields: {allowed}; directions: asc, desc")
    return Ordering(name, options[name], direction == "desc")


def cursor_fits(cursor: Cursor | None, order: Ordering) -> None:
    """A token's key must have the type its ordering produces (guards hand-made tokens)."""
    if cursor is not None and order.key.by != "field" and not isinstance(cursor.key, int):
        raise ApiError(400, "Invalid page_token")


def mask(request: Request) -> list[str] | None:
    """`update_mask`, given as repeated parameters or one comma-separated list."""
    values = request.query_params.getlist("update_mask")
    if not values:
        return None
    return [n.strip() for v in values for n in v.split(",") if n.strip()]


def page_in_memory(
    entries: list[tuple[Any, int, dict[str, Any]]], desc: bool, after: Cursor | None, limit: int
) -> tuple[list[dict[str, Any]], Cursor | None]:
    """Page a small, already filtered list of (sort key, id, item)."""
    entries = sorted(entries, key=lambda e: (e[0], e[1]))
    keys = [(e[0], e[1]) for e in entries]
    if desc:
        stop = len(entries) if after is None else bisect.bisect_left(keys, (after.key, after.id))
        chosen = entries[:stop][::-1]
    else:
        start = 0 if after is None else bisect.bisect_right(keys, (after.key, after.id))
        chosen = entries[start:]
    page = chosen[:limit]
    more = len(chosen) > limit
    return [e[2] for e in page], (Cursor(page[-1][0], page[-1][1]) if more and page else None)


def sandbox_of(request: Request) -> Sandbox:
    return request.app.state.sandbox  # type: ignore[no-any-return]


def path_id(request: Request, name: str) -> int:
    raw = request.path_params[name]
    try:
        value = int(raw)
    except ValueError as exc:
        raise ApiError(400, f"Invalid {name} '{raw}'") from exc
    if value <= 0:
        raise ApiError(400, f"Invalid {name} '{raw}'")
    return value


async def json_body(request: Request) -> Any:
    raw = await request.body()
    try:
        return json.loads(raw or b"null")
    except json.JSONDecodeError as exc:
        raise ApiError(400, f"Request body is not valid JSON: {exc.msg}") from exc


def contact_of_path(sb: Sandbox, request: Request) -> int:
    contact_id = path_id(request, "contact_id")
    if not sb.records["contacts"].exists(contact_id):
        raise ApiError(404, f"Contact {contact_id} not found")
    return contact_id
