"""What the local runtime keeps on disk is this user's alone; its Postgres is reached over
loopback only."""

from __future__ import annotations

import stat

import asyncpg
import httpx

from local.postgres import EmbeddedPostgres
from local.runtime import LocalRuntime
from tests.conftest import admin_headers


async def test_state_files_holding_tokens_and_secrets_are_private(runtime: LocalRuntime) -> None:
    async with httpx.AsyncClient(timeout=30) as client:
        # An account's Durable Object is written (its OAuth state) and the KV cache too.
        initiated = await client.get(
            f"{runtime.urls['sync-coordinator']}/oauth/initiate", headers=admin_headers(runtime)
        )
        assert initiated.status_code == 302
        assert (await client.get(f"{runtime.urls['sync-worker']}/health")).status_code == 200
    state = runtime.config.state_dir
    objects = list((state / "durable_objects").glob("*.sqlite3*"))
    assert any(p.name.endswith("-wal") for p in objects), objects  # WAL files included
    files = [p for p in state.rglob("*") if p.is_file() and "postgres" not in p.parts]
    names = {p.name for p in files}
    assert {"kv.sqlite3", "local-secrets.json"} <= names
    shared = {
        str(p.relative_to(state)): oct(stat.S_IMODE(p.stat().st_mode))
        for p in files
        if stat.S_IMODE(p.stat().st_mode) & 0o077
    }
    assert shared == {}
    assert stat.S_IMODE((state / "durable_objects").stat().st_mode) == 0o700
    # Others may pass through the state folder (to the embedded Postgres's own folder,
    # when it runs as another user), not list or read it.
    assert stat.S_IMODE(state.stat().st_mode) == 0o711


async def test_the_embedded_postgres_listens_on_loopback_only(postgres: EmbeddedPostgres) -> None:
    conn = await asyncpg.connect(postgres.dsn)
    try:
        assert await conn.fetchval("SHOW listen_addresses") == "127.0.0.1"
        assert await conn.fetchval("SHOW unix_socket_directories") == ""
    finally:
        await conn.close()
