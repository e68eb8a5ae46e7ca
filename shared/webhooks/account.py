"""The webhook side of one account's coordinator: its event queue and its hook subscriptions.

`CoordinatorObject` (shared/coordinator/durable.py) holds one `AccountWebhooks`, arms its
alarm at `next_due()` and calls `drain()` from the alarm; the marked methods answer the
webhook RPC methods. Keap credentials come from the coordinator itself (`credentials`), never
over RPC: that call would wait on the very object making it.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from shared.keap.client import KeapClient
from shared.keap.credentials import Credentials
from shared.keap.errors import KeapError
from shared.platform.env import WorkerEnv
from shared.platform.interfaces import SqlStorage
from shared.platform.wire import CoordinatorError
from shared.rpc.dispatch import handles
from shared.rpc.methods import (
    ENQUEUE_EVENTS,
    HOOKS_DELETE,
    HOOKS_LIST,
    HOOKS_REGISTER,
    HOOKS_REVERIFY,
    QUEUE_CONFIGURE,
    QUEUE_STATUS,
    Enqueued,
    Events,
    HookKeys,
    QueueChanges,
)
from shared.webhooks.apply import EventApplier, drain_keap_client
from shared.webhooks.auth import HookUrlError, hook_token, hook_url, is_our_hook
from shared.webhooks.keap_hooks import KeapHookApi
from shared.webhooks.queue import EventQueue
from shared.webhooks.subscriptions import HookSubscriptions

log = logging.getLogger("keap_sync.webhooks")


class AccountWebhooks:
    def __init__(
        self,
        sql: SqlStorage,
        env: WorkerEnv,
        account: str,
        credentials: Credentials,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.env = env
        self.account = account
        self.queue = EventQueue(sql, clock)
        self._credentials = credentials
        self._clock = clock
        # The drain's Keap client outlives one drain: its pacing tells when the alarm may
        # next call Keap (rather than a drain sleeping through the wait, holding the object).
        self._drain_keap: KeapClient | None = None

    # --- the queue ----------------------------------------------------------------------
    @handles(ENQUEUE_EVENTS)
    def enqueue(self, delivery: Events) -> Enqueued:
        """Store hook events durably; repeats of known events are not stored again."""
        return Enqueued(**self.queue.enqueue([e.model_dump() for e in delivery.events]))

    @handles(QUEUE_STATUS)
    def status(self) -> dict[str, Any]:
        """Depth, oldest event age, backoff, totals and recent drops."""
        return self.queue.status()

    @handles(QUEUE_CONFIGURE)
    def configure(self, request: QueueChanges) -> dict[str, Any]:
        """Change batch size, work per alarm or backoff (see `QueuePolicy`)."""
        return self.queue.configure(**request.changes)

    def next_due(self) -> float | None:
        """When the alarm should next drain: queued events, after any backoff and once
        Keap's pacing allows another request (epoch seconds)."""
        due = self.queue.next_due()
        if due is not None and self._drain_keap is not None:
            due = max(due, self._clock() + self._drain_keap.pacer.delay())
        return due

    async def drain(self) -> None:
        """Alarm work: apply queued events. Never raises; failures back off in the queue."""
        due = self.queue.next_due()
        if due is None or due > self._clock():
            return
        keap = self._drain_keap
        if keap is None or keap.pacer.exhausted is not None:
            # A spent daily quota is not remembered: a new client asks Keap again.
            keap = self._drain_keap = drain_keap_client(self.env, self._credentials)
        try:
            async with EventApplier(self.env, keap, self.account) as apply:
                await self.queue.drain(apply)
        except Exception as exc:  # closing a broken connection, say: the queue is intact
            log.warning("hook queue drain ended with %s", type(exc).__name__)

    # --- subscriptions ------------------------------------------------------------------
    @contextlib.asynccontextmanager
    async def _subscriptions(self) -> AsyncIterator[HookSubscriptions]:
        settings = self.env.settings
        try:
            url = hook_url(settings, self.account)
        except HookUrlError as exc:
            raise CoordinatorError("not_configured", str(exc), 503) from None
        assert settings.KEAP_WEBHOOK_SECRET is not None  # hook_url needs it
        token = hook_token(settings.KEAP_WEBHOOK_SECRET, self.account)
        try:
            transport = self.env.new_transport()
            async with KeapHookApi(settings, self._credentials, transport) as keap:
                yield HookSubscriptions(keap, url, lambda u: is_our_hook(u, settings, self.account))
        except KeapError as exc:
            # Keap's own words may quote the hook URL; its token stays here.
            raise CoordinatorError(exc.code, exc.message.replace(token, "***"), 502) from None

    @handles(HOOKS_REGISTER)
    async def register(self, request: HookKeys) -> list[dict[str, Any]]:
        """Subscribe the handler to `event_keys` (default: every synced add/edit/delete)."""
        async with self._subscriptions() as hooks:
            return await hooks.register(request.event_keys)

    @handles(HOOKS_LIST)
    async def subscriptions(self) -> list[dict[str, Any]]:
        async with self._subscriptions() as hooks:
            return await hooks.status()

    @handles(HOOKS_DELETE)
    async def unsubscribe(self) -> list[dict[str, Any]]:
        async with self._subscriptions() as hooks:
            return await hooks.delete()

    @handles(HOOKS_REVERIFY)
    async def reverify(self) -> list[dict[str, Any]]:
        """Revive subscriptions Keap turned Inactive (the scheduled run calls this)."""
        async with self._subscriptions() as hooks:
            return await hooks.reverify()
