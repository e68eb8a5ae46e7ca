"""REST v2 object endpoints under /crm/rest/v2: list, get, create, update and delete for
each object, and notes under their contact (tags and the model: routes_tags)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from . import bodies, filters, paging, render
from .errors import ApiError, json_response
from .filters import Match
from .kinds import KINDS, KindSpec, Projection
from .openapi import FilterField, Operation
from .parsing import (
    CheckedQuery,
    checked,
    contact_of_path,
    cursor_fits,
    json_body,
    ordering,
    page_size,
    path_id,
    sandbox_of,
    served,
)

if TYPE_CHECKING:
    from .sandbox import Sandbox

Record = dict[str, Any]
Handler = Callable[[Request], Awaitable[Response]]

router = APIRouter()
_OF_CONTACT = FilterField("contact_id", "String")  # notes listed under their contact


def _projection(spec: KindSpec, op: Operation, query: CheckedQuery) -> Projection:
    return spec.projection(op.fields, query.fields)


# -- generic object endpoints ----------------------------------------------------------


def _list_handler(spec: KindSpec, key: str, scoped_to_contact: bool = False) -> Handler:
    async def handler(request: Request) -> Response:
        sb = sandbox_of(request)
        coll = sb.records[spec.name]
        contact_id = path_id(request, "contact_id") if scoped_to_contact else None
        if contact_id is not None and not sb.records["contacts"].exists(contact_id):
            raise ApiError(404, f"Contact {contact_id} not found")
        tags_version = sb.records["tags"].version if spec.name == "contacts" else 0
        cache_key = (
            spec.name,
            coll.version,
            tags_version,
            request.url.path,
            str(request.query_params),
        )
        cached = sb.page_cache.get(cache_key)
        if cached is not None:  # only answers to queries that fit the spec are kept
            return Response(cached, media_type="application/json")

        op, q = checked(request, key)
        size = page_size(q)
        order = ordering(q.order, spec.order_by)
        query = filters.apply_conditions(q.conditions, op.filters, spec.filters)
        if contact_id is not None:
            Match(lambda r: r.get("contact_id")).apply(query, _OF_CONTACT, "==", str(contact_id))
        raw_filter = q.first("filter")
        fp = paging.fingerprint(request.url.path, raw_filter, order.name, str(order.desc))
        after = paging.decode(q.first("page_token"), fp)
        cursor_fits(after, order)

        records, next_cursor = coll.list(query, order.key, order.desc, after, size)
        token = paging.encode(next_cursor, fp) if next_cursor else None
        body = render.list_body(sb, spec, records, _projection(spec, op, q), token)
        sb.page_cache.put(cache_key, body)
        return Response(body, media_type="application/json")

    return handler


def _get_handler(spec: KindSpec, key: str, id_param: str) -> Handler:
    async def handler(request: Request) -> Response:
        sb = sandbox_of(request)
        op, q = checked(request, key)
        record_id = path_id(request, id_param)
        record = _existing(sb, spec, record_id, request)
        return json_response(render.view(sb, record, _projection(spec, op, q)))

    return handler


def _create_handler(spec: KindSpec, key: str) -> Handler:
    async def handler(request: Request) -> Response:
        sb = sandbox_of(request)
        op, q = checked(request, key)
        projection = _projection(spec, op, q)
        body = await json_body(request)
        changes = bodies.checked_changes(spec.name, body, creating=True, mask=None)
        option = q.first("duplicate_option")
        duplicate = _duplicate_contact(sb, option, changes) if option else None
        if duplicate is not None:
            record = sb.records.update("contacts", duplicate, changes)
            return json_response(render.view(sb, record, projection), 200)
        if "contact_id" in request.path_params:
            changes["contact_id"] = str(contact_of_path(sb, request))
        record = sb.records.create(spec.name, changes)
        return json_response(render.view(sb, record, projection), 201)

    return handler


def _update_handler(spec: KindSpec, key: str, id_param: str) -> Handler:
    async def handler(request: Request) -> Response:
        sb = sandbox_of(request)
        op, q = checked(request, key)
        record_id = path_id(request, id_param)
        _existing(sb, spec, record_id, request)
        body = await json_body(request)
        mask = q.values.get("update_mask")  # its names are the spec's enum, checked
        changes = bodies.checked_changes(spec.name, body, creating=False, mask=mask)
        record = sb.records.update(spec.name, record_id, changes)
        return json_response(render.view(sb, record, _projection(spec, op, q)))

    return handler


def _delete_handler(spec: KindSpec, key: str, id_param: str) -> Handler:
    async def handler(request: Request) -> Response:
        sb = sandbox_of(request)
        checked(request, key)
        record_id = path_id(request, id_param)
        _existing(sb, spec, record_id, request)
        sb.records.delete(spec.name, record_id)
        return Response(status_code=204)

    return handler


def _existing(sb: Sandbox, spec: KindSpec, record_id: int, request: Request) -> Record:
    record = sb.records[spec.name].get(record_id)
    if record is None:
        raise ApiError(404, f"{spec.item.capitalize()} {record_id} not found")
    in_contact = "contact_id" in request.path_params and spec.name == "notes"
    if in_contact and record.get("contact_id") != str(contact_of_path(sb, request)):
        raise ApiError(404, f"Note {record_id} not found for this contact")
    return record


def _duplicate_contact(sb: Sandbox, option: str, changes: Record) -> int | None:
    """`duplicate_option=Email[AndName[AndCompany]]` (the spec's enum): the contact to update."""
    emails = {e.get("email", "").casefold() for e in changes.get("email_addresses") or []}
    if not emails:
        return None
    contacts = sb.records["contacts"]
    for contact_id in contacts.live_ids():  # a scan: fine for the sizes this is used with
        contact = contacts.get(contact_id, custom_fields=False) or {}
        theirs = {e.get("email", "").casefold() for e in contact.get("email_addresses") or []}
        if not emails & theirs:
            continue
        if "Name" in option and (contact.get("given_name"), contact.get("family_name")) != (
            changes.get("given_name"),
            changes.get("family_name"),
        ):
            continue
        if "Company" in option and (contact.get("company") or {}).get("id") != (
            changes.get("company") or {}
        ).get("id"):
            continue
        return contact_id
    return None


# -- registration ----------------------------------------------------------------------

ID_PARAMS = {
    "contacts": "contact_id",
    "companies": "company_id",
    "opportunities": "opportunity_id",
    "orders": "order_id",
    "tasks": "task_id",
    "products": "product_id",
    "tags": "tag_id",
    "subscriptions": "subscription_id",
}


def _route(path: str, method: str, make: Callable[[str], Handler]) -> None:
    router.add_api_route(path, make(served(method, path)), methods=[method])


def _register() -> None:
    notes = KINDS["notes"]
    base = "/v2/contacts/{contact_id}/notes"
    one = base + "/{note_id}"
    _route("/v2/notes", "GET", lambda k: _list_handler(notes, k))
    _route(base, "GET", lambda k: _list_handler(notes, k, scoped_to_contact=True))
    _route(base, "POST", lambda k: _create_handler(notes, k))
    _route(one, "GET", lambda k: _get_handler(notes, k, "note_id"))
    _route(one, "PATCH", lambda k: _update_handler(notes, k, "note_id"))
    _route(one, "DELETE", lambda k: _delete_handler(notes, k, "note_id"))
    for name, spec in KINDS.items():
        if name == "notes":
            continue
        id_param = ID_PARAMS[name]
        item = f"/v2/{name}/{{{id_param}}}"
        _route(f"/v2/{name}", "GET", lambda k, s=spec: _list_handler(s, k))
        _route(f"/v2/{name}", "POST", lambda k, s=spec: _create_handler(s, k))
        _route(item, "GET", lambda k, s=spec, i=id_param: _get_handler(s, k, i))
        _route(item, "PATCH", lambda k, s=spec, i=id_param: _update_handler(s, k, i))
        if spec.deletable:
            _route(item, "DELETE", lambda k, s=spec, i=id_param: _delete_handler(s, k, i))


_register()
