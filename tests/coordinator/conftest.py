"""Helpers for the coordinator tests: a connected account, reaching the object's storage."""

from __future__ import annotations

from typing import Any

import httpx

from local.runtime import LocalRuntime
from shared.coordinator.client import CoordinatorClient
from tests.conftest import admin_headers


async def connect_via_oauth(rt: LocalRuntime, client: httpx.AsyncClient) -> httpx.Response:
    """The whole dance over HTTP: initiate (admin), Keap's authorize page, our callback."""
    coordinator = rt.urls["sync-coordinator"]
    initiated = await client.get(f"{coordinator}/oauth/initiate", headers=admin_headers(rt))
    assert initiated.status_code == 302, initiated.text
    authorize = await client.get(initiated.headers["location"])
    assert authorize.status_code == 302, authorize.text
    callback = authorize.headers["location"]
    assert callback.startswith(f"{coordinator}/oauth/callback?")
    return await client.get(callback)


def coordinator_client(rt: LocalRuntime, account: str = "default") -> CoordinatorClient:
    assert rt.envs is not None and rt.envs.sync_worker.coordinator is not None
    return CoordinatorClient(rt.envs.sync_worker.coordinator, account)


def object_sql(rt: LocalRuntime, account: str = "default") -> Any:
    """The account's Durable Object storage, to stand in for time passing."""
    assert rt._namespace is not None
    return rt._namespace.get(account).storage.sql
