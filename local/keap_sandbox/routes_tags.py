"""Tags and tag applications (v2): contacts of a tag, tags of a contact, applyTags,
removeTags."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from . import filters, paging, render
from .errors import ApiError, json_response
from .kinds import (
    CONTACT_TAG_FILTERS,
    CONTACT_TAG_ORDER,
    TAG_CONTACT_FILTERS,
    TAG_CONTACT_ORDER,
)
from .parsing import (
    checked,
    contact_of_path,
    json_body,
    ordering,
    page_in_memory,
    page_size,
    path_id,
    sandbox_of,
    served,
)
from .timefmt import iso

Record = dict[str, Any]
router = APIRouter()

TAG_CONTACTS = served("GET", "/v2/tags/{tag_id}/contacts")
CONTACT_TAGS = served("GET", "/v2/contacts/{contact_id}/tags")
APPLY_TAGS = served("POST", "/v2/tags/{tag_id}/contacts:applyTags")
REMOVE_TAGS = served("POST", "/v2/tags/{tag_id}/contacts:removeTags")


async def _tag_contacts(request: Request) -> Response:
    """GET /v2/tags/{tag_id}/contacts: contacts carrying the tag (scans all contacts)."""
    sb = sandbox_of(request)
    op, q = checked(request, TAG_CONTACTS)
    tag_id = path_id(request, "tag_id")
    if not sb.records["tags"].exists(tag_id):
        raise ApiError(404, f"Tag {tag_id} not found")
    size = page_size(q)
    order = ordering(q.order, TAG_CONTACT_ORDER)
    query = filters.apply_conditions(q.conditions, op.filters, TAG_CONTACT_FILTERS)
    fp = paging.fingerprint(request.url.path, q.first("filter"), order.name, str(order.desc))
    after = paging.decode(q.first("page_token"), fp)
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


async def _contact_tags(request: Request) -> Response:
    """GET /v2/contacts/{contact_id}/tags: the contact's tags with their applied times."""
    sb = sandbox_of(request)
    op, q = checked(request, CONTACT_TAGS)
    contact_id = contact_of_path(sb, request)
    size = page_size(q)
    order = ordering(q.order, CONTACT_TAG_ORDER)
    query = filters.apply_conditions(q.conditions, op.filters, CONTACT_TAG_FILTERS)
    fp = paging.fingerprint(request.url.path, q.first("filter"), order.name, str(order.desc))
    after = paging.decode(q.first("page_token"), fp)
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
    checked(request, APPLY_TAGS)
    tag_id = path_id(request, "tag_id")
    results = sb.records.apply_tag(tag_id, await _tag_body_ids(request))
    return json_response({"results": results})


async def _remove_tags(request: Request) -> Response:
    sb = sandbox_of(request)
    checked(request, REMOVE_TAGS)
    tag_id = path_id(request, "tag_id")
    sb.records.remove_tag(tag_id, await _tag_body_ids(request))
    return Response(status_code=204)


router.add_api_route("/v2/tags/{tag_id}/contacts:applyTags", _apply_tags, methods=["POST"])
router.add_api_route("/v2/tags/{tag_id}/contacts:removeTags", _remove_tags, methods=["POST"])
router.add_api_route("/v2/tags/{tag_id}/contacts", _tag_contacts, methods=["GET"])
router.add_api_route("/v2/contacts/{contact_id}/tags", _contact_tags, methods=["GET"])
