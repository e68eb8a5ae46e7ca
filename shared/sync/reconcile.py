"""Finding deletes: compare the ids Keap lists with the ids in the table.

Keap has no list of deleted records, so a record deleted while its hook was lost is
found only by comparison. Objects Keap can list in id order are compared window by
window (Keap's ids in (a, b] against the table's), with the position checkpointed,
so memory stays at one page and a million contacts spread over several runs.
The few objects Keap cannot order by id (tags, products, opportunities) are small:
their ids are collected whole and compared once.

Rows written after a page was listed are never marked, and ids Keap lists that the
table lacks are fetched, so reconciliation also heals rows a sync missed.
"""

from __future__ import annotations

from typing import Any

from shared import timefmt
from shared.keap.client import KeapClient
from shared.keap.streams import StreamSpec, get_stream
from shared.store.store import Store
from shared.sync.apply import apply_ids
from shared.sync.paginator import Paginator, read_page
from shared.sync.run import Run, StreamResult, stream_errors

MISSING_FETCH_BATCHES = 5  # per window; more missing rows than this call for a full sync


def state_key(stream: str) -> str:
    """Reconciliation keeps its position apart from the stream's sync state."""
    return f"reconcile:{stream}"


async def reconcile_streams(run: Run, keap: KeapClient, store: Store, names: list[str]) -> None:
    states = await run.stream_states()
    # Least recently reconciled first, so small budgets still get round to every stream.
    names = sorted(names, key=lambda n: (states.get(state_key(n)) or {}).get("completed_at") or "")
    for name in names:
        if run.must_stop():
            break
        spec = get_stream(name)
        stored = states.get(state_key(name)) or {}
        refused = (states.get(name) or {}).get("refused")
        async with stream_errors(run, name, state_key(name), lambda s=stored: s):
            if spec.id_order and spec.id_compare:
                await _by_windows(run, keap, store, spec, stored, refused)
            else:
                await _whole_set(run, keap, store, spec, refused)


async def _fetch_missing(
    run: Run,
    keap: KeapClient,
    store: Store,
    spec: StreamSpec,
    missing: list[int],
    refused: dict[str, Any] | None,
) -> None:
    """Fetch the records the table lacks, unless there are too many (then say what helps:
    a full sync, or, while Keap refuses the stream's sync, what Keap said)."""
    result = run.result.streams[spec.name]
    if not missing:
        return
    if len(missing) > spec.ids_max * MISSING_FETCH_BATCHES:
        if refused:
            why = f"Keap refuses its sync (HTTP {refused.get('status')}: {refused.get('message')})"
        else:
            why = "run a full sync"
        note = f"{spec.name}: {len(missing)} records are missing from the table; {why}"
        if note not in run.result.errors:
            run.result.errors.append(note)
        return
    applied = await apply_ids(spec.name, missing, keap=keap, store=store)
    result.fetched_missing += applied.found
    result.cleaned += applied.cleaned
    result.quarantined += len(applied.refused)


async def _by_windows(
    run: Run,
    keap: KeapClient,
    store: Store,
    spec: StreamSpec,
    stored: dict[str, Any],
    refused: dict[str, Any] | None,
) -> None:
    result: StreamResult = run.result.streams[spec.name]
    result.status = "partial"
    after = int(stored.get("after_id") or 0)
    started = stored.get("started") or timefmt.keap(timefmt.now())
    key = state_key(spec.name)
    while True:
        if run.must_stop():
            return
        begun = run.budget.page_started()
        listed_at = timefmt.now()
        # A keyset read (`id > after`), not a page token: resumable in any later run.
        response = await keap.get(spec.path, spec.id_window_params(after))
        page = read_page(spec, response.content)
        ids = sorted(page.ids)
        final = not page.next_token or not ids
        upto = None if final else ids[-1]
        window = await store.reconcile_window(spec.name, after, upto, ids, listed_at)
        if spec.id_fields and len(spec.id_fields) > 1:
            result.written += await store.refresh(spec.name, page.payload, page.items_key)
        await _fetch_missing(run, keap, store, spec, window.missing, refused)
        result.pages += 1
        result.records += len(ids)
        result.deleted += len(window.deleted)
        if final:
            state = {"after_id": None, "completed_at": timefmt.keap(timefmt.now())}
            await run.checkpoint(key, state, pages=1, records=len(ids))
            run.budget.page_done(begun)
            result.status = "complete"
            return
        after = ids[-1]
        await run.checkpoint(key, {"after_id": after, "started": started}, 1, len(ids))
        run.budget.page_done(begun)


async def _whole_set(
    run: Run, keap: KeapClient, store: Store, spec: StreamSpec, refused: dict[str, Any] | None
) -> None:
    result: StreamResult = run.result.streams[spec.name]
    result.status = "partial"
    listed_at = timefmt.now()
    pager = Paginator(keap, spec, spec.whole_set_params())
    in_keap: set[int] = set()
    while not pager.exhausted:
        if run.must_stop():
            return  # nothing is marked from an incomplete listing
        begun = run.budget.page_started()
        page = await pager.next_page()
        run.budget.page_done(begun)
        if page is None:
            break
        in_keap.update(page.ids)
        result.pages += 1
        result.records += page.count
        await run.keep_lease()
    in_table = await store.live_ids(spec.name)
    gone = [i for i in in_table if i not in in_keap]
    deleted = await store.mark_deleted(spec.name, gone, written_before=listed_at)
    result.deleted += len(deleted)
    table_ids = set(in_table)
    wanted = sorted(i for i in in_keap if i not in table_ids)
    await _fetch_missing(run, keap, store, spec, wanted, refused)
    state = {"completed_at": timefmt.keap(timefmt.now()), "keap_ids": len(in_keap)}
    await run.checkpoint(state_key(spec.name), state, pages=0, records=0)
    result.status = "complete"
