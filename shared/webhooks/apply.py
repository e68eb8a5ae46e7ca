"""Applying one queued batch with the sync engine's own code: one Keap request for the
ids (`shared.sync.apply.apply_ids`), one statement to write them (`shared.store`).

The Postgres connection is opened per drain (one alarm invocation), so a connection
that broke is never reused; the Keap client is the coordinator's, kept between drains.
"""

from __future__ import annotations

import contextlib
from typing import Any

from shared.keap.client import KeapClient
from shared.keap.credentials import Credentials
from shared.keap.errors import KeapRequestError
from shared.keap.pacing import Backoff
from shared.keap.streams import get_stream
from shared.platform.env import WorkerEnv
from shared.store.store import RefusedRecord, Store
from shared.sync.apply import apply_ids, mark_deleted
from shared.webhooks.events import DELETE
from shared.webhooks.queue import Applied, BatchRefused

DRAIN_TIMEOUT_S = 15.0


def drain_keap_client(env: WorkerEnv, credentials: Credentials) -> KeapClient:
    """The Keap client the queue drains with (one per coordinator, reused between drains:
    building one costs a TLS context, and its pacing must carry over)."""
    return KeapClient(
        env.settings,
        credentials,
        # The queue has its own backoff, so a batch gives up quickly instead of holding
        # the coordinator while Keap is down; one quick retry covers a blip.
        backoff=Backoff(base_s=0.2, cap_s=1.0, max_attempts=2),
        timeout=DRAIN_TIMEOUT_S,
        transport=env.new_transport(),
    )


class EventApplier:
    """`shared.webhooks.queue.Applier` over the Keap client and the Postgres store of the
    queue's account."""

    def __init__(self, env: WorkerEnv, keap: KeapClient, account: str) -> None:
        self._database = env.database
        self._account = account
        self._keap = keap
        self._stack = contextlib.AsyncExitStack()
        self._store: Store | None = None

    async def __aenter__(self) -> EventApplier:
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self._stack.aclose()

    def batch_limit(self, stream: str, action: str) -> int:
        """Ids per batch: the stream's fetch batch (deletes ask nothing of Keap)."""
        return 1000 if action == DELETE else get_stream(stream).batch_size

    async def _open_store(self) -> Store:
        if self._database is None:  # raised per batch, so the queue backs off
            raise RuntimeError("the coordinator has no database binding (HYPERDRIVE)")
        if self._store is None or self._store.is_closed:
            self._store = await self._stack.enter_async_context(
                Store.open(self._database, account=self._account)
            )
        return self._store

    async def __call__(self, stream: str, action: str, ids: list[int]) -> Applied:
        store = await self._open_store()
        if action == DELETE:
            await mark_deleted(stream, ids, store=store)
            return Applied()
        try:
            # Records Postgres refuses come back to the queue, which tries them again
            # before it gives up on them (`quarantine` below).
            result = await apply_ids(stream, ids, keap=self._keap, store=store, quarantine=None)
        except KeapRequestError as exc:  # a 4xx: Keap will not take these ids as they are
            raise BatchRefused(exc.message) from None
        return Applied(set(result.missing), dict(result.refused))

    async def quarantine(self, stream: str, reasons: dict[int, str]) -> None:
        """Ids the queue gave up on, into `keap.quarantine` (with the sync's own)."""
        store = await self._open_store()
        refused = [RefusedRecord(record_id, why) for record_id, why in reasons.items()]
        await store.quarantine(stream, refused, "webhook")
