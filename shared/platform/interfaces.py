"""The narrow seam between the program and the platform it runs on.

Everything in `shared` talks to Cloudflare (or to the local runtime) only through
these protocols. `shared.platform.cloudflare` adapts Cloudflare's JS bindings to
them; `local.bindings` implements them on SQLite, asyncpg and asyncio.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol, TypeVar, runtime_checkable

import httpx

T = TypeVar("T")

Row = dict[str, Any]


@runtime_checkable
class KV(Protocol):
    """Workers KV: eventually consistent strings with optional TTL (seconds, >= 60)."""

    async def get(self, key: str) -> str | None: ...

    async def put(self, key: str, value: str, ttl: int | None = None) -> None: ...

    async def delete(self, key: str) -> None: ...


@runtime_checkable
class SqlStorage(Protocol):
    """A Durable Object's private SQLite database (synchronous, like `ctx.storage.sql`)."""

    def exec(self, query: str, *params: Any) -> list[Row]: ...

    def transaction(self, fn: Callable[[], T]) -> T:
        """Run `fn` atomically: all of its statements commit, or none do."""
        ...


@runtime_checkable
class DurableStorage(Protocol):
    """`ctx.storage` of a Durable Object: SQL plus a single alarm."""

    @property
    def sql(self) -> SqlStorage: ...

    async def get_alarm(self) -> float | None:
        """The scheduled alarm as epoch milliseconds, or None."""
        ...

    async def set_alarm(self, epoch_ms: float) -> None: ...

    async def delete_alarm(self) -> None: ...


@runtime_checkable
class RateLimiter(Protocol):
    """A Workers Rate Limiting binding: at most its limit of calls per key and period."""

    @property
    def period_s(self) -> int:
        """The window a refused caller should wait out (Retry-After)."""
        ...

    async def limit(self, key: str) -> bool:
        """Count one call for `key`; False once `key` is over the limit."""
        ...


class DatabaseUnavailable(Exception):
    """The platform cannot open a database connection, for a reason safe to show."""


@runtime_checkable
class Database(Protocol):
    """The Postgres database behind the `HYPERDRIVE` binding."""

    @property
    def dsn(self) -> str: ...

    async def connect(self) -> Any:
        """An asyncpg connection; the caller closes it. `DatabaseUnavailable` when the
        platform itself cannot make one."""
        ...


@runtime_checkable
class CoordinatorTransport(Protocol):
    """How a worker reaches the `SyncCoordinator` of one Keap account.

    In production this is RPC over the `COORDINATOR` service binding; locally it is
    an in-process call. Payloads are JSON text so that nothing depends on how the
    platform converts Python objects.
    """

    async def call(self, account: str, method: str, payload: str) -> str: ...


HttpTransport = Callable[[], httpx.AsyncBaseTransport]
"""Makes the transport outbound HTTP goes through: the runtime's `fetch` on Workers
(`shared.platform.fetch`), where Pyodide has no TLS of its own."""


class DurableObjectNamespace(Protocol):
    """The `SYNC_COORDINATOR` Durable Object namespace, addressed by name."""

    async def call(self, name: str, method: str, payload: str) -> str: ...


def first(rows: Sequence[Row]) -> Row | None:
    """The first row of a result, or None."""
    return rows[0] if rows else None
