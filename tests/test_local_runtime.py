"""The local runtime as a user meets it: three workers answering over real HTTP."""

from __future__ import annotations

import httpx

from local.runtime import LocalRuntime
from tests.conftest import admin_headers, local_config


async def test_every_worker_reports_healthy_with_real_checks(runtime: LocalRuntime) -> None:
    async with httpx.AsyncClient(timeout=10) as client:
        bodies, details = {}, {}
        for name in ("sync-coordinator", "sync-worker", "webhook-handler"):
            response = await client.get(f"{runtime.urls[name]}/health")
            assert response.status_code == 200, response.text
            bodies[name] = response.json()
        for name in ("sync-coordinator", "sync-worker"):
            detail = await client.get(
                f"{runtime.urls[name]}/health/detail", headers=admin_headers(runtime)
            )
            assert detail.status_code == 200, detail.text
            details[name] = detail.json()
        anonymous = await client.get(f"{runtime.urls['sync-worker']}/health/detail")
    assert all(body["status"] == "healthy" for body in bodies.values())
    assert bodies["sync-coordinator"]["timestamp"].endswith("Z")
    assert bodies["sync-coordinator"]["checks"] == {
        "durable_object": "ok",
        "keap": "ok",
        "webhook_queue": "ok",
        "kv": "ok",
        "database": "ok",
    }
    # `streams`: no object Keap refuses for good, no failed last run.
    assert set(bodies["sync-worker"]["checks"]) == {
        "coordinator",
        "keap",
        "webhook_queue",
        "streams",
        "kv",
        "database",
    }
    assert bodies["webhook-handler"]["checks"] == {"coordinator": "ok"}
    assert anonymous.status_code == 401
    services = details["sync-coordinator"]["services"]
    assert all(s["status"] == "ok" for s in services.values())
    queue = services["webhook_queue"]["accounts"]["default"]  # webhook events waiting
    assert queue["depth"] == 0 and queue["oldest_age_s"] is None
    assert details["sync-worker"]["services"]["streams"]["accounts"] == {"default": []}


async def test_health_is_degraded_503_when_the_database_is_unreachable(tmp_path, postgres) -> None:
    from local.serve import free_port

    dead = f"postgresql://postgres@127.0.0.1:{free_port()}/nothing"
    rt = LocalRuntime(local_config(tmp_path, dead, sandbox=False))
    await rt.start()
    try:
        async with httpx.AsyncClient(timeout=10) as client:
            response = await client.get(f"{rt.urls['sync-worker']}/health")
            detail = await client.get(
                f"{rt.urls['sync-worker']}/health/detail", headers=admin_headers(rt)
            )
        body = response.json()
        assert response.status_code == 503
        assert body["status"] == "degraded"
        assert body["checks"]["database"] == "fail"
        assert body["checks"]["kv"] == "ok"
        port = dead.rsplit(":", 1)[1].split("/")[0]
        assert "127.0.0.1" not in response.text and port not in response.text  # no host, port
        assert detail.status_code == 503
        assert detail.json()["services"]["database"]["status"] == "error"
        assert "postgresql://" not in detail.text  # no connection string in errors
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
