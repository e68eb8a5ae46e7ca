"""Turning ids into rows: what the webhook queue (and reconciliation) use.

Keap's hooks carry ids, never values. `apply_ids` fetches the current records with
one Keap request per batch of ids (`filter=ids==1,2,3`, or a GET per id where the
object has no such filter) and writes each batch with one upsert. Ids Keap no longer
has are marked deleted; records Postgres refuses are reported (and quarantined, unless
the caller retries them itself).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from shared.keap.client import KeapClient
from shared.keap.errors import KeapNotFound
from shared.keap.streams import StreamSpec, get_stream
from shared.store.store import PageFacts, Store
from shared.sync.paginator import Paginator, read_page
from shared.sync.write import write_page


@dataclass
class ApplyResult:
    stream: str
    requested: int = 0
    found: int = 0
    written: int = 0  # rows that changed (an unchanged or older record writes nothing)
    missing: list[int] = field(default_factory=list)  # ids Keap does not have
    deleted: list[int] = field(default_factory=list)  # of those, rows now marked deleted
    cleaned: int = 0  # records whose text had to be made storable
    refused: dict[int, str] = field(default_factory=dict)  # id -> why Postgres refused it
    keap_requests: int = 0

    def add(self, facts: PageFacts) -> None:
        self.written += facts.written
        self.cleaned += facts.cleaned
        self.refused.update((r.id, r.error) for r in facts.refused)


def _batches(ids: list[int], size: int) -> Iterable[list[int]]:
    for start in range(0, len(ids), size):
        yield ids[start : start + size]


async def _fetch_batch(
    keap: KeapClient,
    spec: StreamSpec,
    store: Store,
    batch: list[int],
    result: ApplyResult,
    quarantine: str | None,
) -> set[int]:
    """Fetch and write one batch: one listing by ids, or a GET per id where Keap has no
    ids filter. Returns the ids Keap has."""
    if spec.ids_filter:
        pager = Paginator(keap, spec, spec.ids_params(batch))
        found: set[int] = set()
        while (page := await pager.next_page()) is not None:
            found.update(page.ids)
            if page.count:
                result.add(await write_page(store, spec, page, quarantine))
        return found
    records: list[str] = []
    for record_id in batch:
        try:
            response = await keap.get(*spec.get_request(record_id))
        except KeapNotFound:
            continue
        records.append(response.text)
    if not records:
        return set()
    # The records as Keap sent them, in the shape of a list response.
    page = read_page(spec, f'{{"{spec.items_key}":[{",".join(records)}]}}')
    result.add(await write_page(store, spec, page, quarantine))
    return set(page.ids)


async def apply_ids(
    stream_name: str,
    ids: Iterable[int | str],
    *,
    keap: KeapClient,
    store: Store,
    quarantine: str | None = "reconcile",
) -> ApplyResult:
    """Bring the rows of `ids` in line with Keap: upsert what Keap has, mark the rest deleted.

    Records Postgres refuses are in `refused`, and quarantined as coming from
    `quarantine` (None: the caller retries them first)."""
    spec = get_stream(stream_name)
    wanted = sorted({int(i) for i in ids})
    result = ApplyResult(stream=spec.name, requested=len(wanted))
    before = keap.requests
    for batch in _batches(wanted, spec.batch_size):
        found = await _fetch_batch(keap, spec, store, batch, result, quarantine)
        missing = [i for i in batch if i not in found]
        result.found += len(found)
        result.missing += missing
        result.deleted += await store.mark_deleted(spec.name, missing)
    result.keap_requests = keap.requests - before
    return result


async def mark_deleted(stream_name: str, ids: Iterable[int | str], *, store: Store) -> list[int]:
    """Mark rows deleted (a `*.delete` hook event); returns the ids that were live."""
    spec = get_stream(stream_name)
    return await store.mark_deleted(spec.name, sorted({int(i) for i in ids}))
