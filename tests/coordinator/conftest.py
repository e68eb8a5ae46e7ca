"""Helpers for the coordinator tests: reaching an account object's storage."""

from __future__ import annotations

from typing import Any

from local.runtime import LocalRuntime


def object_sql(rt: LocalRuntime, account: str = "default") -> Any:
    """The account's Durable Object storage, to stand in for time passing."""
    assert rt._namespace is not None
    return rt._namespace.get(account).storage.sql
