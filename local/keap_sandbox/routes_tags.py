"""Tags and tag applications (v2): contacts of a tag, tags of a contact, applyTags,
removeTags; and the contact model (custom field definitions)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from . import filters, paging, render
from .custom_fields import CONTACT_FIELDS
from .errors import ApiError, json_response
from .filters import Match, TimeField
from .kinds import CONTACT_TAGS_PARAMS, KINDS, TAG_CONTACTS_PARAMS, OrderKey
from .parsing import (
    check_params,
    contact_of_path,
    json_body,
    ordering,
    page_in_memory,
    page_size,
    path_id,
    sandbox_of,
)
from .timefmt import iso

Record = dict[str, Any]
router = APIRouter()

_TAG_CONTACT_FILTERS: dict[str, filters.FilterDef] = {
    "given_name": Match(lambda r: r.get("given_name"), wildcard=False, none_token=True),
    "family_name": Match(lambda r: r.get("family_name"), wildcard=False, none_token=True),
    "email": Match(lambda r: r.get("email"), wildcard=False, none_token=True),
    "since_applied_time": TimeField(lambda r: r.get("applied_time"), "min"),
    "until_applied_time": TimeField(lambda r: r.get("applied_time"), "max"),
}
_TAG_CONTACT_ORDER = {
    name: OrderKey("field", lambda r, n=name: r.get(n) or "")
    for name in ("given_name", "family_name", "email", "applied_time")
}


async def _tag_contacts(request: Request) -> Response:
    """GET /v2/tags/{tag_id}/contacts: contacts carrying the tag (scans all contacts)."""
    sb = sandbox_of(request)
    check_params(request, TAG_CONTACTS_PARAMS)
    tag_id = path_id(request, "tag_id")
    if not sb.records["tags"].exists(tag_id):
        raise ApiError(404, f"Tag {tag_id} not found")
    size = page_size(request)
    order = ordering(request.query_params.get("order_by"), _TAG_CONTACT_ORDER)
    raw_filter = request.query_params.get("filter")
    query = filters.parse(raw_filter, _TAG_CONTACT_FILTERS)
    fp = paging.fingerprint(request.url.path, raw_filter, order.name, str(order.desc))
    after = paging.decode(request.query_params.get("page_token"), fp)
    entries = []
    for contact_id, contact in sb.records.contacts_with_tag(tag_id):
        item: Record = {"id": contact["id"]}
        emails = contact.get("email_addresses") or []
        if emails:
            item["email"] = emails[0]["email"]
        for name in ("given_name", "family_name"):
            if contact.get(name):
                item[name] = contact[name]
        item["applied_time"] = iso(sb.records.tag_applied_ms(contact_id, tag_id))
        if query.matches_record(item):
            key = contact_id if order.key.by == "id" else order.key.get(item)  # type: ignore[misc]
            entries.append((key, contact_id, item))
    items, next_cursor = page_in_memory(entries, order.desc, after, size)
    token = paging.encode(next_cursor, fp) if next_cursor else None
    return Response(render.page("contacts", items, token), media_type="application/json")


_CONTACT_TAG_FILTERS: dict[str, filters.FilterDef] = {
    "name": Match(lambda r: r["tag"].get("name"), wildcard=False),
    "description": Match(lambda r: r["tag"].get("description"), wildcard=False),
    "category_id": Match(
        lambda r: (r["tag"].get("category") or {}).get("id"), wildcard=False, none_token=True
    ),
    "since_applied_time": TimeField(lambda r: r.get("applied_time"), "min"),
    "until_applied_time": TimeField(lambda r: r.get("applied_time"), "max"),
    "since_create_time": TimeField(lambda r: r["tag"].get("create_time"), "min"),
    "until_create_time": TimeField(lambda r: r["tag"].get("create_time"), "max"),
    "since_update_time": TimeField(lambda r: r["tag"].get("update_time"), "min"),
    "until_update_time": TimeField(lambda r: r["tag"].get("update_time"), "max"),
}
_CONTACT_TAG_ORDER = {
    "name": OrderKey("field", lambda r: r["tag"].get("name") or ""),
    "create_time": OrderKey("field", lambda r: r["tag"].get("create_time") or ""),
    "update_time": OrderKey("field", lambda r: r["tag"].get("update_time") or ""),
    "applied_time": OrderKey("field", lambda r: r.get("applied_time") or ""),
    "category_id": OrderKey(
        "field", lambda r: int((r["tag"].get("category") or {}).get("id") or 0)
    ),
}


async def _contact_tags(request: Request) -> Response:
    """GET /v2/contacts/{contact_id}/tags: the contact's tags with their applied times."""
    sb = sandbox_of(request)
    check_params(request, CONTACT_TAGS_PARAMS)
    contact_id = contact_of_path(sb, request)
    size = page_size(request)
    order = ordering(request.query_params.get("order_by"), _CONTACT_TAG_ORDER)
    raw_filter = request.query_params.get("filter")
    query = filters.parse(raw_filter, _CONTACT_TAG_FILTERS)
    fp = paging.fingerprint(request.url.path, raw_filter, order.name, str(order.desc))
    after = paging.decode(request.query_params.get("page_token"), fp)
    contact = sb.records["contacts"].get(contact_id, custom_fields=False) or {}
    entries = []
    for tag_id_text in sb.records.live_tag_ids(contact.get("tag_ids") or []):
        tag_id = int(tag_id_text)
        tag = sb.records["tags"].get(tag_id)
        if tag is None:
            continue
        item = {"tag": tag, "applied_time": iso(sb.records.tag_applied_ms(contact_id, tag_id))}
        if query.matches_record(item):
            key = tag_id if order.key.by == "id" else order.key.get(item)  # type: ignore[misc]
            entries.append((key, tag_id, item))
    items, next_cursor = page_in_memory(entries, order.desc, after, size)
    token = paging.encode(next_cursor, fp) if next_cursor else None
    return Response(render.page("tags", items, token), media_type="application/json")


