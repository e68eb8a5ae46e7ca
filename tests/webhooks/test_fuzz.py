"""Thousands of hostile requests: never a 500, never a crash, nothing queued from them."""

from __future__ import annotations

import asyncio
import json
import random
from collections import Counter
from typing import Any

import httpx
import pytest

from local.runtime import LocalRuntime
from tests.webhooks.conftest import delivery, queue_depth, stamp, url_for

CASES = 3000


def malformed_bodies(rng: random.Random) -> list[Any]:
    """JSON values that are not a valid delivery."""
    good = delivery("contact.edit", [rng.randint(1, 10**6)], at=rng.randint(0, 10**6))
    key = good["object_keys"][0]
    return [
        None,
        [],
        "contact.edit",
        12,
        {},
        {**good, "event_key": None},
        {**good, "event_key": "x" * 500},
        {**good, "event_key": "contact"},
        {**good, "event_key": "contact..edit"},
        {**good, "object_type": ""},
        {**good, "object_keys": []},
        {**good, "object_keys": {}},
        {**good, "object_keys": [None]},
        {**good, "object_keys": [{**key, "id": -1}]},
        {**good, "object_keys": [{**key, "id": 0}]},
        {**good, "object_keys": [{**key, "id": True}]},
        {**good, "object_keys": [{**key, "id": 1.5}]},
        {**good, "object_keys": [{**key, "id": "12; DROP TABLE x"}]},
        {**good, "object_keys": [{**key, "id": 2**70}]},
        {**good, "object_keys": [{**key, "id": "9" * 5000}]},
        {**good, "object_keys": [{**key, "timestamp": "yesterday"}]},
        {**good, "object_keys": [{**key, "timestamp": "0001-01-01T00:00:00+05:00"}]},
        {**good, "object_keys": [{**key, "timestamp": "9999-12-31T23:59:59-05:00"}]},
        {**good, "object_keys": [{**key, "timestamp": None}]},
        {**good, "object_keys": [{"id": 1}]},
        {**good, "object_keys": [{**key, "apiUrl": "u" * 5000}]},
        {**good, "object_keys": [key] * 1001},
    ]


def raw_bodies(rng: random.Random) -> list[bytes]:
    """Bytes that are not JSON at all, or JSON no parser should be made to walk."""
    return [
        b"",
        b"{",
        b"\xff\xfe\x00garbage",
        bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 300))),
        b"[" * 100_000 + b"]" * 100_000,
        b'{"event_key": "contact.add", "object_keys": ' + b"[" * 5000 + b"]" * 5000 + b"}",
        b"NaN",
        b'{"a": 1e999999}',
        b"1" * 10_000,
        "\u0000\ud800".encode("utf-8", "surrogatepass"),
    ]


def hostile_request(rng: random.Random, rt: LocalRuntime, replay: bytes) -> dict[str, Any]:
    good_url = url_for(rt)
    base = f"{rt.urls['webhook-handler']}/webhook"
    kind = rng.choice(
        ["malformed", "raw", "unauthenticated", "replay", "oversized", "method", "secret"]
    )
    json_headers = {"Content-Type": "application/json"}
    if kind == "malformed":
        body = json.dumps(rng.choice(malformed_bodies(rng))).encode()
        return {"method": "POST", "url": good_url, "content": body, "headers": json_headers}
    if kind == "raw":
        ctype = rng.choice(["application/json", "text/plain", "application/x-www-form-urlencoded"])
        body = rng.choice(raw_bodies(rng))
        return {
            "method": "POST",
            "url": good_url,
            "content": body,
            "headers": {"Content-Type": ctype},
        }
    if kind == "unauthenticated":
        token = rng.choice(["", "0" * 64, "zz", good_url.rsplit("=", 1)[1][:-1] + "0"])
        account = rng.choice(["default", "other", "../etc", "a" * 100, "ünï"])
        url = rng.choice([base, f"{base}?account={account}&token={token}", f"{base}?token={token}"])
        headers = dict(json_headers)
        if rng.random() < 0.3:
            headers["X-Hook-Signature"] = rng.choice(["", "sha256=" + "ab" * 32, "nothex"])
        if rng.random() < 0.3:
            headers["X-Hook-Secret"] = "let-me-in"
        return {"method": "POST", "url": url, "content": replay, "headers": headers}
    if kind == "replay":
        return {"method": "POST", "url": good_url, "content": replay, "headers": json_headers}
    if kind == "oversized":
        body = b'{"event_key": "contact.add", "pad": "' + b"x" * (1024 * 1024 + 10) + b'"}'
        return {"method": "POST", "url": good_url, "content": body, "headers": json_headers}
    if kind == "method":
        return {"method": rng.choice(["GET", "PUT", "DELETE", "PATCH"]), "url": good_url}
    secret = rng.choice([b"", b"x" * 2000, b"tab\there", "é".encode("latin-1")])
    return {"method": "POST", "url": good_url, "headers": {"X-Hook-Secret": secret}}


async def test_hostile_requests_never_break_the_handler_or_queue_anything(
    handler_runtime: LocalRuntime, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("ERROR")
    rng = random.Random(20261124)
    replay = json.dumps(delivery("contact.edit", list(range(1, 51)), at=7)).encode()
    statuses: Counter[int] = Counter()
    accepted = 0
    async with httpx.AsyncClient(timeout=30) as client:
        first = await client.post(
            url_for(handler_runtime), content=replay, headers={"Content-Type": "application/json"}
        )
        assert first.json()["accepted"] == 50
        depth = await queue_depth(handler_runtime)
        requests = [hostile_request(rng, handler_runtime, replay) for _ in range(CASES)]
        gate = asyncio.Semaphore(25)

        async def send(request: dict[str, Any]) -> None:
            nonlocal accepted
            # From many addresses, as a crowd would come: each held to its rate limit.
            ip = f"198.51.100.{rng.randrange(100)}"
            request["headers"] = {**(request.get("headers") or {}), "CF-Connecting-IP": ip}
            async with gate:
                response = await client.request(**request)
            statuses[response.status_code] += 1
            if response.status_code == 200 and "accepted" in response.text:
                accepted += response.json()["accepted"]

        await asyncio.gather(*(send(r) for r in requests))
        assert await queue_depth(handler_runtime) == depth
        health = await client.get(f"{handler_runtime.urls['webhook-handler']}/health")
        fresh = await client.post(
            url_for(handler_runtime), json=delivery("contact.edit", [99], at=stamp_seconds())
        )
    print(dict(statuses))
    assert sum(statuses.values()) == CASES
    assert not [s for s in statuses if s >= 500], statuses
    assert {401, 400, 405, 413, 415} <= set(statuses), statuses
    assert accepted == 0
    assert not [r for r in caplog.records if r.levelname in ("ERROR", "CRITICAL")]
    assert health.status_code == 200
    assert fresh.status_code == 200 and fresh.json()["accepted"] == 1


def stamp_seconds() -> int:
    return len(stamp(0))  # any time not used above
