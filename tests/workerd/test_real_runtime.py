"""What a person deploying the product would check, on Cloudflare's own runtime (workerd).

The three bundled workers run under `wrangler dev` on workerd 1.20260822.1 with Pyodide
314.0.5; Keap is the project's sandbox behind HTTPS. Every call to Keap goes through the
runtime's `fetch` (Pyodide has no TLS of its own). Postgres cannot be reached here (asyncpg has
no Pyodide wheel on PyPI): what needs it must fail clearly, never crash.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import httpx
import pytest
from pydantic import SecretStr

from shared.webhooks.auth import hook_token
from tests.workerd.cluster import wait_until
from tests.workerd.conftest import RealRuntime
from tests.workerd.inspector import MB, isolate_memory

# A run reads the schema's migration files (supabase/migrations/ in the bundle) before it
# connects: reaching the missing driver shows the runtime could read them.
ASYNCPG_MISSING = "the Postgres driver (asyncpg) is not in this worker's bundle"
CLOUDFLARE_ISOLATE_LIMIT = 128 * MB  # local workerd does not enforce it
# Python's WebAssembly memory is about 52 MB from the start on this runtime: a figure under
# this floor means it was not found.
PYTHON_MEMORY_FLOOR = 16 * MB


def queue_depth(rt: RealRuntime) -> int:
    """The default account's webhook queue, read live (through the sync worker's status)."""
    body = rt.get("sync_worker", "/sync/status", headers=rt.admin).json()
    return int(body["queue"]["depth"])


def fetch_lines(
    rt: RealRuntime, package: str, method: str, path: str, at_least: int = 0
) -> list[str]:
    """The worker's log lines of fetches to the sandbox (over HTTPS) for `path`, once there
    are `at_least` of them (workerd's output reaches the log file a little later)."""
    pattern = re.compile(
        rf"fetch {method} https://127\.0\.0\.1:{rt.sandbox.port}{re.escape(path)} -> (\d+)"
    )
    worker = rt.cluster.workers[package]

    def lines() -> list[str]:
        return [m.group(0) for m in pattern.finditer(worker.log_text())]

    wait_until(
        f"{at_least} {method} {path} lines", lambda: len(lines()) >= at_least, 15, worker.log
    )
    return lines()


def oauth_dance(rt: RealRuntime) -> httpx.Response:
    """What an admin's browser does: initiate (admin), Keap's consent page, our callback."""
    initiated = rt.get("sync_coordinator", "/oauth/initiate", headers=rt.admin)
    assert initiated.status_code == 302, initiated.text
    authorize = initiated.headers["location"]
    assert authorize.startswith(f"{rt.sandbox.url}/app/oauth/authorize?")
    with rt.sandbox.client() as keap:
        consent = keap.get(authorize)
    assert consent.status_code == 302, consent.text
    callback = consent.headers["location"]
    assert urlsplit(callback).path == "/oauth/callback"
    return httpx.get(callback, timeout=60)


@pytest.fixture(scope="module")
def connected(real_runtime: RealRuntime) -> RealRuntime:
    status = real_runtime.get("sync_coordinator", "/oauth/status", headers=real_runtime.admin)
    if status.json()["connection"]["state"] != "connected":
        done = oauth_dance(real_runtime)
        assert done.status_code == 200, done.text
    return real_runtime


def test_health_on_workerd_checks_the_bindings_and_reports_the_database_clearly(
    real_runtime: RealRuntime,
) -> None:
    for package, coordinator_check in (
        ("sync_coordinator", "durable_object"),
        ("sync_worker", "coordinator"),
    ):
        response = real_runtime.get(package, "/health")
        assert response.status_code == 503, response.text
        assert response.headers["content-type"].startswith("application/json")
        body = response.json()
        assert body["status"] == "degraded"
        checks = body["checks"]
        assert checks[coordinator_check] == "ok", checks
        assert checks["kv"] == "ok", checks
        assert checks["database"] == "fail"
        assert ASYNCPG_MISSING not in response.text  # the detail is the admin's
        detail = real_runtime.get(package, "/health/detail", headers=real_runtime.admin)
        assert detail.status_code == 503, detail.text
        assert ASYNCPG_MISSING in detail.json()["services"]["database"]["error"]

    response = real_runtime.get("webhook_handler", "/health")
    assert response.status_code == 200, response.text
    assert response.json()["checks"] == {"coordinator": "ok"}


def test_the_oauth_dance_over_https_connects_the_account(real_runtime: RealRuntime) -> None:
    done = oauth_dance(real_runtime)
    assert done.status_code == 200, done.text
    assert "Keap is connected" in done.text

    status = real_runtime.get("sync_coordinator", "/oauth/status", headers=real_runtime.admin)
    connection = status.json()["connection"]
    assert connection["state"] == "connected"
    assert connection["tenant"] == "sandbox123.infusionsoft.com"
    grants = real_runtime.sandbox.control("GET", "/stats")["grant_counts"]
    assert grants["authorization_code"] == 1
    # The code exchange left the worker through fetch, over HTTPS.
    assert fetch_lines(real_runtime, "sync_coordinator", "POST", "/token", at_least=1) == [
        f"fetch POST https://127.0.0.1:{real_runtime.sandbox.port}/token -> 200"
    ]


def test_expired_tokens_are_refreshed_once_over_https(connected: RealRuntime) -> None:
    rt = connected
    hook_calls = len(fetch_lines(rt, "sync_coordinator", "GET", "/crm/rest/v1/hooks"))
    before = rt.sandbox.control("GET", "/stats")["grant_counts"].get("refresh_token", 0)
    refreshed_at = rt.get("sync_coordinator", "/oauth/status", headers=rt.admin).json()
    assert rt.sandbox.control("POST", "/expire-tokens")["expired"] >= 1

    hooks = rt.get("sync_coordinator", "/hooks", headers=rt.admin)  # a Keap call: 401, refresh
    assert hooks.status_code == 200, hooks.text

    after = rt.sandbox.control("GET", "/stats")["grant_counts"]["refresh_token"]
    assert after == before + 1
    status = rt.get("sync_coordinator", "/oauth/status", headers=rt.admin).json()
    assert status["connection"]["state"] == "connected"
    assert status["connection"]["refreshed_at"] >= refreshed_at["connection"]["refreshed_at"]
    calls = fetch_lines(rt, "sync_coordinator", "GET", "/crm/rest/v1/hooks", hook_calls + 2)
    assert calls[hook_calls:] == [
        f"fetch GET https://127.0.0.1:{rt.sandbox.port}/crm/rest/v1/hooks -> 401",
        f"fetch GET https://127.0.0.1:{rt.sandbox.port}/crm/rest/v1/hooks -> 200",
    ]


def test_hooks_register_over_https_and_deliveries_reach_the_queue(connected: RealRuntime) -> None:
    rt = connected
    registered = rt.post("sync_coordinator", "/hooks/register", headers=rt.admin)
    assert registered.status_code == 200, registered.text
    hooks = registered.json()["hooks"]
    contact_hooks = [h for h in hooks if h["eventKey"].startswith("contact.")]
    assert {h["eventKey"] for h in contact_hooks} == {
        "contact.add",
        "contact.edit",
        "contact.delete",
    }
    # Keap verifies a hook only once the handler on workerd echoed its X-Hook-Secret.
    assert all(h["status"] == "Verified" for h in contact_hooks), contact_hooks

    depth = queue_depth(rt)
    edited = rt.sandbox.control("POST", "/changes", {"kind": "contacts", "edits": 3})["edited"]
    assert len(edited) == 3
    assert rt.sandbox.control("POST", "/hooks/wait-idle")["idle"] is True
    deliveries = [
        a for a in rt.sandbox.control("GET", "/hooks/attempts") if a["event_key"] == "contact.edit"
    ]
    assert sum(a["objects"] for a in deliveries if a["status"] == 200) >= 3, deliveries
    # Postgres cannot be reached here, so the queue keeps them (and backs off).
    assert queue_depth(rt) >= depth + 3


def test_the_cron_reaches_keap_over_https_then_fails_on_the_database(
    connected: RealRuntime,
) -> None:
    rt = connected
    before = len(fetch_lines(rt, "sync_worker", "GET", "/crm/rest/v2/"))
    answer = rt.get("sync_worker", "/cdn-cgi/handler/scheduled", params={"cron": "*/30 * * * *"})
    assert answer.status_code == 200, answer.text

    log = rt.cluster.workers["sync_worker"].wait_for_log(ASYNCPG_MISSING)
    pages = re.findall(
        rf"fetch GET https://127\.0\.0\.1:{rt.sandbox.port}/crm/rest/v2/\w+ -> 200", log
    )
    assert len(pages) > before, "the scheduled run never reached Keap"
    assert "failed: database_unavailable" in log
    assert ASYNCPG_MISSING in log
    assert "migrations cannot be read" not in log


def test_bad_webhooks_and_unauthenticated_admin_calls_change_nothing(
    connected: RealRuntime,
) -> None:
    rt = connected
    depth = queue_depth(rt)
    delivery = {
        "event_key": "contact.edit",
        "object_type": "contact",
        "object_keys": [{"id": 7, "apiUrl": "", "timestamp": "2026-11-30T00:00:00Z"}],
    }
    forged = rt.post(
        "webhook_handler",
        "/webhook",
        params={"account": "default", "token": "0" * 64},
        json=delivery,
    )
    assert forged.status_code == 401, forged.text
    token = hook_token(SecretStr(rt.webhook_secret), "default")
    malformed = rt.post(
        "webhook_handler",
        "/webhook",
        params={"account": "default", "token": token},
        content=b"{not json",
        headers={"content-type": "application/json"},
    )
    assert malformed.status_code in (400, 415), malformed.text
    assert queue_depth(rt) == depth

    for package, method, path in (
        ("sync_coordinator", "GET", "/oauth/initiate"),
        ("sync_coordinator", "GET", "/hooks"),
        ("sync_worker", "POST", "/sync/full"),
        ("sync_worker", "GET", "/sync/status"),
    ):
        response = httpx.request(method, f"{rt.url(package)}{path}", timeout=60)
        assert response.status_code == 401, (path, response.text)
        assert response.json()["error"]["status"] == 401


def test_keap_out_of_reach_is_a_coded_error_never_a_crash(connected: RealRuntime) -> None:
    """fetch failing outright (nothing listens any more) reaches the admin as `keap_unavailable`
    after the client's retries. Runs after every scenario that needs Keap: it stops the sandbox."""
    rt = connected
    rt.sandbox.stop()
    hooks = rt.get("sync_coordinator", "/hooks", headers=rt.admin)
    assert hooks.status_code == 502, hooks.text
    error = hooks.json()["error"]
    assert error["code"] == "keap_unavailable"
    assert "did not answer GET /v1/hooks" in error["message"]
    assert rt.admin_token not in hooks.text


def test_no_worker_crashed_along_the_way(real_runtime: RealRuntime) -> None:
    """Every failure above was an answer or a logged error, never an uncaught exception."""
    for package, worker in real_runtime.cluster.workers.items():
        log = worker.log_text()
        for sign in ("Traceback (most recent call last)", "Uncaught", "Unhandled exception"):
            assert sign not in log, f"{package}: {sign}\n{log[-4000:]}"


def test_each_isolate_stays_within_cloudflare_memory_limit(
    real_runtime: RealRuntime, memory_report: list[str]
) -> None:
    """Runs last: each worker's isolate memory after the scenarios above, read from workerd's
    inspector and printed in the summary. Local workerd lets an isolate grow past Cloudflare's
    128 MB; this says how far from it each worker stands."""
    readings = {}
    for worker in real_runtime.cluster.workers.values():
        memory = isolate_memory(worker.inspector_port, worker.name)
        memory_report.append(memory.describe(worker.name))
        readings[worker.name] = memory
    for name, memory in readings.items():
        assert memory.webassembly >= PYTHON_MEMORY_FLOOR, memory.describe(name)
        assert 0 < memory.heap_used <= memory.heap_total, memory.describe(name)
        assert memory.total < CLOUDFLARE_ISOLATE_LIMIT, memory.describe(name)
