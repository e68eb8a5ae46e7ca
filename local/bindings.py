"""Local stand-ins for Cloudflare's bindings, with the same semantics where it matters.

- KV: strings on SQLite with TTLs.
- Durable Objects: one SQLite file per object under the state folder; calls into one
  object are serialized (one at a time, each to its end); the alarm fires at its time,
  one at a time, interleaving with calls while it waits on the network as on
  Cloudflare, and is retried with backoff when it raises.
- Hyperdrive: a Postgres connection string.
- Service binding to the coordinator: an in-process call.
- Workers Rate Limiting: counts per key in memory, by fixed windows of the period.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import hashlib
import logging
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol, TypeVar

import asyncpg

from local.files import private_dir, private_file
from shared.coordinator.durable import CoordinatorObject
from shared.platform.env import WorkerEnv
from shared.platform.interfaces import Row
from shared.rpc.accounts import AccountGate, KnownAccounts

T = TypeVar("T")
log = logging.getLogger("local.bindings")

ALARM_RETRIES = 6


def _open(path: Path) -> sqlite3.Connection:
    private_file(path)  # tokens live in these files
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    return conn


class LocalKV:
    """Workers KV on a SQLite file; expired keys read as missing."""

    def __init__(self, path: Path, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._db = _open(path)
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS kv (key TEXT PRIMARY KEY, value TEXT NOT NULL, "
            "expires_at REAL)"
        )

    async def get(self, key: str) -> str | None:
        row = self._db.execute(
            "SELECT value FROM kv WHERE key = ? AND (expires_at IS NULL OR expires_at > ?)",
            (key, self._clock()),
        ).fetchone()
        return None if row is None else str(row["value"])

    async def put(self, key: str, value: str, ttl: int | None = None) -> None:
        if ttl is not None and ttl < 60:
            raise ValueError("KV expirationTtl must be at least 60 seconds")
        expires = None if ttl is None else self._clock() + ttl
        self._db.execute(
            "INSERT INTO kv(key, value, expires_at) VALUES (?, ?, ?) ON CONFLICT(key) "
            "DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at",
            (key, value, expires),
        )

    async def delete(self, key: str) -> None:
        self._db.execute("DELETE FROM kv WHERE key = ?", (key,))

    def close(self) -> None:
        self._db.close()


class LocalSqlStorage:
    """`ctx.storage.sql` on sqlite3: one statement per `exec`, rows as dicts."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        self._depth = 0

    def exec(self, query: str, *params: Any) -> list[Row]:
        cursor = self._conn.execute(query, params)
        return [dict(row) for row in cursor.fetchall()]

    def transaction(self, fn: Callable[[], T]) -> T:
        savepoint = f"sp{self._depth}"
        self._conn.execute(f"SAVEPOINT {savepoint}")
        self._depth += 1
        try:
            result = fn()
        except BaseException:
            self._conn.execute(f"ROLLBACK TO {savepoint}")
            self._conn.execute(f"RELEASE {savepoint}")
            raise
        finally:
            self._depth -= 1
        self._conn.execute(f"RELEASE {savepoint}")
        return result


class LocalDurableStorage:
    """A Durable Object's storage: its SQLite file plus one alarm (kept in the same file)."""

    def __init__(self, path: Path, on_alarm_set: Callable[[float | None], None]) -> None:
        self._conn = _open(path)
        self._conn.execute(
            "CREATE TABLE IF NOT EXISTS _local_alarm (id INTEGER PRIMARY KEY CHECK (id = 1), "
            "at_ms REAL NOT NULL)"
        )
        self._sql = LocalSqlStorage(self._conn)
        self._on_alarm_set = on_alarm_set

    @property
    def sql(self) -> LocalSqlStorage:
        return self._sql

    async def get_alarm(self) -> float | None:
        return self.alarm_time()

    def alarm_time(self) -> float | None:
        row = self._conn.execute("SELECT at_ms FROM _local_alarm").fetchone()
        return None if row is None else float(row["at_ms"])

    async def set_alarm(self, epoch_ms: float) -> None:
        self._conn.execute(
            "INSERT INTO _local_alarm(id, at_ms) VALUES (1, ?) "
            "ON CONFLICT(id) DO UPDATE SET at_ms = excluded.at_ms",
            (float(epoch_ms),),
        )
        self._on_alarm_set(float(epoch_ms))

    async def delete_alarm(self) -> None:
        self._conn.execute("DELETE FROM _local_alarm")
        self._on_alarm_set(None)

    def close(self) -> None:
        self._conn.close()


class DurableLogic(Protocol):
    """What a Durable Object class offers the runtime (CoordinatorObject in this product)."""

    async def call(self, method: str, payload: str) -> str: ...

    async def alarm(self) -> None: ...


LogicFactory = Callable[[LocalDurableStorage, WorkerEnv, str], DurableLogic]


