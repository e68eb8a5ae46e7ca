"""The local runtime as a user meets it: three workers answering over real HTTP."""

from __future__ import annotations

import httpx

from local.runtime import LocalRuntime
from tests.conftest import local_config


async def test_every_worker_reports_healthy_with_real_checks(runtime: LocalRuntime) -> None:
    async with httpx.AsyncClient(timeout=10) as client:
        bodies = {}
        for name in ("sync-coordinator", "sync-worker", "webhook-handler"):
            response = await client.get(f"{runtime.urls[name]}/health")
            assert response.status_code == 200, response.text
            bodies[name] = response.json()
    assert all(body["status"] == "healthy" for body in bodies.values())
    assert bodies["sync-coordinator"]["timestamp"].endswith("Z")
    assert set(bodies["sync-coordinator"]["services"]) == {"durable_object", "kv", "database"}
    # `streams`: no object Keap refuses for good.
    assert set(bodies["sync-worker"]["services"]) == {"coordinator", "kv", "database", "streams"}
    assert bodies["sync-worker"]["services"]["streams"]["refused"] == []
    assert set(bodies["webhook-handler"]["services"]) == {"coordinator"}
    for body in bodies.values():
        assert all(s["status"] == "ok" for s in body["services"].values())
    queue = bodies["sync-coordinator"]["services"]["durable_object"]["queue"]
    assert queue["depth"] == 0 and queue["oldest_age_s"] is None  # webhook events waiting


async def test_health_is_degraded_503_when_the_database_is_unreachable(tmp_path, postgres) -> None:
    from local.serve import free_port

    dead = f"postgresql://postgres@127.0.0.1:{free_port()}/nothing"
    rt = LocalRuntime(local_config(tmp_path, dead, sandbox=False))
    await rt.start()
    try:
        async with httpx.AsyncClient(timeout=10) as client:
            response = await client.get(f"{rt.urls['sync-worker']}/health")
        body = response.json()
        assert response.status_code == 503
        assert body["status"] == "degraded"
        assert body["services"]["database"]["status"] == "error"
        assert body["services"]["kv"]["status"] == "ok"
        assert "postgresql://" not in response.text  # no connection string in errors
    finally:
        await rt.stop()


async def test_unknown_route_is_a_json_404(runtime: LocalRuntime) -> None:
    async with httpx.AsyncClient() as client:
        response = await client.get(f"{runtime.urls['sync-worker']}/no-such-thing")
    assert response.status_code == 404
    assert response.json()["error"]["status"] == 404


async def test_scheduled_route_runs_the_cron_handler(runtime: LocalRuntime, caplog) -> None:
    caplog.set_level("INFO", logger="keap_sync.cron")
    async with httpx.AsyncClient(timeout=30) as client:
        response = await client.get(
            f"{runtime.urls['sync-worker']}/cdn-cgi/handler/scheduled",
            params={"cron": "*/30 * * * *"},
        )
    assert response.status_code == 200
    assert response.json() == {"ran": "scheduled", "cron": "*/30 * * * *"}
