"""Which sync stream, and what to do, for each Keap hook event key.

Keap posts ids only. An add or edit means "fetch these ids and upsert them", a delete
means "mark these rows deleted". Tag applications change a contact's `tag_ids`, so they
refresh the contacts concerned.
"""

from __future__ import annotations

from dataclasses import dataclass

from shared.keap.streams import STREAMS_BY_HOOK_OBJECT

UPSERT = "upsert"
DELETE = "delete"

TAG_APPLICATIONS = ("contactGroup.applied", "contactGroup.removed")

DEFAULT_EVENT_KEYS: tuple[str, ...] = (
    *(f"{noun}.{verb}" for noun in STREAMS_BY_HOOK_OBJECT for verb in ("add", "edit", "delete")),
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
    spec = STREAMS_BY_HOOK_OBJECT.get(noun)
    if spec is None or not verb or "." in verb:  # e.g. invoice.payment.add
        return None
    return Route(spec.name, DELETE if verb == "delete" else UPSERT)
