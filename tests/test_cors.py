"""Browsers may call the admin API from ALLOWED_ORIGIN only; with it unset, from nowhere."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from local.postgres import EmbeddedPostgres
from local.runtime import LocalRuntime
from tests.conftest import admin_headers, local_config

ORIGIN = "https://admin.example.com"


async def _runtime(tmp_path: Path, dsn: str, **vars: str) -> LocalRuntime:
    rt = LocalRuntime(local_config(tmp_path, dsn, sandbox=False, vars=vars))
    await rt.start()
    return rt


@pytest.fixture
async def with_origin(tmp_path: Path, postgres: EmbeddedPostgres) -> AsyncIterator[LocalRuntime]:
    rt = await _runtime(tmp_path, postgres.dsn, ALLOWED_ORIGIN=ORIGIN)
    try:
        yield rt
    finally:
        await rt.stop()


@pytest.fixture
async def without_origin(tmp_path: Path, postgres: EmbeddedPostgres) -> AsyncIterator[LocalRuntime]:
    rt = await _runtime(tmp_path, postgres.dsn)
    try:
        yield rt
    finally:
        await rt.stop()


def _preflight(origin: str) -> dict[str, str]:
    return {
        "Origin": origin,
        "Access-Control-Request-Method": "GET",
        "Access-Control-Request-Headers": "authorization",
    }


def _cors(response: httpx.Response) -> dict[str, str]:
    return {k: v for k, v in response.headers.items() if k.startswith("access-control-")}


async def test_the_allowed_origin_may_call_the_admin_api(with_origin: LocalRuntime) -> None:
    url = f"{with_origin.urls['sync-worker']}/sync/status"
    async with httpx.AsyncClient(timeout=30) as client:
        preflight = await client.options(url, headers=_preflight(ORIGIN))
        call = await client.get(url, headers={**admin_headers(with_origin), "Origin": ORIGIN})
        refused = await client.get(url, headers={"Origin": ORIGIN})  # no token: still 401
    assert preflight.status_code == 204
    assert preflight.headers["access-control-allow-origin"] == ORIGIN
    assert preflight.headers["access-control-allow-credentials"] == "true"
    assert "authorization" in preflight.headers["access-control-allow-headers"].lower()
    assert "GET" in preflight.headers["access-control-allow-methods"]
    assert call.status_code == 200, call.text
    assert call.headers["access-control-allow-origin"] == ORIGIN
    assert "Origin" in call.headers["vary"]
    assert refused.status_code == 401


async def test_another_origin_gets_no_cors_headers(with_origin: LocalRuntime) -> None:
    url = f"{with_origin.urls['sync-coordinator']}/oauth/status"
    async with httpx.AsyncClient(timeout=30) as client:
        preflight = await client.options(url, headers=_preflight("https://evil.example"))
        call = await client.get(
            url, headers={**admin_headers(with_origin), "Origin": "https://evil.example"}
        )
    assert preflight.status_code == 405 and _cors(preflight) == {}
    assert call.status_code == 200 and _cors(call) == {}


async def test_without_allowed_origin_no_cors_headers_at_all(
    without_origin: LocalRuntime,
) -> None:
    async with httpx.AsyncClient(timeout=30) as client:
        for name, path in (("sync-worker", "/sync/status"), ("sync-coordinator", "/oauth/status")):
            url = f"{without_origin.urls[name]}{path}"
            preflight = await client.options(url, headers=_preflight(ORIGIN))
            call = await client.get(
                url, headers={**admin_headers(without_origin), "Origin": ORIGIN}
            )
            assert preflight.status_code == 405 and _cors(preflight) == {}
            assert call.status_code == 200 and _cors(call) == {}, call.text
