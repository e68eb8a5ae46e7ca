"""Runs in SQL: `keap.sync_runs` and `keap.sync_state`, as someone in Supabase's SQL editor
reads them, against what `/sync/status` says."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from local.postgres import EmbeddedPostgres
from shared import timefmt
from shared.keap.streams import STREAM_NAMES
from shared.store import sql
from shared.store.tables import TABLES
from tests.sync.conftest import API_KEY, SyncWorld, start_world, stop_world


async def fetch(dsn: str, query: str, *args: Any) -> list[dict[str, Any]]:
    conn = await asyncpg.connect(dsn)
    try:
        return [dict(r) for r in await conn.fetch(query, *args)]
    finally:
        await conn.close()


def admin(world: SyncWorld) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=world.sync_url, headers=world.admin, timeout=120)


async def status(http: httpx.AsyncClient) -> dict[str, Any]:
    response = await http.get("/sync/status", params={"refresh": "true"})
    assert response.status_code == 200, response.text
    return dict(response.json()["status"])


async def test_sync_state_says_what_sync_status_says(world: SyncWorld) -> None:
    async with admin(world) as http:
        assert (await http.post("/sync/full")).json()["status"] == "ok"
        for kind in STREAM_NAMES:
            world.keap.sandbox.make_changes(n_edits=2, n_creates=1, n_deletes=2, kind=kind)
        assert (await http.post("/sync/reconcile")).json()["status"] == "ok"
        world.keap.sandbox.faults.refuse("/v2/orders", 403)
        assert (await http.post("/sync/full")).status_code == 502
        shown = (await status(http))["objects"]

    state = {
        r["object"]: r
        for r in await fetch(world.dsn, "SELECT * FROM keap.sync_state WHERE account = 'default'")
    }
    assert set(state) == set(STREAM_NAMES)
    for name in STREAM_NAMES:
        row, objects = state[name], shown[name]
        assert row["rows"] == objects["rows"], name
        assert row["deleted_rows"] == objects["deleted_rows"], name
        assert row["cursor"] == timefmt.parse(objects["cursor"]), name
        assert row["last_error"] == objects["last_run"]["error"], name
        assert row["last_synced_at"] is not None, name
    assert state["contacts"]["deleted_rows"] == 2
    assert "HTTP 403" in state["orders"]["last_error"]
    assert state["contacts"]["last_error"] is None


def times_counted(log: Path, since: int) -> tuple[dict[str, int], int]:
    """How often each record table was counted in the statements the server logged from
    byte `since` of its log (the statement of a count over several tables holds each
    table's own count as is); the log's end."""
    logged = log.read_bytes()[since:]
    text = logged.decode(errors="replace").replace("\n\t", "\n")  # a statement's lines
    return {n: text.count(sql.counts_sql((n,))) for n in STREAM_NAMES}, since + len(logged)


async def test_a_run_and_its_status_count_each_table_once(
    world: SyncWorld, postgres: EmbeddedPostgres
) -> None:
    """The status cached at a run's end shows the counts the run's end took (rows as the
    database has them, as a rebuilt status has them); no table is counted twice."""
    conn = await asyncpg.connect(world.dsn)
    try:
        database = await conn.fetchval("SELECT current_database()")
        await conn.execute(f"ALTER DATABASE \"{database}\" SET log_statement = 'all'")
    finally:
        await conn.close()
    end = postgres.log_file.stat().st_size
    once = dict.fromkeys(STREAM_NAMES, 1)

    async with admin(world) as http:
        assert (await http.post("/sync/full")).json()["status"] == "ok"
        counted, end = times_counted(postgres.log_file, end)
        assert counted == once  # every table, by the run's end

        world.keap.sandbox.make_changes(n_deletes=2, kind="contacts")
        run = (await http.post("/sync/contacts", params={"reconcile": "true"})).json()
        assert run["status"] == "ok" and run["streams"]["contacts"]["deleted"] == 2
        counted, end = times_counted(postgres.log_file, end)
        assert counted == once  # contacts by the run's end, the others by the status

        cached = (await http.get("/sync/status")).json()
        assert cached["cached"] is True
        rebuilt = await status(http)

    shown = cached["status"]["objects"]
    for name, table in TABLES.items():
        [row] = await fetch(
            world.dsn,
            f"SELECT count(*) FILTER (WHERE deleted_at IS NULL) AS rows, "  # noqa: S608
            f"count(*) FILTER (WHERE deleted_at IS NOT NULL) AS deleted FROM {table.name}",
        )
        assert (shown[name]["rows"], shown[name]["deleted_rows"]) == (row["rows"], row["deleted"])
    assert shown["contacts"]["deleted_rows"] == 2 and shown["contacts"]["rows"] == 2998
    assert shown == rebuilt["objects"]
    assert cached["status"]["quarantine"] == rebuilt["quarantine"]


async def test_every_run_is_a_row_and_a_failed_one_says_why_without_secrets(
    world: SyncWorld,
) -> None:
    async with admin(world) as http:
        assert (await http.post("/sync/tags")).json()["status"] == "ok"
        world.keap.sandbox.faults.refuse("/v2/tags", 403)
        failed = (await http.post("/sync/tags")).json()

    runs = await fetch(world.dsn, "SELECT * FROM keap.sync_runs ORDER BY started_at")
    assert [(r["kind"], r["status"], r["account"]) for r in runs] == [
        ("incremental", "ok", "default"),
        ("incremental", "failed", "default"),
    ]
    ok, bad = runs
    assert ok["error"] is None and ok["finished_at"] >= ok["started_at"]
    counts = json.loads(ok["counts"])
    assert counts["tags"]["status"] == "complete" and counts["tags"]["records"] == 40
    assert bad["id"] == failed["run"]["run_id"]
    assert "keap_refused" in bad["error"] and "HTTP 403" in bad["error"]
    assert json.loads(bad["counts"])["tags"]["status"] == "failed"
    assert API_KEY not in json.dumps(runs, default=str)


async def test_runs_older_than_the_retention_setting_are_deleted(
    tmp_path: Path, database: str
) -> None:
    vars = {"KEAP_API_KEY": API_KEY, "RUN_RETENTION_DAYS": "30"}
    keap_context, world = await start_world(tmp_path, database, vars=vars)
    try:
        async with admin(world) as http:
            assert (await http.post("/sync/tags")).json()["status"] == "ok"
            conn = await asyncpg.connect(world.dsn)
            try:
                await conn.execute(
                    "INSERT INTO keap.sync_runs (id, account, kind, started_at, status) VALUES "
                    "('old', 'default', 'full', now() - interval '31 days', 'ok'), "
                    "('kept', 'default', 'full', now() - interval '29 days', 'ok')"
                )
            finally:
                await conn.close()
            assert (await http.post("/sync/tags")).json()["status"] == "ok"
    finally:
        await stop_world(keap_context, world)

    ids = [r["id"] for r in await fetch(world.dsn, "SELECT id FROM keap.sync_runs")]
    assert "old" not in ids and "kept" in ids and len(ids) == 3