async def _tag_body_ids(request: Request) -> list[int]:
    body = await json_body(request)
    if (
        not isinstance(body, dict)
        or set(body) != {"contact_ids"}
        or not isinstance(body["contact_ids"], list)
    ):
        raise ApiError(400, 'Body must be {"contact_ids": [...]}')
    ids = body["contact_ids"]
    if len(set(map(str, ids))) != len(ids):
        raise ApiError(400, "contact_ids must be unique")
    try:
        return [int(i) for i in ids]
    except (TypeError, ValueError) as exc:
        raise ApiError(400, "contact_ids must be numeric strings") from exc


async def _apply_tags(request: Request) -> Response:
    sb = sandbox_of(request)
    check_params(request, ())
    tag_id = path_id(request, "tag_id")
    results = sb.records.apply_tag(tag_id, await _tag_body_ids(request))
    return json_response({"results": results})


async def _remove_tags(request: Request) -> Response:
    sb = sandbox_of(request)
    check_params(request, ())
    tag_id = path_id(request, "tag_id")
    sb.records.remove_tag(tag_id, await _tag_body_ids(request))
    return Response(status_code=204)


async def _contact_model(request: Request) -> Response:
    check_params(request, ())
    spec = KINDS["contacts"]
    optional = sorted(spec.fields.hidden_by_default) if spec.fields else []
    return json_response(
        {"custom_fields": [f.model() for f in CONTACT_FIELDS], "optional_properties": optional}
    )


# app.py includes this router before routes_v2, whose /v2/contacts/{contact_id} would
# otherwise take "model".
router.add_api_route("/v2/contacts/model", _contact_model, methods=["GET"])
router.add_api_route("/v2/tags/{tag_id}/contacts:applyTags", _apply_tags, methods=["POST"])
router.add_api_route("/v2/tags/{tag_id}/contacts:removeTags", _remove_tags, methods=["POST"])
router.add_api_route("/v2/tags/{tag_id}/contacts", _tag_contacts, methods=["GET"])
router.add_api_route("/v2/contacts/{contact_id}/tags", _contact_tags, methods=["GET"])
