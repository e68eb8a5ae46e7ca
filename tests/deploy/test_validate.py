"""validate-deployment.sh: PASS/WARN/FAIL per check, keeps going, non-zero on any FAIL."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from local.postgres import EmbeddedPostgres
from tests.deploy.conftest import (
    KEAP_CLIENT_SECRET,
    Deploy,
    FakeWorkers,
    Standin,
    base_settings,
    copy_project,
    json_answer,
    output,
    read_env,
    start_workers,
    write_env,
)


def verdicts(result: subprocess.CompletedProcess[str]) -> list[tuple[str, str]]:
    """(verdict, message) for each check line."""
    out = []
    for line in result.stdout.splitlines():
        verdict, _, message = line.partition("  ")
        if verdict in ("PASS", "WARN", "FAIL"):
            out.append((verdict, message.strip()))
    return out


def found(result: subprocess.CompletedProcess[str], verdict: str, text: str) -> bool:
    return any(v == verdict and text in m for v, m in verdicts(result))


@pytest.fixture(scope="module")
def deployed(
    tmp_path_factory: pytest.TempPathFactory, postgres: EmbeddedPostgres
) -> Iterator[Deploy]:
    """One successful deploy.sh run, shared; each test restores what it changes."""
    folder = tmp_path_factory.mktemp("validate")
    workers = start_workers()
    try:
        project = copy_project(folder / "repo")
        write_env(project, base_settings(postgres.dsn, workers))
        deploy = Deploy(project, Standin(folder / "standin").install(), workers)
        result = deploy.run()
        assert result.returncode == 0, output(result)
        yield deploy
    finally:
        workers.stop()


@pytest.fixture
def healthy(deployed: Deploy) -> Iterator[Deploy]:
    """The shared deployment, back to healthy and to its account state after the test."""
    state = deployed.standin.state_file.read_text()
    for worker in deployed.workers.by_name.values():
        worker.requests.clear()
    yield deployed
    deployed.workers.all_healthy()
    deployed.standin.state_file.write_text(state)


def test_a_good_deployment_passes_every_check(healthy: Deploy) -> None:
    result = healthy.validate()
    assert result.returncode == 0, output(result)
    checks = verdicts(result)
    assert {v for v, _ in checks} == {"PASS"}, result.stdout
    assert len(checks) == 15
    assert "15 checks: 15 passed, 0 warnings, 0 failed" in result.stdout
    for text in (
        "sync_coordinator/wrangler.toml: bindings present, real ids",
        "wrangler 4.86.0, logged in",
        "(keap-supabase-sync-cache) exists",
        "(keap-supabase-sync) -> postgres@127.0.0.1:",
        "sync-coordinator: secrets ADMIN_TOKEN, KEAP_CLIENT_ID, KEAP_CLIENT_SECRET, "
        "KEAP_WEBHOOK_SECRET, STATE_SECRET",
        "sync-worker: secrets ADMIN_TOKEN",
        "webhook-handler: secrets KEAP_WEBHOOK_SECRET",
        "/health: healthy (durable_object ok, kv ok, database ok)",
        "Keap OAuth connection: connected to ab123",
        "Keap REST hooks: 2 hooks, 2 Verified",
        "last sync: last run incremental ok at 2026-11-24T11:30:09Z",
    ):
        assert any(text in m for _, m in checks), text
    token = read_env(healthy.project)["ADMIN_TOKEN"]
    assert token not in output(result) and KEAP_CLIENT_SECRET not in output(result)
    asked = healthy.workers["sync-coordinator"].requests
    assert ("GET", "/oauth/status", f"Bearer {token}") in asked
    assert ("GET", "/hooks", f"Bearer {token}") in asked


HTML_404 = "<html><head><title>404 Not Found</title></head><body>nothing here</body></html>"


def test_a_404_or_an_html_page_fails_and_the_other_checks_still_run(healthy: Deploy) -> None:
    workers = healthy.workers
    workers["sync-coordinator"].answers[("GET", "/health")] = (200, "text/html", HTML_404)
    workers["webhook-handler"].answers[("GET", "/health")] = (404, "text/html", HTML_404)
    workers["sync-worker"].answers[("GET", "/health")] = json_answer({"status": "healthy"}, 404)
    result = healthy.validate("health-only")
    assert result.returncode == 1
    assert found(result, "FAIL", "sync-coordinator")
    assert found(result, "FAIL", "HTTP 200, an HTML page (404 Not Found)")
    assert found(result, "FAIL", "HTTP 404, an HTML page (404 Not Found)")
    assert found(result, "FAIL", "sync-worker")  # a 404 is a failure, whatever its body says
    # Kept going: the admin checks ran after the failed health checks.
    assert found(result, "PASS", "Keap OAuth connection")
    assert found(result, "PASS", "last sync")
    assert "6 checks: 3 passed, 0 warnings, 3 failed" in result.stdout
    assert not any("wrangler" in m for _, m in verdicts(result))  # health-only: no wrangler


NOT_CONNECTED = {"error": {"status": 409, "message": "no account", "code": "not_connected"}}


@pytest.mark.parametrize(
    ("worker", "route", "answer", "verdict", "text"),
    [
        (
            "sync-coordinator",
            ("GET", "/oauth/status"),
            json_answer({"connection": {"state": "reauthorization_required"}}),
            "FAIL",
            "(invalid_grant): reconnect with GET",
        ),
        (
            "sync-coordinator",
            ("GET", "/oauth/status"),
            json_answer({"connection": {"state": "not_connected", "auth": None}}),
            "WARN",
            "no Keap account connected yet",
        ),
        (
            "sync-coordinator",
            ("GET", "/oauth/status"),
            json_answer({"error": {"status": 401, "message": "admin bearer token required"}}, 401),
            "FAIL",
            "refused the ADMIN_TOKEN in .env (401)",
        ),
        (
            "sync-coordinator",
            ("GET", "/hooks"),
            json_answer(
                {
                    "hooks": [
                        {"eventKey": "contact.add", "status": "Verified"},
                        {"eventKey": "contact.edit", "status": "Inactive"},
                    ]
                }
            ),
            "FAIL",
            "not delivering: contact.edit (re-verify: POST",
        ),
        ("sync-coordinator", ("GET", "/hooks"), json_answer({"hooks": []}), "WARN", "no REST"),
        (
            "sync-coordinator",
            ("GET", "/hooks"),
            json_answer(NOT_CONNECTED, 409),
            "WARN",
            "hooks not checked: no Keap account connected yet",
        ),
        (
            "sync-worker",
            ("GET", "/sync/status"),
            json_answer(
                {
                    "status": {
                        "runs": [
                            {
                                "kind": "full",
                                "status": "failed",
                                "started_at": "2026-11-24T10:00:00Z",
                                "errors": ["Keap refused the refresh token"],
                            }
                        ]
                    }
                }
            ),
            "FAIL",
            "last run full failed at 2026-11-24T10:00:00Z: Keap refused the refresh token",
        ),
        (
            "sync-worker",
            ("GET", "/sync/status"),
            json_answer({"status": {"runs": []}}),
            "WARN",
            "no sync run yet",
        ),
        (
            "sync-worker",
            ("GET", "/sync/status"),
            (200, "text/html", "<html><title>Just a moment...</title></html>"),
            "FAIL",
            "last sync: HTTP 200, an HTML page (Just a moment...)",
        ),
    ],
)
def test_what_the_admin_routes_report(
    healthy: Deploy,
    worker: str,
    route: tuple[str, str],
    answer: tuple[int, str, str],
    verdict: str,
    text: str,
) -> None:
    healthy.workers[worker].answers[route] = answer
    result = healthy.validate("health-only")
    assert found(result, verdict, text), result.stdout
    assert result.returncode == (1 if verdict == "FAIL" else 0)


def test_placeholder_ids_fail_in_config_only_and_every_check_is_reported(
    tmp_path: Path, standin: Standin, fake_workers: FakeWorkers, postgres: EmbeddedPostgres
) -> None:
    project = copy_project(tmp_path / "repo")  # as checked out: placeholder ids
    write_env(project, base_settings(postgres.dsn, fake_workers))
    result = Deploy(project, standin, fake_workers).validate("config-only")
    assert result.returncode == 1
    for package in ("sync_coordinator", "sync_worker"):
        assert found(result, "FAIL", f"{package}/wrangler.toml: KV SYNC_CACHE still has the")
        assert found(result, "FAIL", "Hyperdrive HYPERDRIVE still has the placeholder id")
    assert found(result, "PASS", "webhook_handler/wrangler.toml")
    assert found(result, "FAIL", "wrangler.toml has no real SYNC_CACHE id")
    assert found(result, "FAIL", "wrangler.toml has no real HYPERDRIVE id")
    for worker in ("sync-coordinator", "sync-worker", "webhook-handler"):
        assert found(result, "FAIL", f"{worker}: wrangler secret list failed (is it deployed?)")
    assert all(not w.requests for w in fake_workers.by_name.values())  # config-only: no HTTP


def test_secrets_missing_or_on_the_wrong_worker(healthy: Deploy) -> None:
    state = json.loads(healthy.standin.state_file.read_text())
    workers: dict[str, Any] = state["workers"]
    del workers["sync-worker"]["secrets"]["ADMIN_TOKEN"]
    workers["webhook-handler"]["secrets"]["KEAP_CLIENT_SECRET"] = "sha256:x"
    healthy.standin.state_file.write_text(json.dumps(state))
    result = healthy.validate("config-only")
    assert result.returncode == 1
    assert found(result, "FAIL", "sync-worker: missing secrets ADMIN_TOKEN")
    assert found(
        result,
        "WARN",
        "webhook-handler: KEAP_CLIENT_SECRET set on a worker that does not use it",
    )
    assert found(result, "PASS", "sync-coordinator: secrets")


def test_resources_missing_from_the_account_fail(healthy: Deploy) -> None:
    state = json.loads(healthy.standin.state_file.read_text())
    state["hyperdrive"] = []
    state["kv_namespaces"] = []
    healthy.standin.state_file.write_text(json.dumps(state))
    result = healthy.validate("config-only")
    assert result.returncode == 1
    assert found(result, "FAIL", "(SYNC_CACHE in wrangler.toml) is not in this account")
    assert found(result, "FAIL", "(HYPERDRIVE in wrangler.toml) is not in this account")


def test_unknown_urls_and_a_missing_env_file_are_reported(
    tmp_path: Path, standin: Standin, fake_workers: FakeWorkers
) -> None:
    project = copy_project(tmp_path / "repo")
    result = Deploy(project, standin, fake_workers).validate("health-only")
    assert result.returncode == 1
    assert found(result, "WARN", ".env not found: using the environment only")
    assert found(result, "FAIL", "the worker URLs are unknown: set WORKERS_SUBDOMAIN")
