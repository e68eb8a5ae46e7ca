"""deploy.sh and validate-deployment.sh with the real apps as the "deployed" workers.

The local runtime (local/runtime.py) serves the three workers' apps over HTTP, against the
session Postgres and the Keap sandbox; the stand-in wrangler plays Cloudflare. The health
step, the hook registration and every live check of validate-deployment.sh then talk to
the same code that runs on Cloudflare.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx

from local.postgres import EmbeddedPostgres
from local.runtime import LocalRuntime
from tests.conftest import admin_headers
from tests.deploy.conftest import (
    Standin,
    base_settings,
    copy_project,
    output,
    run_script,
    write_env,
)
from tests.deploy.test_validate import verdicts


async def follow_keap_consent(client: httpx.AsyncClient, authorize_url: str) -> httpx.Response:
    """What the admin's browser does: Keap's (the sandbox's) consent page, then our callback."""
    authorize = await client.get(authorize_url)
    assert authorize.status_code == 302, authorize.text
    return await client.get(authorize.headers["location"])


async def connect_keap(rt: LocalRuntime) -> None:
    async with httpx.AsyncClient(timeout=60) as client:
        coordinator = rt.urls["sync-coordinator"]
        initiated = await client.get(f"{coordinator}/oauth/initiate", headers=admin_headers(rt))
        assert initiated.status_code == 302, initiated.text
        connected = await follow_keap_consent(client, initiated.headers["location"])
        assert connected.status_code == 200, connected.text


def runtime_settings(rt: LocalRuntime, dsn: str) -> dict[str, str]:
    token, secret = rt.settings.ADMIN_TOKEN, rt.settings.KEAP_WEBHOOK_SECRET
    assert token is not None and secret is not None
    return {
        **base_settings(dsn),
        "ADMIN_TOKEN": token.get_secret_value(),
        "KEAP_WEBHOOK_SECRET": secret.get_secret_value(),
        "COORDINATOR_URL": rt.urls["sync-coordinator"],
        "SYNC_WORKER_URL": rt.urls["sync-worker"],
        "WEBHOOK_HANDLER_URL": rt.urls["webhook-handler"],
    }


async def test_deploy_registers_hooks_and_validate_passes_against_the_real_apps(
    runtime: LocalRuntime, postgres: EmbeddedPostgres, standin: Standin, tmp_path: Path
) -> None:
    await connect_keap(runtime)
    project = copy_project(tmp_path / "repo")
    write_env(project, runtime_settings(runtime, postgres.dsn))

    deployed = await asyncio.to_thread(
        run_script, project, "deploy.sh", standin, HEALTH_TIMEOUT="30"
    )
    assert deployed.returncode == 0, output(deployed)
    assert deployed.stdout.count(": healthy (") == 3
    assert "registered: " in deployed.stdout and " created" in deployed.stdout
    assert "Keap: connected to" in deployed.stdout
    hooks = {h.event_key: h.status for h in runtime.sandbox.hooks.hooks.values()}
    assert hooks and set(hooks.values()) == {"Verified"}, hooks

    async with httpx.AsyncClient(timeout=120) as client:  # one run, for the last-sync check
        synced = await client.post(
            f"{runtime.urls['sync-worker']}/sync/tags", headers=admin_headers(runtime)
        )
        assert synced.status_code == 200, synced.text

    validated = await asyncio.to_thread(run_script, project, "validate-deployment.sh", standin)
    assert validated.returncode == 0, output(validated)
    checks = verdicts(validated)
    assert {v for v, _ in checks} == {"PASS"}, validated.stdout
    assert any("Keap REST hooks: " in m and "Verified" in m for _, m in checks)
    assert any(m.startswith("last sync: last run incremental ok") for _, m in checks), checks


async def test_before_keap_is_connected_deploy_prints_the_connect_link(
    runtime: LocalRuntime, postgres: EmbeddedPostgres, standin: Standin, tmp_path: Path
) -> None:
    project = copy_project(tmp_path / "repo")
    write_env(project, runtime_settings(runtime, postgres.dsn))
    deployed = await asyncio.to_thread(
        run_script, project, "deploy.sh", standin, HEALTH_TIMEOUT="30"
    )
    assert deployed.returncode == 0, output(deployed)
    assert "hooks not registered: no Keap account connected yet" in deployed.stderr
    sandbox = runtime.urls["keap-sandbox"]
    link = next(line.strip() for line in deployed.stdout.splitlines() if sandbox in line)
    assert link.startswith(f"{sandbox}/app/oauth/authorize?")

    # The link is the real thing: following it connects the account.
    async with httpx.AsyncClient(timeout=60) as client:
        callback = await follow_keap_consent(client, link)
        assert callback.status_code == 200, callback.text
    validated = await asyncio.to_thread(
        run_script, project, "validate-deployment.sh", standin, "health-only"
    )
    checks = verdicts(validated)
    connected = "Keap OAuth connection: connected"
    assert any(v == "PASS" and m.startswith(connected) for v, m in checks), checks
