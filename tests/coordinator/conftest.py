"""Helpers for the coordinator tests: a client for the account, reaching the object's storage."""

from __future__ import annotations

from typing import Any

from local.runtime import LocalRuntime
from shared.rpc.client import CoordinatorClient


def coordinator_client(rt: LocalRuntime, account: str = "default") -> CoordinatorClient:
    assert rt.envs is not None and rt.envs.sync_worker.coordinator is not None
    return CoordinatorClient(rt.envs.sync_worker.coordinator, account)


def object_sql(rt: LocalRuntime, account: str = "default") -> Any:
    """The account's Durable Object storage, to stand in for time passing."""
    assert rt._namespace is not None
    return rt._namespace.get(account).storage.sql
