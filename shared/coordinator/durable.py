"""The SyncCoordinator Durable Object's logic, independent of Cloudflare.

One instance per Keap account. The platform hands it its `DurableStorage` and the
worker's env; the entry module (or the local runtime) forwards RPC calls and alarms.
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

from shared.coordinator.rpc import CoordinatorError, encode_error, encode_result
from shared.coordinator.schema import migrate
from shared.platform.env import WorkerEnv
from shared.platform.interfaces import DurableStorage

Handler = Callable[..., Awaitable[Any]]


class CoordinatorObject:
    def __init__(self, storage: DurableStorage, env: WorkerEnv, name: str = "default") -> None:
        self.storage = storage
        self.sql = storage.sql
        self.env = env
        self.name = name
        migrate(self.sql)
        self._methods: dict[str, Handler] = {"ping": self.ping}

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
        except TypeError as exc:
            return encode_error(CoordinatorError("bad_request", str(exc), 400))

    async def alarm(self) -> None:
        """Called by the platform when the scheduled alarm fires."""

    async def ping(self) -> dict[str, Any]:
        """A storage round trip: write a row and read it back."""
        now = time.time()
        self.sql.exec(
            "INSERT INTO meta(key, value) VALUES ('last_ping', ?) "
            "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            str(now),
        )
        rows = self.sql.exec("SELECT value FROM meta WHERE key = 'last_ping'")
        if not rows or float(rows[0]["value"]) != now:
            raise CoordinatorError("storage", "storage round trip failed", 503)
        return {"account": self.name, "storage": "ok"}
