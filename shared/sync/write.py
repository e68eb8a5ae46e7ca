"""Writing a page Keap sent: one statement, whatever the page holds.

A page that lists an id twice is written again with the last copy of each. Records
Postgres refuses (see `Store.upsert`) are quarantined here for the sync's own reads,
which move on past them; the webhook queue retries them first (`quarantine=None`).
"""

from __future__ import annotations

import logging

from shared.keap.streams import StreamSpec
from shared.store.store import CARDINALITY_VIOLATION, PageFacts, Store, StoreError
from shared.sync.paginator import Page, read_page

log = logging.getLogger("keap_sync.write")


async def write_page(
    store: Store, spec: StreamSpec, page: Page, quarantine: str | None
) -> PageFacts:
    """Upsert `page`; refused records go to `keap.quarantine` marked with the source
    `quarantine` (None: only reported, in the facts)."""
    try:
        facts = await store.upsert(spec.name, page.payload, page.items_key)
    except StoreError as exc:
        if exc.sqlstate != CARDINALITY_VIOLATION or page.items_key is None:
            raise
        # The page lists an id twice: keep the last copy of each and write again.
        deduped = read_page(spec, page.payload, page.number)
        page.payload, page.items_key = deduped.payload, deduped.items_key
        facts = await store.upsert(spec.name, page.payload, page.items_key)
    if facts.cleaned:
        log.info(
            "%s: %d record(s) held text Postgres cannot store; cleaned", spec.name, facts.cleaned
        )
    if facts.refused and quarantine is not None:
        await store.quarantine(spec.name, facts.refused, quarantine)
        for record in facts.refused:
            log.warning("%s %d quarantined: %s", spec.name, record.id, record.error)
    return facts
