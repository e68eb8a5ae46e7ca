"""Limits on what outsiders can make the workers do: per client IP and per account (the
Workers Rate Limiting bindings, kept in memory locally), 429 with Retry-After past them;
the URL token checked before the body is read; the body size enforced while reading."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from local.postgres import EmbeddedPostgres
from local.runtime import LocalRuntime
from shared.platform.interfaces import RateLimiter
from tests.conftest import admin_headers, local_config
from tests.webhooks.conftest import delivery, queue_depth, url_for

IP_LIMIT, ACCOUNT_LIMIT = 5, 8


@pytest.fixture
async def tight(tmp_path: Path, postgres: EmbeddedPostgres) -> AsyncIterator[LocalRuntime]:
    """The workers with low limits, and a second account `other`."""
    config = local_config(
        tmp_path,
        postgres.dsn,
        sandbox=False,
        vars={"ACCOUNTS": "other"},
        rate_limits={"IP_LIMITER": IP_LIMIT, "ACCOUNT_LIMITER": ACCOUNT_LIMIT},
    )
    rt = LocalRuntime(config)
    await rt.start()
    try:
        yield rt
    finally:
        await rt.stop()


def bad_url(rt: LocalRuntime) -> str:
    return f"{rt.urls['webhook-handler']}/webhook?account=default&token={'0' * 64}"


def ip(address: str) -> dict[str, str]:
    return {"CF-Connecting-IP": address}


async def test_the_local_runtime_takes_its_limits_from_wrangler_toml(
    handler_runtime: LocalRuntime,
) -> None:
    assert handler_runtime.envs is not None
    webhook, coordinator = handler_runtime.envs.webhook_handler, handler_runtime.envs.coordinator
    for env in (webhook, coordinator):
        assert isinstance(env.ip_limiter, RateLimiter) and env.ip_limiter.period_s == 60
        assert isinstance(env.account_limiter, RateLimiter)
    assert handler_runtime.envs.sync_worker.ip_limiter is None  # admin routes only


async def test_a_client_ip_past_its_limit_gets_429_and_others_do_not(tight: LocalRuntime) -> None:
    body = delivery("contact.add", [1])
    async with httpx.AsyncClient(timeout=30) as client:
        first = [
            (await client.post(bad_url(tight), json=body, headers=ip("203.0.113.7"))).status_code
            for _ in range(IP_LIMIT)
        ]
        over = await client.post(bad_url(tight), json=body, headers=ip("203.0.113.7"))
        elsewhere = await client.post(bad_url(tight), json=body, headers=ip("203.0.113.8"))
        keap = await client.post(url_for(tight), json=body, headers=ip("192.0.2.1"))
    assert first == [401] * IP_LIMIT
    assert over.status_code == 429 and over.headers["Retry-After"] == "60"
    assert over.json()["error"]["status"] == 429
    assert elsewhere.status_code == 401
    assert keap.status_code == 200 and keap.json()["accepted"] == 1


async def test_an_account_past_its_limit_gets_429_and_bad_tokens_do_not_count(
    tight: LocalRuntime,
) -> None:
    async with httpx.AsyncClient(timeout=30) as client:
        # A crowd with bad tokens for the account, each from its own address.
        for n in range(3 * ACCOUNT_LIMIT):
            forged = await client.post(
                bad_url(tight), json=delivery("contact.add", [1]), headers=ip(f"198.51.100.{n}")
            )
            assert forged.status_code == 401
        answers = [
            await client.post(
                url_for(tight), json=delivery("contact.edit", [n], at=n), headers=ip(f"192.0.2.{n}")
            )
            for n in range(1, ACCOUNT_LIMIT + 2)
        ]
        other = await client.post(
            url_for(tight, "other"), json=delivery("contact.add", [1]), headers=ip("192.0.2.99")
        )
    statuses = [a.status_code for a in answers]
    assert statuses == [200] * ACCOUNT_LIMIT + [429]
    assert answers[-1].headers["Retry-After"] == "60"
    assert other.status_code == 200
    assert await queue_depth(tight) == ACCOUNT_LIMIT  # the refused one was not queued


async def test_oauth_routes_hold_each_ip_to_its_limit_before_anything_else(
    tight: LocalRuntime,
) -> None:
    coordinator = tight.urls["sync-coordinator"]
    async with httpx.AsyncClient(timeout=30) as client:
        callbacks = [
            (
                await client.get(
                    f"{coordinator}/oauth/callback",
                    params={"state": "forged", "code": "x"},
                    headers=ip("203.0.113.50"),
                )
            ).status_code
            for _ in range(IP_LIMIT + 1)
        ]
        guesses = [
            (
                await client.get(
                    f"{coordinator}/oauth/initiate",
                    headers={**ip("203.0.113.51"), "Authorization": "Bearer guess"},
                )
            ).status_code
            for _ in range(IP_LIMIT + 1)
        ]
        admin = await client.get(
            f"{coordinator}/oauth/status", headers={**ip("192.0.2.200"), **admin_headers(tight)}
        )
    assert callbacks == [400] * IP_LIMIT + [429]
    assert guesses == [401] * IP_LIMIT + [429]  # no more token guesses from there
    assert admin.status_code == 200


async def test_a_body_over_the_limit_is_refused_while_it_is_read(
    handler_runtime: LocalRuntime,
) -> None:
    """No Content-Length (chunked): the size is counted as the body arrives."""

    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"event_key": "contact.add", "pad": "'
        for _ in range(40):
            yield b"x" * 64 * 1024
        yield b'"}'

    async with httpx.AsyncClient(timeout=30) as client:
        response = await client.post(
            url_for(handler_runtime),
            content=chunks(),
            headers={"Content-Type": "application/json"},
        )
    assert response.status_code == 413
    assert "over 1048576 bytes" in response.json()["error"]["message"]
    assert await queue_depth(handler_runtime) == 0
