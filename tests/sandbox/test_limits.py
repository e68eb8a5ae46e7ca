"""Keap's limits: per-minute throttle, daily quota, spike arrest, tenant limits, headers."""

from __future__ import annotations

import asyncio
import time

import httpx

from local.keap_sandbox import serve_sandbox
from tests.sandbox.conftest import authorized_client, small_config
from tests.timing import HandClock

KEY = {"X-Keap-API-Key": "sandbox-api-key"}
QUOTA_TEXT = "Rate limit quota violation. Quota limit  exceeded. Identifier : "


def _limited(**overrides: object) -> dict[str, object]:
    return {
        "limits_enabled": True,
        "spike_per_second": 1000,
        "key_spike_per_second": 1000,
        **overrides,
    }


async def test_throttle_headers_count_down_to_a_429_with_apigees_fault() -> None:
    config = small_config(**_limited(throttle_per_minute=5))
    async with serve_sandbox(config) as keap, authorized_client(keap) as api:
        seen = []
        for _ in range(5):
            response = await api.get("/v2/tags", params={"page_size": 1})
            assert response.status_code == 200
            seen.append(
                (
                    response.headers["x-keap-product-throttle-available"],
                    response.headers["x-keap-product-throttle-used"],
                )
            )
        assert seen == [("4", "1"), ("3", "2"), ("2", "3"), ("1", "4"), ("0", "5")]
        h = response.headers
        assert h["x-keap-product-throttle-limit"] == "5"
        assert h["x-keap-product-throttle-interval"] == "1"
        assert h["x-keap-product-throttle-time-unit"] == "minute"
        assert h["x-keap-product-quota-limit"] == "150000"
        assert h["x-keap-product-quota-available"] == "149995"
        assert h["x-keap-product-quota-used"] == "5"
        assert h["x-keap-product-quota-time-unit"] == "day"
        expiry = int(h["x-keap-product-quota-expiry-time"]) / 1000
        assert 86_000 < expiry - time.time() <= 86_400
        assert h["x-keap-tenant-throttle-limit"] == "10000"
        assert h["x-keap-tenant-throttle-available"] == "9995"
        assert h["x-keap-tenant-id"] == "sandbox123"

        refused = await api.get("/v2/tags")
        assert refused.status_code == 429
        assert refused.json() == {
            "fault": {
                "faultstring": QUOTA_TEXT + "sandbox-client",
                "detail": {"errorcode": "policies.ratelimit.QuotaViolation"},
            }
        }
        assert refused.headers["x-keap-product-throttle-available"] == "0"
        # A refused request does not count.
        assert refused.headers["x-keap-product-quota-used"] == "5"
    assert keap.sandbox.limits.rejected["throttle"] == 1


async def test_daily_quota() -> None:
    async with (
        serve_sandbox(small_config(**_limited(quota_per_day=3))) as keap,
        authorized_client(keap) as api,
    ):
        statuses = [(await api.get("/v2/tags")).status_code for _ in range(4)]
        assert statuses == [200, 200, 200, 429]


async def test_spike_arrest_refuses_bursts_and_recovers() -> None:
    async with (
        serve_sandbox(small_config(**_limited(spike_per_second=3))) as keap,
        authorized_client(keap) as api,
    ):
        clock = keap.sandbox.limits.clock = HandClock(1000.0)
        burst = await asyncio.gather(
            *(api.get("/v2/tags", params={"page_size": 1}) for _ in range(5))
        )
        statuses = sorted(r.status_code for r in burst)
        assert statuses == [200, 200, 200, 429, 429]
        refused = next(r for r in burst if r.status_code == 429)
        assert (
            refused.json()["fault"]["detail"]["errorcode"]
            == "policies.ratelimit.SpikeArrestViolation"
        )
        clock.advance(0.99)
        assert (await api.get("/v2/tags")).status_code == 429  # the same second
        clock.advance(0.02)
        assert (await api.get("/v2/tags")).status_code == 200


async def test_api_keys_have_their_own_lower_limits() -> None:
    async with (
        serve_sandbox(small_config(limits_enabled=True)) as keap,
        httpx.AsyncClient() as client,
    ):
        response = await client.get(f"{keap.api_base}/v2/tags", headers=KEY)
        assert response.headers["x-keap-product-throttle-limit"] == "240"
        assert response.headers["x-keap-product-quota-limit"] == "30000"
        burst = await asyncio.gather(
            *(client.get(f"{keap.api_base}/v2/tags", headers=KEY) for _ in range(12))
        )
        assert sum(r.status_code == 429 for r in burst) >= 2, "10 a second for keys"


async def test_tenant_limit_spans_all_callers() -> None:
    config = small_config(**_limited(tenant_throttle_per_minute=4))
    async with serve_sandbox(config) as keap, authorized_client(keap) as api:
        for _ in range(2):
            assert (await api.get("/v2/tags")).status_code == 200
            assert (await api.get("/v2/tags", headers=KEY)).status_code == 200
        refused = await api.get("/v2/tags", headers=KEY)
        assert refused.status_code == 429
        assert refused.json()["fault"]["faultstring"] == QUOTA_TEXT + "sandbox123"


async def test_headers_on_every_answer_and_limits_can_be_switched_off() -> None:
    async with (
        serve_sandbox(small_config(**_limited(throttle_per_minute=2))) as keap,
        authorized_client(keap) as api,
    ):
        missing = await api.get("/v2/contacts/999999")
        assert missing.status_code == 404
        assert missing.headers["x-keap-product-throttle-available"] == "1"
        bad = await api.get("/v2/contacts", params={"limit": 5})
        assert bad.status_code == 400 and bad.headers["x-keap-product-throttle-available"] == "0"
        assert (await api.get("/v2/tags")).status_code == 429

        patched = await api.patch(f"{keap.url}/_sandbox/config", json={"limits_enabled": False})
        assert patched.json()["limits_enabled"] is False
        allowed = await api.get("/v2/tags")
        assert allowed.status_code == 200
        assert allowed.headers["x-keap-product-throttle-used"] == "3", "still counted and reported"
