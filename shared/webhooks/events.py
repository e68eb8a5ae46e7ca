"""Which sync stream, and what to do, for each Keap hook event key.

Keap posts ids only. An add or edit means "fetch these ids and upsert them", a delete
means "mark these rows deleted". Tag applications change a contact's `tag_ids`, so they
refresh the contacts concerned.
"""

from __future__ import annotations

from dataclasses import dataclass

UPSERT = "upsert"
DELETE = "delete"

# Keap object type (the event key's noun) -> the sync engine's stream name.
STREAMS: dict[str, str] = {
    "contact": "contacts",
    "company": "companies",
    "opportunity": "opportunities",
    "order": "orders",
    "invoice": "orders",
    "task": "tasks",
    "note": "notes",
    "product": "products",
    "subscription": "subscriptions",
    "contactGroup": "tags",
}
TAG_APPLICATIONS = ("contactGroup.applied", "contactGroup.removed")

DEFAULT_EVENT_KEYS: tuple[str, ...] = (
    *(f"{noun}.{verb}" for noun in STREAMS for verb in ("add", "edit", "delete")),
    *TAG_APPLICATIONS,
)


@dataclass(frozen=True)
class Route:
    stream: str
    action: str  # UPSERT | DELETE


def route(event_key: str) -> Route | None:
    """Where events of `event_key` go; None for keys this product does not sync."""
    if event_key in TAG_APPLICATIONS:
        return Route("contacts", UPSERT)
    noun, _, verb = event_key.partition(".")
    stream = STREAMS.get(noun)
    if stream is None or not verb or "." in verb:  # e.g. invoice.payment.add
        return None
    return Route(stream, DELETE if verb == "delete" else UPSERT)
