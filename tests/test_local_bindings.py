"""The local bindings keep Cloudflare's semantics: TTLs, serialized objects, alarms."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import datetime
from pathlib import Path

import pytest

from local.bindings import LocalDurableObjectNamespace, LocalDurableStorage, LocalKV
from local.cron import next_fire
from shared.config import Settings
from shared.platform.env import WorkerEnv


async def test_kv_values_expire_after_their_ttl(tmp_path: Path) -> None:
    now = [1000.0]
    kv = LocalKV(tmp_path / "kv.sqlite3", clock=lambda: now[0])
    await kv.put("a", "1", ttl=60)
    await kv.put("b", "2")
    assert await kv.get("a") == "1"
    now[0] += 61
    assert await kv.get("a") is None
    assert await kv.get("b") == "2"
    await kv.delete("b")
    assert await kv.get("b") is None


async def test_kv_refuses_a_ttl_under_a_minute_like_cloudflare(tmp_path: Path) -> None:
    kv = LocalKV(tmp_path / "kv.sqlite3")
    with pytest.raises(ValueError, match="60"):
        await kv.put("a", "1", ttl=10)


class Counter:
    """A Durable Object whose increment reads, yields to the loop, then writes."""

    alarms: list[float] = []

    def __init__(self, storage: LocalDurableStorage, env: WorkerEnv, name: str) -> None:
        self.storage = storage
        storage.sql.exec("CREATE TABLE IF NOT EXISTS c (n INTEGER)")
        if not storage.sql.exec("SELECT n FROM c"):
            storage.sql.exec("INSERT INTO c VALUES (0)")
        self.fail_alarms = 0

    async def call(self, method: str, payload: str) -> str:
        if method == "increment":
            n = self.storage.sql.exec("SELECT n FROM c")[0]["n"]
            await asyncio.sleep(0.001)  # any await would let a racing call in
            self.storage.sql.exec("UPDATE c SET n = ?", n + 1)
            return json.dumps(n + 1)
        if method == "arm":
            self.fail_alarms = json.loads(payload)["fail"]
            await self.storage.set_alarm(time.time() * 1000 + 50)
            return "null"
        return json.dumps(self.storage.sql.exec("SELECT n FROM c")[0]["n"])

    async def alarm(self) -> None:
        Counter.alarms.append(time.time())
        if self.fail_alarms > 0:
            self.fail_alarms -= 1
            raise RuntimeError("alarm failed")


def _env() -> WorkerEnv:
    return WorkerEnv(Settings())


async def test_concurrent_calls_into_one_object_are_serialized(tmp_path: Path) -> None:
    ns = LocalDurableObjectNamespace(tmp_path, _env, Counter)
    try:
        results = await asyncio.gather(*(ns.call("acct", "increment", "{}") for _ in range(100)))
        assert sorted(json.loads(r) for r in results) == list(range(1, 101))
        assert json.loads(await ns.call("acct", "get", "{}")) == 100
        # another name is another object with its own storage
        assert json.loads(await ns.call("other", "get", "{}")) == 0
    finally:
        await ns.close()


async def test_object_storage_survives_a_restart(tmp_path: Path) -> None:
    ns = LocalDurableObjectNamespace(tmp_path, _env, Counter)
    await ns.call("acct", "increment", "{}")
    await ns.close()
    again = LocalDurableObjectNamespace(tmp_path, _env, Counter)
    try:
        assert json.loads(await again.call("acct", "get", "{}")) == 1
    finally:
        await again.close()


async def test_an_alarm_fires_and_a_failing_alarm_is_retried(tmp_path: Path) -> None:
    Counter.alarms = []
    ns = LocalDurableObjectNamespace(tmp_path, _env, Counter)
    try:
        await ns.call("acct", "arm", json.dumps({"fail": 1}))
        deadline = time.time() + 10
        while len(Counter.alarms) < 2 and time.time() < deadline:
            await asyncio.sleep(0.05)
        assert len(Counter.alarms) == 2, "the failed alarm was not retried"
        assert Counter.alarms[1] - Counter.alarms[0] >= 1.5  # backoff, not a hot loop
    finally:
        await ns.close()


def test_transactions_roll_back_as_a_whole(tmp_path: Path) -> None:
    storage = LocalDurableStorage(tmp_path / "do.sqlite3", lambda _at: None)
    storage.sql.exec("CREATE TABLE t (x INTEGER)")

    def failing() -> None:
        storage.sql.exec("INSERT INTO t VALUES (1)")
        raise RuntimeError("half way")

    with pytest.raises(RuntimeError):
        storage.sql.transaction(failing)
    assert storage.sql.exec("SELECT count(*) AS n FROM t")[0]["n"] == 0
    storage.sql.transaction(lambda: storage.sql.exec("INSERT INTO t VALUES (2)"))
    assert storage.sql.exec("SELECT x FROM t") == [{"x": 2}]


def test_cron_fires_when_cloudflare_would() -> None:
    every_half_hour = "*/30 * * * *"
    assert next_fire(every_half_hour, datetime(2026, 1, 1, 10, 7)) == datetime(2026, 1, 1, 10, 30)
    assert next_fire(every_half_hour, datetime(2026, 1, 1, 10, 30)) == datetime(2026, 1, 1, 11, 0)
    assert next_fire("17 3 * * *", datetime(2026, 1, 1, 10, 7)) == datetime(2026, 1, 2, 3, 17)

    monday = datetime(2026, 11, 30, 6, 0)
    # Cloudflare counts weekdays from Sunday = 1, as Quartz does.
    assert next_fire("0 17 * * 1", monday) == datetime(2026, 12, 6, 17, 0)  # Sunday
    assert next_fire("0 17 * * sun", monday) == datetime(2026, 12, 6, 17, 0)
    assert next_fire("10 7 * * 2-6", monday) == datetime(2026, 11, 30, 7, 10)  # weekdays
    assert next_fire("10 7 * * mon-fri", monday) == datetime(2026, 11, 30, 7, 10)
    assert next_fire("0 0 * * 1-7", monday) == datetime(2026, 12, 1, 0, 0)  # every day
    assert next_fire("0 0 * * 5-7", monday) == datetime(2026, 12, 3, 0, 0)  # Thu, Fri, Sat
    assert next_fire("0 18 * * 6L", monday) == datetime(2026, 12, 25, 18, 0)  # last Friday
    with pytest.raises(ValueError, match="weekdays are 1-7"):
        next_fire("0 0 * * 0", monday)
