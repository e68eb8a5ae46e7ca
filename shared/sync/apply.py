"""Turning ids into rows: what the webhook queue (and reconciliation) use.

Keap's hooks carry ids, never values. `apply_ids` fetches the current records with
one Keap request per batch of ids (`filter=ids==1,2,3`, or a GET per id where the
object has no such filter) and writes each batch with one upsert. Ids Keap no longer
has are marked deleted.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from shared.keap.client import KeapClient
from shared.keap.errors import KeapNotFound
from shared.keap.streams import StreamSpec, get_stream
from shared.store.store import Store
from shared.sync.paginator import Paginator


@dataclass
class ApplyResult:
    stream: str
    requested: int = 0
    found: int = 0
    written: int = 0  # rows that changed (an unchanged or older record writes nothing)
    missing: list[int] = field(default_factory=list)  # ids Keap does not have
    deleted: list[int] = field(default_factory=list)  # of those, rows now marked deleted
    keap_requests: int = 0


def _batches(ids: list[int], size: int) -> Iterable[list[int]]:
    for start in range(0, len(ids), size):
        yield ids[start : start + size]


async def _fetch_listed(
    keap: KeapClient, spec: StreamSpec, store: Store, batch: list[int]
) -> tuple[set[int], int]:
    params: dict[str, Any] = {**spec.list_params(), "filter": spec.filter_by_ids(batch)}
    pager = Paginator(keap, spec, params)
    found: set[int] = set()
    written = 0
    while (page := await pager.next_page()) is not None:
        found.update(page.ids)
        if page.count:
            written += (await store.upsert(spec.name, page.payload, page.items_key)).written
    return found, written


async def _fetch_each(
    keap: KeapClient, spec: StreamSpec, store: Store, batch: list[int]
) -> tuple[set[int], int]:
    assert spec.get_path is not None
    params = spec.get_params()
    records: list[dict[str, Any]] = []
    for record_id in batch:
        try:
            response = await keap.get(spec.get_path.format(id=record_id), params)
        except KeapNotFound:
            continue
        records.append(response.json())
    written = await store.upsert_records(spec.name, records)
    return {int(r[spec.id_field]) for r in records}, written


async def apply_ids(
    stream_name: str, ids: Iterable[int | str], *, keap: KeapClient, store: Store
) -> ApplyResult:
    """Bring the rows of `ids` in line with Keap: upsert what Keap has, mark the rest deleted."""
    spec = get_stream(stream_name)
    wanted = sorted({int(i) for i in ids})
    result = ApplyResult(stream=spec.name, requested=len(wanted))
    before = keap.requests
    size = spec.ids_max if spec.ids_filter else 25
    for batch in _batches(wanted, size):
        if spec.ids_filter:
            found, written = await _fetch_listed(keap, spec, store, batch)
        else:
            found, written = await _fetch_each(keap, spec, store, batch)
        missing = [i for i in batch if i not in found]
        result.found += len(found)
        result.written += written
        result.missing += missing
        result.deleted += await store.mark_deleted(spec.name, missing)
    result.keap_requests = keap.requests - before
    return result


async def mark_deleted(stream_name: str, ids: Iterable[int | str], *, store: Store) -> list[int]:
    """Mark rows deleted (a `*.delete` hook event); returns the ids that were live."""
    spec = get_stream(stream_name)
    return await store.mark_deleted(spec.name, sorted({int(i) for i in ids}))
