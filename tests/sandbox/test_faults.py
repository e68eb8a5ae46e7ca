"""Injected faults: 5xx answers, latency, slow answers, dropped connections."""

from __future__ import annotations

import time
from collections import Counter

import httpx
import pytest

from local.keap_sandbox import RunningSandbox, serve_sandbox
from tests.sandbox.conftest import small_config

KEY = {"X-Keap-API-Key": "sandbox-api-key"}


async def test_error_rate_is_roughly_as_configured_with_keap_like_bodies() -> None:
    async with (
        serve_sandbox(small_config(error_rate=0.3)) as keap,
        httpx.AsyncClient(headers=KEY) as client,
    ):
        answers = [
            await client.get(f"{keap.api_base}/v2/tags", params={"page_size": 1})
            for _ in range(300)
        ]
    statuses = Counter(a.status_code for a in answers)
    failed = sum(n for status, n in statuses.items() if status >= 500)
    assert 0.2 <= failed / 300 <= 0.4, statuses
    assert {500, 502, 503} <= set(statuses)
    bodies = {a.status_code: a.json() for a in answers if a.status_code >= 500}
    assert bodies[500]["code"] == 500 and bodies[500]["message"]
    assert bodies[502]["fault"]["detail"]["errorcode"].startswith("messaging.adaptors.http")
    assert bodies[503]["fault"]["faultstring"] == "The Service is temporarily unavailable"
    assert "x-keap-product-throttle-available" in answers[0].headers


async def test_latency_and_slow_answers() -> None:
    async with (
        serve_sandbox(small_config(latency_ms=120)) as keap,
        httpx.AsyncClient(headers=KEY) as client,
    ):
        url = f"{keap.api_base}/v2/tags"
        started = time.perf_counter()
        for _ in range(3):
            assert (await client.get(url)).status_code == 200
        assert time.perf_counter() - started >= 0.36
        keap.sandbox.update_config(latency_ms=0, slow_rate=1.0, slow_ms=300)
        started = time.perf_counter()
        assert (await client.get(url)).status_code == 200
        assert time.perf_counter() - started >= 0.3
    assert keap.sandbox.faults.counts["slow"] == 1


async def test_a_dropped_answer_closes_the_connection() -> None:
    async with (
        serve_sandbox(small_config(drop_rate=1.0)) as keap,
        httpx.AsyncClient(headers=KEY) as client,
    ):
        with pytest.raises(httpx.RemoteProtocolError):
            await client.get(f"{keap.api_base}/v2/tags")


async def test_a_hanging_answer_runs_into_the_client_timeout() -> None:
    config = small_config(drop_rate=1.0, drop_mode="hang", hang_s=30)
    started = time.perf_counter()
    async with serve_sandbox(config) as keap, httpx.AsyncClient(headers=KEY, timeout=0.3) as client:
        with pytest.raises(httpx.ReadTimeout):
            await client.get(f"{keap.api_base}/v2/tags")
    assert time.perf_counter() - started < 5, "the sandbox stops without waiting out the hang"


async def test_faults_can_be_set_at_run_time_and_a_failed_write_changes_nothing(
    keap: RunningSandbox,
) -> None:
    async with httpx.AsyncClient(headers=KEY) as client:
        admin = f"{keap.url}/_sandbox/config"
        assert (await client.patch(admin, json={"error_rate": 1.0})).status_code == 200
        before = keap.sandbox.get("contacts", 5)
        failed = await client.patch(
            f"{keap.api_base}/v2/contacts/5", json={"given_name": "Changed"}
        )
        assert failed.status_code >= 500
        assert keap.sandbox.get("contacts", 5) == before
        assert (await client.patch(admin, json={"error_rate": 0})).json()["error_rate"] == 0
        assert (await client.get(f"{keap.api_base}/v2/tags")).status_code == 200
        fixed = await client.patch(admin, json={"contacts": 10})
        assert fixed.status_code == 400
        assert (await client.patch(admin, json={"error_rate": 2})).status_code == 400
