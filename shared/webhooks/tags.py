"""Which records an event concerns. Usually the object's own id; for tag applications
(`contactGroup.applied` / `.removed`) the contacts whose `tag_ids` changed."""

from __future__ import annotations

from typing import Any

from shared.webhooks.events import TAG_APPLICATIONS
from shared.webhooks.models import ObjectKey, keap_id

# Where a tag-application object lists its contacts: `contactDetails` (objects with an
# `id`) or a plain list of ids.
CONTACT_LISTS = ("contactDetails", "contact_details", "contactIds", "contact_ids", "contacts")


def _ids(items: Any) -> list[int]:
    if not isinstance(items, list):
        return []
    found = []
    for item in items:
        value = item.get("id") if isinstance(item, dict) else item
        try:
            found.append(keap_id(value))
        except ValueError:
            continue
    return found


def affected_ids(event_key: str, key: ObjectKey) -> list[int]:
    if event_key not in TAG_APPLICATIONS:
        return [key.id]
    extra = key.model_extra or {}
    for name in CONTACT_LISTS:
        ids = _ids(extra.get(name))
        if ids:
            return ids
    return [key.id]
