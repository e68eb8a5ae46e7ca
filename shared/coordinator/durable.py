"""The SyncCoordinator Durable Object's logic, independent of Cloudflare.

One instance per Keap account. The platform hands it its `DurableStorage` and the
worker's env; the entry module (or the local runtime) forwards RPC calls and alarms. The RPC
methods (declared in `shared.rpc.methods`) are answered by the components below, each marking
its handlers with `@handles`; `ping` and `status` are the object's own.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from shared.coordinator.credentials import KeeperCredentials
from shared.coordinator.oauth_flow import OAuthFlow
from shared.coordinator.registry import AccountRegistry
from shared.coordinator.schema import migrate
from shared.coordinator.sync_state import SyncState
from shared.coordinator.tokens import TokenKeeper
from shared.platform.env import WorkerEnv
from shared.platform.interfaces import DurableStorage
from shared.platform.wire import CoordinatorError, encode_error
from shared.rpc.dispatch import Dispatcher, handles
from shared.rpc.methods import PING, STATUS, AccountStatus, Ping, RunsQuery
from shared.webhooks.account import AccountWebhooks

log = logging.getLogger("keap_sync.coordinator")


class CoordinatorObject:
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
        self.oauth = OAuthFlow(self.sql, env.settings, self.tokens, name)
        self.sync = SyncState(self.sql, clock)
        self.webhooks = AccountWebhooks(self.sql, env, name, KeeperCredentials(self.tokens), clock)
        self.registry = AccountRegistry(self.sql, env.settings, name, clock)
        self._rpc = Dispatcher(
            self, self.tokens, self.oauth, self.sync, self.webhooks, self.registry
        )

    async def call(self, method: str, payload: str) -> str:
        """Answer one RPC call; every failure comes back as an encoded CoordinatorError."""
        try:
            return await self._rpc.dispatch(method, payload)
        except CoordinatorError as exc:
            return encode_error(exc)
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
        due = [t for t in (self.tokens.next_due(), self.webhooks.next_due()) if t is not None]
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
            await self.webhooks.drain()  # never raises: failed batches back off in the queue
            await self._schedule_alarm()

    # --- its own RPC methods ----------------------------------------------------------
    @handles(PING)
    def ping(self) -> Ping:
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
        return Ping(
            account=self.name,
            storage="ok",
            connection=self.tokens.state,
            queue=self.webhooks.queue.summary(),
        )

    @handles(STATUS)
    def status(self) -> AccountStatus:
        return AccountStatus(
            account=self.name,
            connection=self.tokens.status(),
            lease=self.sync.lease_status(),
            streams=self.sync.stream_status(),
            runs=self.sync.runs(RunsQuery(limit=10)),
        )
