"""Health: real checks of what a worker depends on, run concurrently, kept a few seconds.

`GET /health` is public, so it must be cheap and say nothing an outsider could use: it
answers from the last round of checks while that is younger than `CACHE_S` (one round at a
time per worker instance, whatever the request rate: at most one database connection per
interval), and shows only `healthy`/`degraded` and each check's name with `ok`/`fail`.
`GET /health/detail` (admin) shows the same round in full: errors, latencies, accounts.

Degraded means a dependency is down (Durable Object storage, KV, the database, the
coordinator), or, for the workers that sync: Keap refuses an account's grant (`keap`), an
account's webhook queue is stuck (`webhook_queue`: its oldest event older than
`QUEUE_STUCK_AGE_S`, or its drains failing again and again), or a stream is failing
(`streams`: Keap refuses an object for good, or an account's last run failed).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, Generic, TypeVar

from shared import timefmt
from shared.platform.env import WorkerEnv
from shared.platform.interfaces import KV, Database
from shared.platform.wire import CoordinatorError
from shared.rpc.client import coordinator_client, registry_client
from shared.rpc.methods import LIST_ACCOUNTS, PING, STATUS, AccountStatus, Ping

Check = Callable[[], Awaitable[dict[str, Any] | None]]
T = TypeVar("T")

CHECK_TIMEOUT_S = 5.0
CACHE_S = 5.0  # how long one round of checks answers /health
QUEUE_STUCK_AGE_S = 900.0  # Keap's events wait minutes at most when all is well
QUEUE_STUCK_FAILURES = 3  # drains failed in a row


class CheckFailed(Exception):
    """A check's finding, with the detail /health/detail shows."""

    def __init__(self, message: str, detail: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.detail = detail or {}


async def _timed(check: Check) -> dict[str, Any]:
    started = time.perf_counter()
    try:
        detail = await asyncio.wait_for(check(), CHECK_TIMEOUT_S)
        result: dict[str, Any] = {"status": "ok", **(detail or {})}
    except TimeoutError:
        result = {"status": "error", "error": f"no answer within {CHECK_TIMEOUT_S:.0f} s"}
    except CheckFailed as failed:
        result = {"status": "error", "error": str(failed), **failed.detail}
    except Exception as exc:  # a failed check is a finding, not a crash
        result = {"status": "error", "error": type(exc).__name__ + ": " + _first_line(exc)}
    result["latency_ms"] = round((time.perf_counter() - started) * 1000, 1)
    return result


def _first_line(exc: Exception) -> str:
    return (str(exc).splitlines() or [""])[0][:200]


class Once(Generic[T]):
    """One computation shared by every check of a round that needs it.

    The first caller computes it in its own task, the others wait: no task is left running
    when a check is cancelled by its timeout (on Workers, I/O left over from a request
    fails in the next one)."""

    def __init__(self, compute: Callable[[], Awaitable[T]]) -> None:
        self._compute = compute
        self._lock = asyncio.Lock()
        self._outcome: tuple[T] | Exception | None = None

    async def get(self) -> T:
        async with self._lock:
            if self._outcome is None:
                try:
                    self._outcome = (await self._compute(),)
                except Exception as exc:
                    self._outcome = exc
        if isinstance(self._outcome, Exception):
            raise self._outcome
        return self._outcome[0]


# --- the checks ---------------------------------------------------------------------------
def kv_check(kv: KV) -> Check:
    async def check() -> None:
        key = f"health:{uuid.uuid4().hex}"
        await kv.put(key, "ok", ttl=60)
        value = await kv.get(key)
        await kv.delete(key)
        if value != "ok":
            raise RuntimeError("value written was not read back")

    return check


def database_check(database: Database) -> Check:
    async def check() -> None:
        conn = await database.connect()
        try:
            if await conn.fetchval("SELECT 1") != 1:
                raise RuntimeError("SELECT 1 did not return 1")
        finally:
            await conn.close()

    return check


Replies = dict[str, T | CoordinatorError]


async def _every_account(env: WorkerEnv, call: Callable[[str], Awaitable[T]]) -> Replies[T]:
    """`call(account)` for every account in the registry: its reply, or its error."""
    accounts = [a.account for a in await registry_client(env).call(LIST_ACCOUNTS)]

    async def one(account: str) -> T | CoordinatorError:
        try:
            return await call(account)
        except CoordinatorError as exc:
            return exc

    return dict(zip(accounts, await asyncio.gather(*(one(a) for a in accounts)), strict=True))


def _pings(env: WorkerEnv) -> Once[Replies[Ping]]:
    return Once(lambda: _every_account(env, lambda a: coordinator_client(env, a).call(PING)))


def reach_check(pings: Once[Replies[Ping]]) -> Check:
    """Every account's coordinator answers, its storage with it."""

    async def check() -> dict[str, Any]:
        replies = await pings.get()
        accounts = {
            a: r.code if isinstance(r, CoordinatorError) else r.storage for a, r in replies.items()
        }
        failing = sorted(a for a, state in accounts.items() if state != "ok")
        if failing:
            raise CheckFailed(
                f"no answer from the coordinator of {', '.join(failing)}", {"accounts": accounts}
            )
        return {"accounts": accounts}

    return check


def keap_check(pings: Once[Replies[Ping]]) -> Check:
    """No account whose grant Keap refuses."""

    async def check() -> dict[str, Any]:
        replies = await pings.get()
        states = {a: r.connection for a, r in replies.items() if isinstance(r, Ping)}
        refused = sorted(a for a, state in states.items() if state == "reauthorization_required")
        if refused:
            message = (
                f"Keap refused the grant of {', '.join(refused)}: reconnect at /oauth/initiate"
            )
            raise CheckFailed(message, {"accounts": states})
        return {"accounts": states}

    return check


def queue_check(pings: Once[Replies[Ping]]) -> Check:
    """No account whose webhook queue is stuck."""

    async def check() -> dict[str, Any]:
        replies = await pings.get()
        queues = {a: r.queue for a, r in replies.items() if isinstance(r, Ping)}
        stuck = sorted(
            a
            for a, q in queues.items()
            if (q.get("oldest_age_s") or 0) > QUEUE_STUCK_AGE_S
            or (q.get("failures") or 0) >= QUEUE_STUCK_FAILURES
        )
        if stuck:
            raise CheckFailed(
                f"the webhook queue of {', '.join(stuck)} is stuck", {"accounts": queues}
            )
        return {"accounts": queues}

    return check


def _stream_problems(status: AccountStatus) -> list[str]:
    """Keap's standing refusals of the account's objects, and its last run if it failed."""
    problems = []
    for name, entry in sorted(status.streams.items()):
        refused = (entry.get("state") or {}).get("refused")
        if isinstance(refused, dict):
            what = f"{name.replace('reconcile:', '')}{' (reconciliation)' if ':' in name else ''}"
            problems.append(
                f"Keap refuses {what}: HTTP {refused.get('status')}: {refused.get('message')}"
            )
    last = next((r for r in status.runs if r.get("status") != "running"), None)
    if last is not None and last.get("status") == "failed":
        problems.append(
            f"the last {last.get('kind')} run failed: {'; '.join(last.get('errors') or [])}"
        )
    return problems


def streams_check(env: WorkerEnv) -> Check:
    """No account with an object Keap refuses for good or a failed last run (the state a
    run leaves until a later run gets through)."""

    async def check() -> dict[str, Any]:
        replies = await _every_account(env, lambda a: coordinator_client(env, a).call(STATUS))
        accounts = {
            a: [r.code] if isinstance(r, CoordinatorError) else _stream_problems(r)
            for a, r in replies.items()
        }
        failing = {a: p for a, p in accounts.items() if p}
        if failing:
            listed = "; ".join(f"{a}: {' / '.join(p)}" for a, p in sorted(failing.items()))
            raise CheckFailed(listed, {"accounts": accounts})
        return {"accounts": accounts}

    return check


def worker_checks(env: WorkerEnv, *, accounts: bool, streams: bool) -> dict[str, Check]:
    """The checks for whichever bindings this worker has; with `accounts`, the state of
    every account (Keap's grant, the webhook queue); with `streams`, their objects."""
    checks: dict[str, Check] = {}
    if env.coordinator is not None:
        pings = _pings(env)
        name = "durable_object" if env.durable_objects is not None else "coordinator"
        checks[name] = reach_check(pings)
        if accounts:
            checks["keap"] = keap_check(pings)
            checks["webhook_queue"] = queue_check(pings)
        if streams:
            checks["streams"] = streams_check(env)
    if env.kv is not None:
        checks["kv"] = kv_check(env.kv)
    if env.database is not None:
        checks["database"] = database_check(env.database)
    return checks


async def run_health(checks: dict[str, Check]) -> tuple[int, dict[str, Any]]:
    """(HTTP status, the full body): 200 when every check passed, else 503."""
    names = list(checks)
    results = await asyncio.gather(*(_timed(checks[n]) for n in names))
    services = dict(zip(names, results, strict=True))
    healthy = all(r["status"] == "ok" for r in results)
    body = {
        "status": "healthy" if healthy else "degraded",
        "timestamp": timefmt.keap(timefmt.now()),
        "services": services,
    }
    return (200 if healthy else 503), body


def public(body: dict[str, Any]) -> dict[str, Any]:
    """What anyone may see of a round: the verdict and each check's ok or fail."""
    return {
        "status": body["status"],
        "timestamp": body["timestamp"],
        "checks": {n: "ok" if s["status"] == "ok" else "fail" for n, s in body["services"].items()},
    }


class CachedHealth:
    """One worker instance's last round of checks, reused for `CACHE_S`.

    A request that finds it stale while another request runs a round waits for that round
    by looking again every `POLL_S`, rather than starting another: on Workers a request
    must not be woken by another request's I/O (an asyncio lock or future shared between
    requests would do that), so only plain values pass between them. A round that has not
    ended after `CHECK_TIMEOUT_S` and a margin (its request was cancelled) is taken over."""

    POLL_S = 0.05

    def __init__(self, ttl_s: float = CACHE_S, clock: Callable[[], float] = time.monotonic) -> None:
        self._ttl_s = ttl_s
        self._clock = clock
        self._result: tuple[int, dict[str, Any]] | None = None
        self._at = 0.0
        self._round: tuple[object, float] | None = None  # (its token, when it started)

    def _fresh(self) -> tuple[int, dict[str, Any]] | None:
        if self._result is not None and self._clock() - self._at < self._ttl_s:
            return self._result
        return None

    def _round_under_way(self) -> bool:
        return self._round is not None and self._clock() - self._round[1] < CHECK_TIMEOUT_S + 2

    async def get(self, checks: Callable[[], dict[str, Check]]) -> tuple[int, dict[str, Any]]:
        while True:
            fresh = self._fresh()
            if fresh is not None:
                return fresh
            if not self._round_under_way():
                break
            await asyncio.sleep(self.POLL_S)
        token = object()
        self._round = (token, self._clock())
        try:
            result = await run_health(checks())
            self._result, self._at = result, self._clock()
            return result
        finally:
            if self._round is not None and self._round[0] is token:
                self._round = None
