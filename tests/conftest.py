"""Fixtures shared by the whole suite: a real Postgres and the real local runtime."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest

from local.config import LocalConfig
from local.first_run import admin_headers
from local.postgres import EmbeddedPostgres
from local.runtime import LocalRuntime
from local.serve import free_port
from shared.rpc.client import CoordinatorClient, coordinator_client

ROOT = Path(__file__).resolve().parent.parent
# Keap's API descriptions, kept in the repository (see local/keap_sandbox/spec/README.md).
KEAP_FACTS = ROOT / "local" / "keap_sandbox" / "spec"


@pytest.fixture(scope="session")
def postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedPostgres]:
    """One embedded Postgres for the session (or the one DATABASE_URL names is not used:
    tests need to stop and start their own server)."""
    server = EmbeddedPostgres(tmp_path_factory.mktemp("pg") / "data", free_port())
    server.start()
    try:
        yield server
    finally:
        server.stop()


def account_client(rt: LocalRuntime, account: str = "default") -> CoordinatorClient:
    """The coordinator of `account` in a running local runtime, as the sync worker reaches it."""
    assert rt.envs is not None
    return coordinator_client(rt.envs.sync_worker, account)


def local_config(tmp_path: Path, dsn: str, **overrides: object) -> LocalConfig:
    """A runtime config on free ports with its own state folder."""
    ports = {
        "coordinator_port": free_port(),
        "sync_worker_port": free_port(),
        "webhook_port": free_port(),
        "sandbox_port": free_port(),
    }
    values: dict[str, object] = {
        "state_dir": tmp_path / "state",
        "database_url": dsn,
        "cron": False,
    }
    values.update(ports)
    values.update(overrides)
    return LocalConfig.from_environ({}, **values)


def with_dsn_database(dsn: str, database: str) -> str:
    return dsn.rsplit("/", 1)[0] + "/" + database


@contextlib.asynccontextmanager
async def fresh_database(postgres: EmbeddedPostgres) -> AsyncIterator[str]:
    """A new database on the session's Postgres, dropped afterwards; its DSN."""
    name = f"sync_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(with_dsn_database(postgres.dsn, "postgres"))
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    try:
        yield with_dsn_database(postgres.dsn, name)
    finally:
        admin = await asyncpg.connect(with_dsn_database(postgres.dsn, "postgres"))
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


@pytest.fixture
async def database(postgres: EmbeddedPostgres) -> AsyncIterator[str]:
    """A fresh database on the session's Postgres; its DSN."""
    async with fresh_database(postgres) as dsn:
        yield dsn


@pytest.fixture
async def other_database(postgres: EmbeddedPostgres) -> AsyncIterator[str]:
    """A second fresh database, for tests that compare two."""
    async with fresh_database(postgres) as dsn:
        yield dsn


@pytest.fixture
async def runtime(tmp_path: Path, database: str) -> AsyncIterator[LocalRuntime]:
    """The three workers and the Keap sandbox on free ports, with a database of their own."""
    rt = LocalRuntime(local_config(tmp_path, database))
    await rt.start()
    try:
        yield rt
    finally:
        await rt.stop()


__all__ = [
    "KEAP_FACTS",
    "ROOT",
    "account_client",
    "admin_headers",
    "database",
    "fresh_database",
    "local_config",
    "with_dsn_database",
]
