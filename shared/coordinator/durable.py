"""The SyncCoordinator Durable Object's logic, independent of Cloudflare.

One instance per Keap account. The platform hands it its `DurableStorage` and the
worker's env; the entry module (or the local runtime) forwards RPC calls and alarms.
Each public coroutine below is one RPC method; `CoordinatorClient` is the other side.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from shared.coordinator.oauth_flow import OAuthFlow
from shared.coordinator.schema import migrate
from shared.coordinator.sync_state import SyncState
from shared.coordinator.tokens import TokenKeeper
from shared.platform.env import WorkerEnv
from shared.platform.interfaces import DurableStorage
from shared.platform.wire import CoordinatorError, encode_error, encode_result
from shared.webhooks.coordinator_methods import WEBHOOK_METHODS, WebhookMethods

log = logging.getLogger("keap_sync.coordinator")

Handler = Callable[..., Awaitable[Any]]


class CoordinatorObject(WebhookMethods):
    def __init__(
        self,
        storage: DurableStorage,
        env: WorkerEnv,
        name: str = "default",
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.storage = storage
        self.sql = storage.sql
        self.env = env
        self.name = name
        self.clock = clock  # epoch seconds; tests move it instead of sleeping
        migrate(self.sql)
        self.tokens = TokenKeeper(self.sql, env.settings, env.http_transport, clock)
        self.oauth = OAuthFlow(self.sql, env.settings, self.tokens)
        self.sync = SyncState(self.sql)
        self._methods: dict[str, Handler] = {
            name: getattr(self, name)
            for name in (
                "ping",
                "status",
                "begin_oauth",
                "complete_oauth",
                "get_access",
                "report_unauthorized",
                "acquire_lease",
                "renew_lease",
                "release_lease",
                "get_stream_states",
                "checkpoint",
                "reset_stream",
                "start_run",
                "finish_run",
                "runs",
                *WEBHOOK_METHODS,
            )
        }

    async def call(self, method: str, payload: str) -> str:
        """Dispatch one RPC call; failures come back as an encoded CoordinatorError."""
        handler = self._methods.get(method)
        if handler is None:
            return encode_error(CoordinatorError("unknown_method", f"no method {method!r}", 404))
        try:
            args = json.loads(payload or "{}")
            if not isinstance(args, dict):
                raise CoordinatorError("bad_request", "payload must be a JSON object", 400)
            return encode_result(await handler(**args))
        except CoordinatorError as exc:
            return encode_error(exc)
        except (TypeError, ValueError) as exc:
            return encode_error(CoordinatorError("bad_request", type(exc).__name__, 400))
        except Exception as exc:
            # Anything else is a bug or an outage nobody mapped: a coded error for the caller
            # rather than a dead RPC connection. The type only: messages can carry secrets.
            log.error("coordinator %s: %s failed with %s", self.name, method, type(exc).__name__)
            error = CoordinatorError("internal_error", f"{method} failed unexpectedly", 500)
            return encode_error(error)
        finally:
            await self._schedule_alarm()

    # --- alarm --------------------------------------------------------------------------
    async def _schedule_alarm(self) -> None:
        """Keep the one alarm at the earliest time any part needs it."""
        due = [t for t in (self.tokens.next_due(), self.webhooks_next_due()) if t is not None]
        current = await self.storage.get_alarm()
        if not due:
            if current is not None:
                await self.storage.delete_alarm()
            return
        wanted_ms = max(min(due), self.clock()) * 1000
        if current is None or abs(current - wanted_ms) > 1000:
            await self.storage.set_alarm(wanted_ms)

    async def alarm(self) -> None:
        """Called by the platform when the alarm fires; raising makes the platform retry."""
        try:
            await self.tokens.maintain()
        finally:
            await self.drain_events()  # never raises: failed batches back off in the queue
            await self._schedule_alarm()

    # --- RPC methods ------------------------------------------------------------------
    async def ping(self) -> dict[str, Any]:
        """A storage round trip, plus the connection state health reports."""
        now = self.clock()
        self.sql.exec(
            "INSERT INTO meta(key, value) VALUES ('last_ping', ?) "
            "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            str(now),
        )
        rows = self.sql.exec("SELECT value FROM meta WHERE key = 'last_ping'")
        if not rows or float(rows[0]["value"]) != now:
            raise CoordinatorError("storage", "storage round trip failed", 503)
        return {
            "account": self.name,
            "storage": "ok",
            "connection": self.tokens.state,
            "queue": self.event_queue.summary(),
        }

    async def status(self) -> dict[str, Any]:
        return {
            "account": self.name,
            "connection": self.tokens.status(),
            "lease": self.sync.lease_status(),
            "streams": self.sync.stream_status(),
            "runs": self.sync.runs(10),
        }

    async def begin_oauth(self) -> dict[str, Any]:
        return self.oauth.begin(self.name)

    async def complete_oauth(
        self, state: str, code: str | None = None, error: str | None = None
    ) -> dict[str, Any]:
        result = await self.oauth.complete(state, code, error)
        return {"account": self.name, **result}

    async def get_access(self) -> dict[str, Any]:
        return await self.tokens.get_access()

    async def report_unauthorized(self, token: str) -> dict[str, Any]:
        return await self.tokens.report_unauthorized(token)

    async def acquire_lease(self, run_id: str, ttl_s: float) -> dict[str, Any]:
        return self.sync.acquire_lease(run_id, ttl_s)

    async def renew_lease(self, run_id: str, ttl_s: float) -> dict[str, Any]:
        return self.sync.renew_lease(run_id, ttl_s)

    async def release_lease(self, run_id: str) -> None:
        self.sync.release_lease(run_id)

    async def get_stream_states(self) -> dict[str, dict[str, Any]]:
        return self.sync.stream_states()

    async def checkpoint(
        self, run_id: str, stream: str, state: dict[str, Any], pages: int = 0, records: int = 0
    ) -> None:
        self.sync.checkpoint(run_id, stream, state, pages, records)

    async def reset_stream(self, stream: str) -> None:
        self.sync.reset_stream(stream)

    async def start_run(self, run_id: str, kind: str, streams: list[str]) -> None:
        self.sync.start_run(run_id, kind, streams)

    async def finish_run(
        self, run_id: str, status: str, errors: list[str], stats: dict[str, Any]
    ) -> None:
        self.sync.finish_run(run_id, status, errors, stats)

    async def runs(self, limit: int = 20) -> list[dict[str, Any]]:
        return self.sync.runs(limit)
