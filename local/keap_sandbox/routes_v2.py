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
from .kinds import KINDS, KindSpec
from .parsing import (
    check_params,
    contact_of_path,
    cursor_fits,
    json_body,
    mask,
    ordering,
    page_size,
    path_id,
    sandbox_of,
)

if TYPE_CHECKING:
    from .sandbox import Sandbox

Record = dict[str, Any]
Handler = Callable[[Request], Awaitable[Response]]

router = APIRouter()


def _keep(spec: KindSpec, request: Request) -> frozenset[str] | None:
    if spec.fields is None:
        return None
    try:
        # Comma-separated (explode: false) or repeated (explode: true); the spec has both.
        values = request.query_params.getlist("fields")
        return spec.fields.select(",".join(values) if values else None)
    except ValueError as exc:
        raise ApiError(400, f"Invalid fields: {exc}") from exc


# -- generic object endpoints ----------------------------------------------------------


def _list_handler(spec: KindSpec, scoped_to_contact: bool = False) -> Handler:
    async def handler(request: Request) -> Response:
        sb = sandbox_of(request)
        check_params(request, spec.list_params)
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
        if cached is not None:
            return Response(cached, media_type="application/json")

        size = page_size(request)
        order = ordering(request.query_params.get("order_by"), spec.order_by)
        raw_filter = request.query_params.get("filter")
        query = filters.parse(raw_filter, spec.filters)
        names = filters.field_names(raw_filter)
        for a, b in spec.exclusive_filters:
            if a in names and b in names:
                raise ApiError(400, f"Filters '{a}' and '{b}' cannot be combined")
        if contact_id is not None:
            Match(lambda r: r.get("contact_id"), wildcard=False).apply(
                query, "contact_id", "==", str(contact_id)
            )
        fp = paging.fingerprint(request.url.path, raw_filter, order.name, str(order.desc))
        after = paging.decode(request.query_params.get("page_token"), fp)
        cursor_fits(after, order)
        keep = _keep(spec, request)

        records, next_cursor = coll.list(query, order.key, order.desc, after, size)
        token = paging.encode(next_cursor, fp) if next_cursor else None
        body = render.list_body(sb, spec, records, keep, token)
        sb.page_cache.put(cache_key, body)
        return Response(body, media_type="application/json")

    return handler


def _get_handler(spec: KindSpec, id_param: str) -> Handler:
    async def handler(request: Request) -> Response:
        sb = sandbox_of(request)
        check_params(request, spec.get_params)
        record_id = path_id(request, id_param)
        keep = _keep(spec, request)
        record = _existing(sb, spec, record_id, request)
        return json_response(render.view(sb, spec, record, keep))

    return handler


def _create_handler(spec: KindSpec) -> Handler:
    async def handler(request: Request) -> Response:
        sb = sandbox_of(request)
        check_params(request, spec.create_params)
        keep = _keep(spec, request)
        body = await json_body(request)
        changes = bodies.checked_changes(spec.name, body, creating=True, mask=None)
        duplicate = _duplicate_contact(sb, request, changes) if spec.name == "contacts" else None
        if duplicate is not None:
            record = sb.records.update("contacts", duplicate, changes)
            return json_response(render.view(sb, spec, record, keep), 200)
        if "contact_id" in request.path_params:
            changes["contact_id"] = str(contact_of_path(sb, request))
        record = sb.records.create(spec.name, changes)
        return json_response(render.view(sb, spec, record, keep), 201)

    return handler


def _update_handler(spec: KindSpec, id_param: str) -> Handler:
    async def handler(request: Request) -> Response:
        sb = sandbox_of(request)
        check_params(request, spec.update_params)
        record_id = path_id(request, id_param)
        keep = _keep(spec, request)
        _existing(sb, spec, record_id, request)
        body = await json_body(request)
        changes = bodies.checked_changes(spec.name, body, creating=False, mask=mask(request))
        record = sb.records.update(spec.name, record_id, changes)
        return json_response(render.view(sb, spec, record, keep))

    return handler


def _delete_handler(spec: KindSpec, id_param: str) -> Handler:
    async def handler(request: Request) -> Response:
        sb = sandbox_of(request)
        check_params(request, ())
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


def _duplicate_contact(sb: Sandbox, request: Request, changes: Record) -> int | None:
    """`duplicate_option=Email[AndName[AndCompany]]`: the existing contact to update."""
    option = request.query_params.get("duplicate_option")
    if option is None:
        return None
    if option not in ("Email", "EmailAndName", "EmailAndNameAndCompany"):
        raise ApiError(400, "Invalid duplicate_option")
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


def _register() -> None:
    notes = KINDS["notes"]
    router.add_api_route("/v2/notes", _list_handler(notes), methods=["GET"])
    base = "/v2/contacts/{contact_id}/notes"
    router.add_api_route(base, _list_handler(notes, scoped_to_contact=True), methods=["GET"])
    router.add_api_route(base, _create_handler(notes), methods=["POST"])
    router.add_api_route(base + "/{note_id}", _get_handler(notes, "note_id"), methods=["GET"])
    router.add_api_route(base + "/{note_id}", _update_handler(notes, "note_id"), methods=["PATCH"])
    router.add_api_route(base + "/{note_id}", _delete_handler(notes, "note_id"), methods=["DELETE"])
    for name, spec in KINDS.items():
        if name == "notes":
            continue
        id_param = ID_PARAMS[name]
        router.add_api_route(f"/v2/{name}", _list_handler(spec), methods=["GET"])
        router.add_api_route(f"/v2/{name}", _create_handler(spec), methods=["POST"])
        router.add_api_route(
            f"/v2/{name}/{{{id_param}}}", _get_handler(spec, id_param), methods=["GET"]
        )
        router.add_api_route(
            f"/v2/{name}/{{{id_param}}}", _update_handler(spec, id_param), methods=["PATCH"]
        )
        if spec.deletable:
            router.add_api_route(
                f"/v2/{name}/{{{id_param}}}", _delete_handler(spec, id_param), methods=["DELETE"]
            )


_register()
