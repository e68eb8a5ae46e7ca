"""The coordinator's RPC methods and alarm work for hooks: the event queue and subscriptions.

Mixed into `CoordinatorObject` (shared/coordinator/durable.py), which registers the
names in `WEBHOOK_METHODS`, arms its alarm at `webhooks_next_due()` and calls
`drain_events()` from the alarm.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

from shared.coordinator.credentials import KeeperCredentials
from shared.coordinator.tokens import TokenKeeper
from shared.keap.client import KeapClient
from shared.keap.errors import KeapError
from shared.platform.env import WorkerEnv
from shared.platform.interfaces import SqlStorage
from shared.platform.wire import CoordinatorError
from shared.webhooks.apply import EventApplier, drain_keap_client
from shared.webhooks.auth import HookUrlError, hook_token, hook_url, is_our_hook
from shared.webhooks.keap_hooks import KeapHookApi
from shared.webhooks.queue import EventQueue
from shared.webhooks.subscriptions import HookSubscriptions

log = logging.getLogger("keap_sync.webhooks")

WEBHOOK_METHODS = (
    "enqueue_events",
    "queue_status",
    "queue_configure",
    "hooks_register",
    "hooks_list",
    "hooks_delete",
    "hooks_reverify",
)


class WebhookMethods:
    sql: SqlStorage
    env: WorkerEnv
    tokens: TokenKeeper
    name: str
    # The drain's Keap client outlives one drain: its pacing tells when the alarm may next
    # call Keap (rather than a drain sleeping through the wait, holding the object).
    _drain_keap: KeapClient | None = None

    @property
    def event_queue(self) -> EventQueue:
        return EventQueue(self.sql)

    # --- the queue ----------------------------------------------------------------------
    async def enqueue_events(self, events: list[dict[str, Any]]) -> dict[str, Any]:
        """Store hook events durably: {accepted, duplicates}."""
        return self.event_queue.enqueue(events)

    async def queue_status(self) -> dict[str, Any]:
        """Depth, oldest event age, backoff, totals and recent drops."""
        return self.event_queue.status()

    async def queue_configure(self, **changes: Any) -> dict[str, Any]:
        """Change batch size, work per alarm or backoff (see `QueuePolicy`)."""
        return self.event_queue.configure(**changes)

    def webhooks_next_due(self) -> float | None:
        """When the alarm should next drain: queued events, after any backoff and once
        Keap's pacing allows another request (epoch seconds)."""
        due = self.event_queue.next_due()
        if due is not None and self._drain_keap is not None:
            due = max(due, time.time() + self._drain_keap.pacer.delay())
        return due

    async def drain_events(self) -> None:
        """Alarm work: apply queued events. Never raises; failures back off in the queue."""
        queue = self.event_queue
        due = queue.next_due()
        if due is None or due > time.time():
            return
        keap = self._drain_keap
        if keap is None or keap.pacer.exhausted is not None:
            # A spent daily quota is not remembered: a new client asks Keap again.
            keap = self._drain_keap = drain_keap_client(self.env, KeeperCredentials(self.tokens))
        try:
            async with EventApplier(self.env, keap) as apply:
                await queue.drain(apply)
        except Exception as exc:  # closing a broken connection, say: the queue is intact
            log.warning("hook queue drain ended with %s", type(exc).__name__)

    # --- subscriptions ------------------------------------------------------------------
    @contextlib.asynccontextmanager
    async def _subscriptions(self) -> AsyncIterator[HookSubscriptions]:
        settings = self.env.settings
        try:
            url = hook_url(settings, self.name)
        except HookUrlError as exc:
            raise CoordinatorError("not_configured", str(exc), 503) from None
        assert settings.KEAP_WEBHOOK_SECRET is not None  # hook_url needs it
        token = hook_token(settings.KEAP_WEBHOOK_SECRET, self.name)
        try:
            credentials = KeeperCredentials(self.tokens)
            async with KeapHookApi(settings, credentials, self.env.new_transport()) as keap:
                yield HookSubscriptions(keap, url, lambda u: is_our_hook(u, settings, self.name))
        except KeapError as exc:
            # Keap's own words may quote the hook URL; its token stays here.
            raise CoordinatorError(exc.code, exc.message.replace(token, "***"), 502) from None

    async def hooks_register(self, event_keys: list[str] | None = None) -> list[dict[str, Any]]:
        """Subscribe the handler to `event_keys` (default: every synced add/edit/delete)."""
        async with self._subscriptions() as hooks:
            return await hooks.register(event_keys)

    async def hooks_list(self) -> list[dict[str, Any]]:
        async with self._subscriptions() as hooks:
            return await hooks.status()

    async def hooks_delete(self) -> list[dict[str, Any]]:
        async with self._subscriptions() as hooks:
            return await hooks.delete()

    async def hooks_reverify(self) -> list[dict[str, Any]]:
        """Revive subscriptions Keap turned Inactive (the scheduled run calls this)."""
        async with self._subscriptions() as hooks:
            return await hooks.reverify()
