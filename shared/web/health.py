"""`GET /health`: real checks of what a worker depends on, run concurrently."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from shared import timefmt
from shared.platform.env import WorkerEnv
from shared.platform.interfaces import KV, Database
from shared.rpc.client import CoordinatorClient, coordinator_client
from shared.rpc.methods import GET_STREAM_STATES, PING

Check = Callable[[], Awaitable[dict[str, Any] | None]]

CHECK_TIMEOUT_S = 5.0


async def _timed(check: Check) -> dict[str, Any]:
    started = time.perf_counter()
    try:
        detail = await asyncio.wait_for(check(), CHECK_TIMEOUT_S)
        result: dict[str, Any] = {"status": "ok", **(detail or {})}
    except TimeoutError:
        result = {"status": "error", "error": f"no answer within {CHECK_TIMEOUT_S:.0f} s"}
    except Exception as exc:  # a failed check is a finding, not a crash
        result = {"status": "error", "error": type(exc).__name__ + ": " + _first_line(exc)}
    result["latency_ms"] = round((time.perf_counter() - started) * 1000, 1)
    return result


def _first_line(exc: Exception) -> str:
    return (str(exc).splitlines() or [""])[0][:200]


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


def coordinator_check(client: CoordinatorClient) -> Check:
    async def check() -> dict[str, Any]:
        reply = await client.call(PING)
        # The webhook events waiting (depth and oldest age) too.
        detail = {"account": reply.account, "connection": reply.connection, "queue": reply.queue}
        if reply.connection == "reauthorization_required":
            reason = "Keap refused the account's grant: reconnect at /oauth/initiate"
            return {"status": "error", "error": reason, **detail}
        return detail

    return check


def refused_streams_check(client: CoordinatorClient) -> Check:
    """Fails while Keap refuses any object's sync or reconciliation for good (the state
    a run leaves until a later run gets through)."""

    async def check() -> dict[str, Any]:
        states = await client.call(GET_STREAM_STATES)
        refused = {
            name: state["refused"]
            for name, state in states.items()
            if isinstance(state, dict) and isinstance(state.get("refused"), dict)
        }
        if not refused:
            return {"refused": []}
        listed = "; ".join(
            f"{name.replace('reconcile:', '')}{' (reconciliation)' if ':' in name else ''}: "
            f"HTTP {r.get('status')}: {r.get('message')}"
            for name, r in sorted(refused.items())
        )
        return {"status": "error", "error": f"Keap refuses {listed}", "refused": sorted(refused)}

    return check


def sync_checks(env: WorkerEnv) -> dict[str, Check]:
    """The sync worker's own check, beside the standard ones."""
    if env.coordinator is None:
        return {}
    return {"streams": refused_streams_check(coordinator_client(env))}


def standard_checks(env: WorkerEnv) -> dict[str, Check]:
    """The checks for whichever bindings this worker has."""
    checks: dict[str, Check] = {}
    if env.coordinator is not None:
        name = "durable_object" if env.durable_objects is not None else "coordinator"
        checks[name] = coordinator_check(coordinator_client(env))
    if env.kv is not None:
        checks["kv"] = kv_check(env.kv)
    if env.database is not None:
        checks["database"] = database_check(env.database)
    return checks


async def run_health(checks: dict[str, Check]) -> tuple[int, dict[str, Any]]:
    """(HTTP status, body): 200 when every check passed, else 503."""
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
