"""Shared request parsing for v2 endpoints: the query checked against Keap's spec, ids,
bodies, page_size, order_by."""

from __future__ import annotations

import bisect
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from starlette.requests import Request

from .errors import ApiError
from .kinds import OrderKey
from .openapi import Operation
from .paging import Cursor
from .query import CheckedQuery, QueryError, check_query

if TYPE_CHECKING:
    from .sandbox import Sandbox

DEFAULT_PAGE_SIZE = 1000

# "METHOD /v2/path" of every v2 operation the sandbox serves (each must be in the spec).
SERVED: list[str] = []


def served(method: str, path: str) -> str:
    """Register an operation the sandbox serves; its key into Keap's spec."""
    key = f"{method} {path}"
    SERVED.append(key)
    return key


def checked(request: Request, key: str) -> tuple[Operation, CheckedQuery]:
    """The operation and its query, if the query fits Keap's spec (else a 400)."""
    op = sandbox_of(request).operations[key]
    try:
        return op, check_query(op, request.query_params.multi_items())
    except QueryError as exc:
        raise ApiError(400, str(exc)) from exc


def no_query(request: Request) -> None:
    """v1 hook routes take no query parameters at all."""
    if request.query_params:
        unknown = ", ".join(sorted(set(request.query_params)))
        raise ApiError(400, f"Unknown query parameter(s): {unknown}. Allowed: none")


def page_size(query: CheckedQuery) -> int:
    """The spec's bounds are checked already; 0 or none means the default."""
    return query.page_size or DEFAULT_PAGE_SIZE


@dataclass(frozen=True)
class Ordering:
    name: str
    key: OrderKey
    desc: bool


DEFAULT_ORDER = Ordering("id", OrderKey("id"), False)


def ordering(order: tuple[str, bool] | None, options: dict[str, OrderKey]) -> Ordering:
    """The checked `order_by`; without it, records come in ascending id order."""
    if order is None:
        return DEFAULT_ORDER
    name, desc = order
    if name not in options:
        raise ApiError(
            400, f"order_by '{name}' is valid for Keap but not implemented by the sandbox"
        )
    return Ordering(name, options[name], desc)


def cursor_fits(cursor: Cursor | None, order: Ordering) -> None:
    """A token's key must have the type its ordering produces (guards hand-made tokens)."""
    if cursor is not None and order.key.by != "field" and not isinstance(cursor.key, int):
        raise ApiError(400, "Invalid page_token")


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