class LocalDurableObject:
    """One live object: its logic, its storage, the lock that serializes it, its alarm."""

    def __init__(
        self,
        name: str,
        path: Path,
        env: WorkerEnv,
        factory: LogicFactory = CoordinatorObject,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.name = name
        self._clock = clock
        self.lock = asyncio.Lock()
        self._wake = asyncio.Event()
        self.storage = LocalDurableStorage(path, lambda _at: self._wake.set())
        self.logic = factory(self.storage, env, name)
        self._alarm_task = asyncio.create_task(self._alarm_loop(), name=f"alarm:{name}")

    async def call(self, method: str, payload: str) -> str:
        async with self.lock:
            return await self.logic.call(method, payload)

    async def _alarm_loop(self) -> None:
        failures = 0
        while True:
            self._wake.clear()
            at_ms = self.storage.alarm_time()
            if at_ms is None:
                await self._wake.wait()
                continue
            delay = at_ms / 1000 - self._clock()
            if delay > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), delay)
                continue
            # One alarm at a time, but not under the call lock: on Cloudflare calls are
            # delivered while an alarm waits on the network (Keap, Postgres), so the
            # logic must not rely on an alarm excluding them, and hook deliveries must not
            # wait behind a drain.
            if self.storage.alarm_time() != at_ms:
                continue  # rescheduled meanwhile
            await self.storage.delete_alarm()
            try:
                await self.logic.alarm()
                failures = 0
            except Exception as exc:
                # Cloudflare retries a failed alarm with exponential backoff.
                failures += 1
                log.warning("alarm of %s failed (%s), try %d", self.name, type(exc), failures)
                if failures < ALARM_RETRIES and self.storage.alarm_time() is None:
                    await self.storage.set_alarm((self._clock() + 2**failures) * 1000)

    async def close(self) -> None:
        self._alarm_task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._alarm_task
        self.storage.close()


class LocalDurableObjectNamespace:
    """The `SYNC_COORDINATOR` namespace: objects by name, created on first use."""

    def __init__(
        self,
        directory: Path,
        env_factory: Callable[[], WorkerEnv],
        factory: LogicFactory = CoordinatorObject,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._directory = directory
        self._env_factory = env_factory
        self._factory = factory
        self._clock = clock  # when alarms are due
        self._objects: dict[str, LocalDurableObject] = {}

    def get(self, name: str) -> LocalDurableObject:
        obj = self._objects.get(name)
        if obj is None:
            digest = hashlib.sha256(name.encode()).hexdigest()[:32]
            path = private_dir(self._directory) / f"{digest}.sqlite3"
            obj = LocalDurableObject(name, path, self._env_factory(), self._factory, self._clock)
            self._objects[name] = obj
        return obj

    async def call(self, name: str, method: str, payload: str) -> str:
        return await self.get(name).call(method, payload)

    async def close(self) -> None:
        for obj in self._objects.values():
            await obj.close()
        self._objects.clear()


class LocalCoordinatorService:
    """The `COORDINATOR` service binding: the coordinator worker's RPC, in-process, behind
    the same account gate as on Cloudflare (one coordinator instance: one set of names)."""

    def __init__(self, namespace: LocalDurableObjectNamespace) -> None:
        self._gate = AccountGate(namespace, KnownAccounts())

    async def call(self, account: str, method: str, payload: str) -> str:
        return await self._gate.call(account, method, payload)


class LocalDatabase:
    """`HYPERDRIVE`: a connection string; each `connect()` opens a new connection."""

    def __init__(self, dsn: str) -> None:
        self._dsn = dsn

    @property
    def dsn(self) -> str:
        return self._dsn

    async def connect(self) -> asyncpg.Connection:
        return await asyncpg.connect(self._dsn, timeout=10)


class LocalRateLimiter:
    """A `ratelimit` binding in memory: at most `limit` calls per key in any `period_s`
    seconds (Cloudflare counts per location, approximately; this exactly, over a sliding
    window of the calls it let through)."""

    def __init__(
        self, limit: int, period_s: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._limit = limit
        self._period_s = period_s
        self._clock = clock
        self._calls: dict[str, collections.deque[float]] = {}

    @property
    def period_s(self) -> int:
        return self._period_s

    async def limit(self, key: str) -> bool:
        now = self._clock()
        calls = self._calls.setdefault(key, collections.deque())
        while calls and calls[0] <= now - self._period_s:
            calls.popleft()
        if len(calls) >= self._limit:
            return False
        calls.append(now)
        return True


def rate_limiters(
    worker_config: dict[str, Any], limits: dict[str, int] | None = None
) -> dict[str, LocalRateLimiter]:
    """The `ratelimit` bindings of a worker's wrangler.toml, by binding name; `limits`
    replaces the per-period limit of the ones it names."""
    limits = limits or {}
    return {
        b["name"]: LocalRateLimiter(
            limits.get(b["name"], int(b["simple"]["limit"])), int(b["simple"]["period"])
        )
        for b in worker_config.get("unsafe", {}).get("bindings", [])
        if b.get("type") == "ratelimit"
    }
