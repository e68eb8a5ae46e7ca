"""The sync worker's HTTP API and cron, as an admin and the scheduler use them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from shared.rpc.client import coordinator_client
from shared.rpc.methods import ACQUIRE_LEASE, RELEASE_LEASE, RUNS, LeaseRequest, RunRef
from tests.sync.compare import assert_db_matches_keap
from tests.sync.conftest import SyncWorld, start_world, stop_world


@pytest.fixture
async def http(world: SyncWorld) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=world.sync_url, headers=world.admin, timeout=60) as c:
        yield c


async def test_every_route_wants_the_admin_token(world: SyncWorld) -> None:
    async with httpx.AsyncClient(base_url=world.sync_url) as anonymous:
        for method, path in [
            ("POST", "/sync/full"),
            ("POST", "/sync/contacts"),
            ("POST", "/sync/reconcile"),
            ("GET", "/sync/status"),
        ]:
            response = await anonymous.request(method, path)
            assert response.status_code == 401, path
            assert response.json()["error"]["status"] == 401


async def test_sync_one_object_then_read_its_status(
    world: SyncWorld, http: httpx.AsyncClient
) -> None:
    response = await http.post("/sync/contacts")

    assert response.status_code == 200
    run = response.json()
    assert run["status"] == "ok"
    assert list(run["streams"]) == ["contacts"]
    assert run["streams"]["contacts"]["records"] == 3000

    status = (await http.get("/sync/status")).json()
    assert status["cached"] is True  # the run refreshed the cache as it finished
    contacts = status["status"]["objects"]["contacts"]
    assert contacts["rows"] == 3000
    assert contacts["cursor"] == run["streams"]["contacts"]["cursor"]
    assert contacts["last_run"]["run_id"] == run["run_id"]
    assert contacts["last_run"]["status"] == "ok"
    assert contacts["errors"] == []
    assert status["status"]["objects"]["tags"]["rows"] == 0
    assert "sandbox-api-key" not in str(status)


async def test_unknown_objects_are_404(http: httpx.AsyncClient) -> None:
    response = await http.post("/sync/widgets")

    assert response.status_code == 404
    assert "widgets" in response.json()["error"]["message"]


async def test_a_run_while_another_holds_the_lease_is_409(
    world: SyncWorld, http: httpx.AsyncClient
) -> None:
    coordinator = coordinator_client(world.env)
    assert (
        await coordinator.call(ACQUIRE_LEASE, LeaseRequest(run_id="someone-else", ttl_s=60))
    ).acquired

    response = await http.post("/sync/full")

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "sync_in_progress"
    await coordinator.call(RELEASE_LEASE, RunRef(run_id="someone-else"))
    assert (await http.post("/sync/tags")).status_code == 200


async def test_full_sync_and_reconcile_on_demand(world: SyncWorld, http: httpx.AsyncClient) -> None:
    assert (await http.post("/sync/full")).json()["status"] == "ok"
    gone = world.keap.sandbox.make_changes(n_deletes=4, kind="contacts")["deleted"]

    one = (await http.post("/sync/contacts", params={"reconcile": "true"})).json()
    every = (await http.post("/sync/reconcile")).json()

    assert one["kind"] == "reconcile" and one["streams"]["contacts"]["deleted"] == len(gone)
    assert every["status"] == "ok" and every["streams"]["contacts"]["deleted"] == 0
    await assert_db_matches_keap(world.dsn, world.keap.api_base)


async def test_the_crons_run_incremental_syncs_and_reconciliation(world: SyncWorld) -> None:
    scheduled = f"{world.sync_url}/cdn-cgi/handler/scheduled"
    async with httpx.AsyncClient(timeout=60) as client:
        assert (await client.get(scheduled, params={"cron": "*/30 * * * *"})).status_code == 200
        world.keap.sandbox.make_changes(n_edits=3, n_deletes=2, kind="notes")
        assert (await client.get(scheduled, params={"cron": "*/30 * * * *"})).status_code == 200
        assert (await client.get(scheduled, params={"cron": "17 3 * * *"})).status_code == 200

    coordinator = coordinator_client(world.env)
    runs = await coordinator.call(RUNS)
    assert [(r["kind"], r["status"]) for r in reversed(runs)] == [
        ("incremental", "ok"),
        ("incremental", "ok"),
        ("reconcile", "ok"),
    ]
    await assert_db_matches_keap(world.dsn, world.keap.api_base)


async def test_an_expired_token_is_refreshed_and_a_revoked_grant_needs_reauthorization(
    tmp_path: Path, database: str
) -> None:
    keap_context, world = await start_world(tmp_path, database, vars={})  # OAuth only
    try:
        coordinator_url = world.runtime.urls["sync-coordinator"]
        async with httpx.AsyncClient(timeout=30, follow_redirects=True) as client:
            connected = await client.get(f"{coordinator_url}/oauth/initiate", headers=world.admin)
            assert connected.status_code == 200, connected.text
        async with httpx.AsyncClient(base_url=world.sync_url, headers=world.admin) as http:
            assert (await http.post("/sync/tags")).json()["status"] == "ok"
            # An access token Keap expired early: one 401, one refresh, and on we go.
            world.keap.sandbox.auth.expire_tokens()
            assert (await http.post("/sync/tags")).json()["status"] == "ok"
            assert world.keap.sandbox.grant_counts["refresh_token"] == 1

            world.keap.sandbox.auth.revoke(None)
            world.keap.sandbox.auth.expire_tokens()

            response = await http.post("/sync/tags")

        assert response.status_code == 503
        body = response.json()
        assert body["error"]["code"] == "reauthorization_required"
        assert "/oauth/initiate" in body["error"]["message"]
        assert body["run"]["status"] == "failed"
    finally:
        await stop_world(keap_context, world)
