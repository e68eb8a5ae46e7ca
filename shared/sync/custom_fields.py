"""Custom field definitions from Keap's model endpoints, read beside a run's pages.

A full run reads the model of each of its objects that has one; an incremental run reads
an object's model at most once an hour. The reads take the room the pages leave at
Keap's rate limit, and after the pages the room of the run's tail, as per-record reads do
(see `details.Gaps`): an incremental run reads the models right after its pages, and a
full run, which reads pages at Keap's rate ceiling, leaves the models it found no room
for due, so the next run reads them. The store rebuilds an object's view
(`keap.<object>_custom`) when its model changed. Keap refusing a model endpoint (a 4xx)
leaves that object's view as it is and the run goes on; a reader holding the view past
the rebuild's lock timeout defers the rebuild to a later run, and so, until they are
dropped, do views of the owner's own that read the view.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta

from shared import timefmt
from shared.keap.client import KeapClient
from shared.keap.streams import StreamSpec, get_stream
from shared.store import custom_fields
from shared.store.store import Store, StoreError
from shared.sync.details import Gaps
from shared.sync.run import Run, refused_by_keap

log = logging.getLogger("keap_sync.custom_fields")

INCREMENTAL_EVERY = timedelta(hours=1)
EVER = datetime(1970, 1, 1, tzinfo=UTC)  # a model never read is due
LOCK_NOT_AVAILABLE = "55P03"  # a reader held the view past the rebuild's lock timeout
DEPENDENT_OBJECTS = "2BP01"  # a view of the owner's reads this one: it cannot be dropped
NO_ROOM = object()  # a model the run had no room to read


async def read_models(
    run: Run, keap: KeapClient, store: Store, names: list[str], *, full: bool, gaps: Gaps
) -> list[str]:
    """Read the models of `names` that are due and apply them; the objects whose view
    was rebuilt."""
    # Nothing before the first pages: not even the database (which may be what fails).
    await gaps.wait()
    due = await _due(store, names, full)
    if not due or run.must_stop():
        return []
    # All at once: the pacer spaces them as Keap asks, and none waits for another's reply.
    reads = (_read_model(keap, s, gaps) for s in due)
    models = await asyncio.gather(*reads, return_exceptions=True)
    for model in models:
        if isinstance(model, BaseException):
            raise model
    rebuilt = []
    for spec, fields in zip(due, models, strict=True):
        assert not isinstance(fields, BaseException)
        if isinstance(fields, list) and await _apply(store, spec.name, fields):
            rebuilt.append(spec.name)
    left = [spec.name for spec, fields in zip(due, models, strict=True) if fields is NO_ROOM]
    if left:
        await custom_fields.mark_due(store, left)
    return rebuilt


async def _due(store: Store, names: list[str], full: bool) -> list[StreamSpec]:
    """The objects with a model whose model this run reads."""
    specs = [get_stream(n) for n in names if get_stream(n).model_path]
    if full or not specs:
        return specs
    read_at = await custom_fields.models_read_at(store)
    now = timefmt.now()
    return [s for s in specs if now - read_at.get(s.name, EVER) >= INCREMENTAL_EVERY]


async def _read_model(
    keap: KeapClient, spec: StreamSpec, gaps: Gaps
) -> list[custom_fields.Field] | object | None:
    """The fields of an object's model; None if Keap refuses it (logged), `NO_ROOM` if
    the run has none left for it."""
    assert spec.model_path is not None
    if not await gaps.take():
        return NO_ROOM
    try:
        body = (await keap.get(spec.model_path)).json()
    except Exception as exc:
        refused = refused_by_keap(exc)
        if refused is None:
            raise
        log.warning("%s: Keap refused its model (HTTP %s)", spec.name, refused["status"])
        return None
    items = body.get("custom_fields") if isinstance(body, dict) else None
    listed = [i for i in items or [] if isinstance(i, dict)]
    return [f for f in map(custom_fields.Field.from_model, listed) if f is not None]


async def _apply(store: Store, obj: str, fields: list[custom_fields.Field]) -> bool:
    try:
        return await custom_fields.apply_model(store, obj, fields)
    except StoreError as exc:
        if exc.sqlstate == LOCK_NOT_AVAILABLE:
            log.warning("%s: a reader holds its custom field view; rebuilt later", obj)
        elif exc.sqlstate == DEPENDENT_OBJECTS:
            log.warning(
                "%s: views of the database's owner depend on keap.%s_custom, which keeps "
                "its columns until they are dropped",
                obj,
                obj,
            )
        else:
            raise
    return False
