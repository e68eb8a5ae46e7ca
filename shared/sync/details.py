"""Fields Keap leaves out of list responses, read per record (products' inventory count).

Only records written since their details were last read are fetched (the store keeps
`details_read_at` beside `synced_at`), one GET each, a few at a time, within the run's
budget: what a run leaves is read by the next one. A record Keap no longer has is
marked deleted.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

from shared.keap.client import KeapClient
from shared.keap.errors import KeapNotFound
from shared.keap.streams import StreamSpec
from shared.store.store import Store
from shared.sync.run import Run

CONCURRENCY = 3  # with the page in flight and its prefetch: under the Worker's 6 sockets
WRITE_EVERY = 25  # records per statement
BUDGET_SHARE = 3  # at most a third of a run's subrequests go to details


async def read_details(run: Run, keap: KeapClient, store: Store, spec: StreamSpec) -> None:
    """Read the `detail_fields` of the stream's records that changed; count them in the
    stream's `details_read`."""
    if not spec.detail_fields or spec.get_path is None:
        return
    path = spec.get_path
    result = run.result.streams[spec.name]
    ids = await store.pending_details(spec.name, run.budget.subrequests // BUDGET_SHARE)
    todo: Iterator[int] = iter(ids)
    texts: list[str] = []
    gone: list[int] = []

    async def flush() -> None:
        if texts:
            batch = f"[{','.join(texts)}]"
            texts.clear()
            result.details_read += await store.write_details(spec.name, batch)
            await run.keep_lease()

    async def reader() -> None:
        for record_id in todo:  # shared by the readers: each id is read once
            if run.budget.stop_reason(cost=1) is not None:
                return
            try:
                response = await keap.get(path.format(id=record_id))
            except KeapNotFound:
                gone.append(record_id)
                continue
            texts.append(response.text)
            if len(texts) >= WRITE_EVERY:
                await flush()

    readers = [asyncio.ensure_future(reader()) for _ in range(CONCURRENCY)]
    try:
        await asyncio.gather(*readers)  # the first failure, as it was raised
    finally:
        for task in readers:
            task.cancel()
        await asyncio.gather(*readers, return_exceptions=True)
    await flush()
    result.deleted += len(await store.mark_deleted(spec.name, gone))
