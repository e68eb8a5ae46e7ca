"""deploy.sh against the stand-in wrangler, a real Postgres and HTTP servers on 127.0.0.1.

A module-wide deployment runs deploy.sh twice on one copy of the repository (the first run
creates everything, the second must create nothing and change no file); the other tests
each run their own copy to look at one behaviour: --dry-run, failures, health verdicts.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from pydantic import SecretStr

from local.postgres import EmbeddedPostgres
from shared.config import Settings
from shared.store.migrations import current_version, latest_version
from shared.webhooks.auth import hook_url
from tests.deploy.conftest import (
    DB_PASSWORD,
    KEAP_CLIENT_SECRET,
    PACKAGES,
    PLACEHOLDER,
    URL_SETTINGS,
    WORKERS,
    Deploy,
    Standin,
    base_settings,
    copy_project,
    json_answer,
    output,
    read_env,
    snapshot,
    start_workers,
    write_env,
)
from tests.test_wrangler_bundles import EXPECTED_BINDINGS, dry_run_output

MUTATING = ("create", "update", "bulk", "put", "delete")


def sha(value: str) -> str:
    return "sha256:" + hashlib.sha256(value.encode()).hexdigest()[:16]


def words(call: dict[str, Any]) -> list[str]:
    """A call's command words, without flags."""
    out: list[str] = []
    for arg in call["argv"]:
        if arg.startswith("-"):
            break
        out.append(arg)
    return out


def deployed_package(call: dict[str, Any]) -> str | None:
    if words(call)[:1] != ["deploy"]:
        return None
    config = call["argv"][call["argv"].index("--config") + 1]
    return Path(config).parent.name


def assert_ok(result: subprocess.CompletedProcess[str]) -> None:
    assert result.returncode == 0, output(result)


# --- one deployment, run twice ---------------------------------------------------------------


@dataclass
class TwoRuns:
    deploy: Deploy
    before: dict[str, bytes]
    first: subprocess.CompletedProcess[str]
    first_calls: list[dict[str, Any]]
    after_first: dict[str, bytes]
    env: dict[str, str]
    second: subprocess.CompletedProcess[str]
    second_calls: list[dict[str, Any]]
    after_second: dict[str, bytes]


@pytest.fixture(scope="module")
def two_runs(
    tmp_path_factory: pytest.TempPathFactory, postgres: EmbeddedPostgres
) -> Iterator[TwoRuns]:
    folder = tmp_path_factory.mktemp("two-runs")
    workers = start_workers()
    try:
        project = copy_project(folder / "repo")
        write_env(project, base_settings(postgres.dsn, workers))
        deploy = Deploy(project, Standin(folder / "standin").install(), workers)
        before = snapshot(project)
        first = deploy.run()
        first_calls = deploy.standin.calls()
        after_first = snapshot(project)
        env = read_env(project)
        deploy.standin.clear_log()
        second = deploy.run()
        yield TwoRuns(
            deploy,
            before,
            first,
            first_calls,
            after_first,
            env,
            second,
            deploy.standin.calls(),
            snapshot(project),
        )
    finally:
        workers.stop()


def test_the_first_run_logs_in_then_creates_then_deploys_in_order(two_runs: TwoRuns) -> None:
    assert_ok(two_runs.first)
    calls = two_runs.first_calls
    commands = [" ".join(words(c)) for c in calls]
    assert commands[:2] == ["", "whoami"]  # `--version`, then the login
    assert calls[0]["argv"] == ["--version"]
    assert calls[1]["argv"] == ["whoami", "--json"]
    changes = [c for c in calls if set(words(c)) & set(MUTATING) or words(c)[:1] == ["deploy"]]
    assert [" ".join(c["argv"][:4]) for c in changes[:2]] == [
        "kv namespace create keap-supabase-sync-cache",
        "hyperdrive create keap-supabase-sync --connection-string",
    ]
    assert [c["argv"][:3] for c in changes[2:5]] == [
        ["secret", "bulk", "--name"],
        ["secret", "bulk", "--name"],
        ["secret", "bulk", "--name"],
    ]
    assert [deployed_package(c) for c in changes[5:]] == PACKAGES  # coordinator first
    every_call_acts_on_the_account = {c["account"] for c in calls[2:]}
    assert every_call_acts_on_the_account == {"0123456789abcdef0123456789abcdef"}
    assert all(c["output_file"] for c in changes[5:])  # URLs come from the ND-JSON output


def test_the_coordinator_gets_its_urls_as_vars(two_runs: TwoRuns) -> None:
    workers = two_runs.deploy.workers
    coordinator = workers["sync-coordinator"].url
    webhook = workers["webhook-handler"].url
    deploys = {deployed_package(c): c["argv"] for c in two_runs.first_calls if deployed_package(c)}
    assert deploys["sync_coordinator"][-4:] == [
        "--var",
        f"KEAP_REDIRECT_URI:{coordinator}/oauth/callback",
        "--var",
        f"WEBHOOK_PUBLIC_URL:{webhook}/webhook",
    ]
    assert "--var" not in deploys["sync_worker"] + deploys["webhook_handler"]
    state = two_runs.deploy.standin.state()
    assert state["workers"]["sync-coordinator"]["vars"]["KEAP_REDIRECT_URI"] == (
        f"{coordinator}/oauth/callback"
    )


def test_the_real_ids_are_written_into_the_binding_lines_only(two_runs: TwoRuns) -> None:
    state = two_runs.deploy.standin.state()
    [namespace] = state["kv_namespaces"]
    [hyperdrive] = state["hyperdrive"]
    assert namespace["title"] == "keap-supabase-sync-cache"
    assert hyperdrive["name"] == "keap-supabase-sync"
    assert hyperdrive["caching"] == {"disabled": True}
    assert hyperdrive["origin"]["password_sha"] == sha(DB_PASSWORD)
    for package in ("sync_coordinator", "sync_worker"):
        assert two_runs.deploy.toml_ids(package) == {
            "SYNC_CACHE": namespace["id"],
            "HYPERDRIVE": hyperdrive["id"],
        }
        path = f"{package}/wrangler.toml"
        before = two_runs.before[path].decode().splitlines()
        after = two_runs.after_first[path].decode().splitlines()
        changed = [(b, a) for b, a in zip(before, after, strict=True) if b != a]
        assert len(changed) == 2, changed
        for old, new in changed:
            assert PLACEHOLDER in old
            assert new.startswith('id = "') and PLACEHOLDER not in new
    path = "webhook_handler/wrangler.toml"
    assert two_runs.after_first[path] == two_runs.before[path]
    # The bundles deploy.sh built (and deployed) carry the same ids.
    built = two_runs.deploy.project / "build" / "sync_worker" / "wrangler.toml"
    assert namespace["id"] in built.read_text()


def test_generated_secrets_go_into_env_and_nowhere_visible(two_runs: TwoRuns) -> None:
    env = two_runs.env
    for name in ("ADMIN_TOKEN", "KEAP_WEBHOOK_SECRET", "STATE_SECRET"):
        assert len(env[name]) >= 32, name
    mode = (two_runs.deploy.project / ".env").stat().st_mode & 0o777
    assert mode == 0o600
    assert env["KEAP_CLIENT_SECRET"] == KEAP_CLIENT_SECRET  # the rest is as it was


def test_each_worker_gets_only_its_secrets_through_stdin(two_runs: TwoRuns) -> None:
    env = two_runs.env
    bulk = {
        c["argv"][3]: c["stdin"] for c in two_runs.first_calls if words(c) == ["secret", "bulk"]
    }
    assert bulk == {
        "sync-coordinator": {
            "ADMIN_TOKEN": sha(env["ADMIN_TOKEN"]),
            "KEAP_CLIENT_ID": sha("keap-client-id"),
            "KEAP_CLIENT_SECRET": sha(KEAP_CLIENT_SECRET),
            "KEAP_WEBHOOK_SECRET": sha(env["KEAP_WEBHOOK_SECRET"]),
            "STATE_SECRET": sha(env["STATE_SECRET"]),
        },
        "sync-worker": {"ADMIN_TOKEN": sha(env["ADMIN_TOKEN"])},
        "webhook-handler": {"KEAP_WEBHOOK_SECRET": sha(env["KEAP_WEBHOOK_SECRET"])},
    }
    secrets = {n: set(w["secrets"]) for n, w in two_runs.deploy.standin.state()["workers"].items()}
    assert secrets == {
        "sync-coordinator": {
            "ADMIN_TOKEN",
            "KEAP_CLIENT_ID",
            "KEAP_CLIENT_SECRET",
            "KEAP_WEBHOOK_SECRET",
            "STATE_SECRET",
        },
        "sync-worker": {"ADMIN_TOKEN"},
        "webhook-handler": {"KEAP_WEBHOOK_SECRET"},
    }


def test_no_secret_appears_in_any_argv_or_in_the_output(two_runs: TwoRuns) -> None:
    env = two_runs.env
    secrets = [
        env["ADMIN_TOKEN"],
        env["KEAP_WEBHOOK_SECRET"],
        env["STATE_SECRET"],
        KEAP_CLIENT_SECRET,
        DB_PASSWORD,
    ]
    calls_log = two_runs.deploy.standin.log_file.read_text()
    seen = calls_log + repr(two_runs.first_calls) + output(two_runs.first) + output(two_runs.second)
    for secret in secrets:
        assert secret not in seen
    # The database password goes to Hyperdrive (wrangler has no other way) and nowhere else.
    with_password = [c for c in two_runs.first_calls if sha(DB_PASSWORD) in " ".join(c["argv"])]
    assert [words(c) for c in with_password] == [["hyperdrive", "create", "keap-supabase-sync"]]
    assert "postgresql://postgres:****@127.0.0.1" in two_runs.first.stdout


def test_the_output_shows_progress_urls_and_what_to_paste_into_keap(two_runs: TwoRuns) -> None:
    text = two_runs.first.stdout
    steps = [line for line in text.splitlines() if line.startswith("[")]
    assert [s.split("]")[0] + "]" for s in steps] == [f"[{i}/11]" for i in range(1, 12)]
    assert "[4/11] Hyperdrive (keap-supabase-sync)" in steps
    workers = two_runs.deploy.workers
    for name in WORKERS:
        assert f"{name}  " in text and workers[name].url in text
    coordinator = workers["sync-coordinator"].url
    assert f"{coordinator}/oauth/callback" in text
    settings = Settings(
        WEBHOOK_PUBLIC_URL=f"{workers['webhook-handler'].url}/webhook",
        KEAP_WEBHOOK_SECRET=SecretStr(two_runs.env["KEAP_WEBHOOK_SECRET"]),
    )
    assert hook_url(settings, "default") in text
    assert text.count(": healthy (") == 3
    assert "registered: 2 unchanged" in text


def test_admin_calls_carry_the_admin_token(two_runs: TwoRuns) -> None:
    token = f"Bearer {two_runs.env['ADMIN_TOKEN']}"
    requests = two_runs.deploy.workers["sync-coordinator"].requests
    assert ("POST", "/hooks/register", token) in requests
    assert ("GET", "/health", None) in requests


async def test_the_migrations_were_applied(two_runs: TwoRuns, postgres: EmbeddedPostgres) -> None:
    assert "keap schema at version" in two_runs.first.stdout
    conn = await asyncpg.connect(postgres.dsn)
    try:
        assert await current_version(conn) == latest_version()
    finally:
        await conn.close()


def test_a_second_run_creates_nothing_and_changes_no_file(two_runs: TwoRuns) -> None:
    assert_ok(two_runs.second)
    assert two_runs.after_second == two_runs.after_first
    creates = [c["argv"] for c in two_runs.second_calls if {"create", "update"} & set(words(c))]
    assert creates == []
    assert [deployed_package(c) for c in two_runs.second_calls if deployed_package(c)] == PACKAGES
    state = two_runs.deploy.standin.state()
    assert len(state["kv_namespaces"]) == len(state["hyperdrive"]) == 1
    assert "reusing namespace" in two_runs.second.stdout
    assert "reusing Hyperdrive configuration" in two_runs.second.stdout


def test_the_real_wrangler_accepts_the_configs_and_arguments_deploy_sh_used(
    two_runs: TwoRuns, wrangler: Path, tmp_path: Path
) -> None:
    """`wrangler deploy --dry-run` (node_modules/.bin/wrangler, offline) on the bundles deploy.sh
    built from the configs it wrote, with the arguments it passed to the stand-in."""
    state = two_runs.deploy.standin.state()
    kv_id, hyperdrive_id = state["kv_namespaces"][0]["id"], state["hyperdrive"][0]["id"]
    env = {**os.environ, "WRANGLER_SEND_METRICS": "false", "NO_COLOR": "1", "CI": "true"}
    for call in two_runs.first_calls:
        package = deployed_package(call)
        if package is None:
            continue
        outdir = tmp_path / package
        result = subprocess.run(
            [str(wrangler), *call["argv"], "--dry-run", "--outdir", str(outdir)],
            cwd=call["cwd"],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        text = dry_run_output({package: (result, outdir)}, package)
        lines = [line.strip() for line in text.splitlines()]
        for prefix, resource in EXPECTED_BINDINGS[package]:
            assert any(li.startswith(prefix) and li.endswith(resource) for li in lines), text
        config = tomllib.loads(Path(call["argv"][call["argv"].index("--config") + 1]).read_text())
        if config.get("kv_namespaces"):
            assert any(li.startswith(f"env.SYNC_CACHE ({kv_id})") for li in lines), text
            assert any(li.startswith(f"env.HYPERDRIVE ({hyperdrive_id})") for li in lines), text
        if package == "sync_coordinator":
            assert any(li.startswith('env.KEAP_REDIRECT_URI ("(hidden)")') for li in lines), text


# --- one run each -----------------------------------------------------------------------------


def test_dry_run_changes_nothing_and_prints_every_command(deploy: Deploy) -> None:
    before = snapshot(deploy.project)
    result = deploy.run("--dry-run")
    assert_ok(result)
    assert snapshot(deploy.project) == before  # .env too: the generated secrets are not kept
    ran = [c["argv"] for c in deploy.standin.calls()]
    assert ran == [
        ["--version"],
        ["whoami", "--json"],
        ["kv", "namespace", "list"],
        ["hyperdrive", "list"],
    ]
    text = result.stdout
    coordinator = deploy.workers["sync-coordinator"].url
    for line in (
        "would run: wrangler kv namespace create keap-supabase-sync-cache",
        "would run: wrangler hyperdrive create keap-supabase-sync --connection-string "
        "postgresql://postgres:****@127.0.0.1:",
        "would run: wrangler secret bulk --name sync-coordinator",
        'stdin: {"ADMIN_TOKEN":"****","KEAP_CLIENT_ID":"****","KEAP_CLIENT_SECRET":"****",'
        '"KEAP_WEBHOOK_SECRET":"****","STATE_SECRET":"****"}',
        "would run: wrangler secret bulk --name sync-worker",
        "would run: wrangler secret bulk --name webhook-handler",
        "would run: wrangler deploy --config build/sync_coordinator/wrangler.toml --var "
        f"KEAP_REDIRECT_URI:{coordinator}/oauth/callback",
        "would run: wrangler deploy --config build/sync_worker/wrangler.toml",
        "would run: wrangler deploy --config build/webhook_handler/wrangler.toml",
        "would run: python -m shared.store.migrate",
        f"would POST {coordinator}/hooks/register",
        "Dry run finished: nothing was changed.",
    ):
        assert line in text, line
    assert DB_PASSWORD not in output(result) and KEAP_CLIENT_SECRET not in output(result)
    assert deploy.workers["sync-coordinator"].requests == []


def test_a_failing_hyperdrive_create_stops_there_naming_the_step(deploy: Deploy) -> None:
    before = snapshot(deploy.project)
    result = deploy.run(STANDIN_WRANGLER_FAIL="hyperdrive create")
    assert result.returncode == 1
    assert "FAILED at step [4/11] Hyperdrive (keap-supabase-sync):" in result.stderr
    assert "wrangler hyperdrive create failed" in result.stderr
    assert "Internal server error" in result.stderr
    assert DB_PASSWORD not in output(result)
    last = deploy.standin.calls()[-1]
    assert words(last) == ["hyperdrive", "create", "keap-supabase-sync"]
    assert "[5/11]" not in result.stdout
    changed = {p for p in snapshot(deploy.project) if snapshot(deploy.project)[p] != before.get(p)}
    assert changed == {".env"}  # the generated secrets only; no wrangler.toml


@pytest.mark.parametrize(
    ("dsn", "problem"),
    [
        ("mysql://u:p@db.example.supabase.co:5432/postgres", "the scheme is 'mysql'"),
        ("postgresql://postgres@db.ref.supabase.co:5432/postgres", "no password"),
        ("postgresql://postgres:pw@db.ref.supabase.co/postgres", "no port"),
        ("postgresql://postgres:pw@db.ref.supabase.co:5432", "no database name"),
        ("postgresql://postgres:p@ss#word@db.ref.supabase.co:5432/postgres", "# is %23"),
        ("postgresql://postgres:pw@db.ref.supabase.co:54x2/postgres", "port is not a number"),
        ("", "SUPABASE_DB_URL is empty"),
    ],
)
def test_a_bad_database_url_stops_before_any_wrangler_call(
    deploy: Deploy, dsn: str, problem: str
) -> None:
    settings = {**base_settings("postgresql://x@h:1/d"), "SUPABASE_DB_URL": dsn}
    write_env(deploy.project, settings)
    result = deploy.run()
    assert result.returncode == 1
    assert "FAILED at step [1/11] Configuration (.env):" in result.stderr
    assert problem in result.stderr
    assert deploy.standin.calls() == []


def test_the_transaction_pooler_is_warned_about(deploy: Deploy) -> None:
    settings = base_settings("postgresql://x@h:1/d")
    pooler = "postgresql://postgres.ref:pw@aws-0-eu-west-1.pooler.supabase.com:6543/postgres"
    write_env(deploy.project, {**settings, "SUPABASE_DB_URL": pooler})
    result = deploy.run("--dry-run")
    assert_ok(result)
    assert "uses port 6543, Supabase's transaction pooler" in result.stderr


@pytest.mark.parametrize(
    ("state", "extra", "message"),
    [
        ({}, {"STANDIN_WRANGLER_VERSION": "3.114.0"}, "wrangler 3.114.0 is not supported"),
        ({"logged_in": False}, {}, "not logged in to Cloudflare: run `npx wrangler login`"),
        (
            {"accounts": [{"id": "a" * 32, "name": "One"}, {"id": "b" * 32, "name": "Two"}]},
            {},
            "set CLOUDFLARE_ACCOUNT_ID in .env to one of",
        ),
    ],
)
def test_wrangler_and_login_problems_stop_at_step_two(
    deploy: Deploy, state: dict[str, Any], extra: dict[str, str], message: str
) -> None:
    deploy.standin.update_state(**state)
    result = deploy.run(**extra)
    assert result.returncode == 1
    assert "FAILED at step [2/11] Wrangler and Cloudflare login:" in result.stderr
    assert message in result.stderr
    assert not any(set(words(c)) & {"create", "bulk", "deploy"} for c in deploy.standin.calls())


def test_the_account_id_from_env_is_used_for_every_call(deploy: Deploy) -> None:
    accounts = [{"id": "a" * 32, "name": "One"}, {"id": "b" * 32, "name": "Two"}]
    deploy.standin.update_state(accounts=accounts)
    settings = read_env(deploy.project)
    write_env(deploy.project, {**settings, "CLOUDFLARE_ACCOUNT_ID": "b" * 32})
    result = deploy.run("--dry-run")
    assert_ok(result)
    assert {c["account"] for c in deploy.standin.calls()} == {"b" * 32}


HTML_ERROR = (
    "<!DOCTYPE html><html><head><title>Worker threw exception | sync-worker | Cloudflare"
    "</title></head><body>Error 1101</body></html>"
)


@pytest.mark.parametrize(
    ("answer", "shown"),
    [
        (json_answer({"detail": "Not Found"}, 404), "HTTP 404, not the JSON expected"),
        ((200, "text/html", HTML_ERROR), "HTTP 200, an HTML page (Worker threw exception"),
        (
            json_answer(
                {
                    "status": "degraded",
                    "checks": {"kv": "ok", "database": "fail"},
                },
                503,
            ),
            "HTTP 503, degraded: database fail (the errors: GET /health/detail",
        ),
        ((200, "text/plain", "ok"), "HTTP 200, not the JSON expected: ok"),
    ],
)
def test_only_a_200_healthy_json_passes_the_health_step(
    deploy: Deploy, answer: tuple[int, str, str], shown: str
) -> None:
    deploy.workers["sync-worker"].answers[("GET", "/health")] = answer
    result = deploy.run()
    assert result.returncode == 1
    assert "FAILED at step [10/11] Health checks:" in result.stderr
    assert f"sync-worker at {deploy.workers['sync-worker'].url}/health: {shown}" in result.stderr
    assert "npx wrangler tail sync-worker" in result.stderr
    assert "sync-coordinator at" not in result.stderr  # the healthy ones are not blamed
    assert ("POST", "/hooks/register") not in {
        r[:2] for r in deploy.workers["sync-coordinator"].requests
    }


def test_without_a_keap_connection_hooks_wait_and_the_connect_link_is_printed(
    deploy: Deploy,
) -> None:
    coordinator = deploy.workers["sync-coordinator"]
    not_connected = {"error": {"status": 409, "message": "no account", "code": "not_connected"}}
    coordinator.answers[("POST", "/hooks/register")] = json_answer(not_connected, 409)
    coordinator.answers[("GET", "/oauth/status")] = json_answer(
        {"account": "default", "connection": {"state": "not_connected", "auth": None}}
    )
    authorize = "https://accounts.infusionsoft.com/app/oauth/authorize?client_id=keap-client-id"
    coordinator.answers[("GET", "/oauth/initiate")] = json_answer(
        {"authorize_url": authorize, "state_expires_in": 600}, 302
    )
    result = deploy.run()
    assert_ok(result)
    assert "hooks not registered: no Keap account connected yet" in result.stderr
    assert "Connect Keap: open this one-time link within 10 minutes" in result.stdout
    assert authorize in result.stdout


def test_the_workers_dev_subdomain_is_learned_from_the_first_deploy(
    deploy: Deploy, postgres: EmbeddedPostgres
) -> None:
    settings = base_settings(postgres.dsn)  # no *_URL settings
    write_env(deploy.project, {**settings, "WORKERS_SUBDOMAIN": ""})
    result = deploy.run()
    # The workers.dev URLs do not resolve from here, so the health step is where it stops.
    assert "FAILED at step [10/11] Health checks:" in result.stderr, output(result)
    assert read_env(deploy.project)["WORKERS_SUBDOMAIN"] == "example-co"
    deploys = [c["argv"] for c in deploy.standin.calls() if deployed_package(c)]
    assert [deployed_package({"argv": a}) for a in deploys] == ["sync_coordinator", *PACKAGES]
    assert "--var" not in deploys[0]
    assert (
        "KEAP_REDIRECT_URI:https://sync-coordinator.example-co.workers.dev/oauth/callback"
        in (deploys[1])
    )


def test_a_wrong_subdomain_is_caught_after_the_first_deploy(deploy: Deploy) -> None:
    settings = read_env(deploy.project)
    settings = {k: v for k, v in settings.items() if k not in URL_SETTINGS}
    write_env(deploy.project, {**settings, "WORKERS_SUBDOMAIN": "someone-else"})
    result = deploy.run()
    assert result.returncode == 1
    assert (
        "sync-coordinator is at https://sync-coordinator.example-co.workers.dev, not "
        "https://sync-coordinator.someone-else.workers.dev: fix WORKERS_SUBDOMAIN"
    ) in result.stderr


def test_a_moved_database_updates_the_hyperdrive_origin(deploy: Deploy) -> None:
    assert_ok(deploy.run())
    [before] = deploy.standin.state()["hyperdrive"]
    settings = read_env(deploy.project)
    moved = settings["SUPABASE_DB_URL"].replace("/keap_sync", "/postgres")
    write_env(deploy.project, {**settings, "SUPABASE_DB_URL": moved, "REGISTER_HOOKS": "false"})
    deploy.standin.clear_log()
    result = deploy.run("--dry-run")
    assert "would run: wrangler hyperdrive update " + before["id"] in result.stdout
    assert {"update"} & {w for c in deploy.standin.calls() for w in words(c)} == set()


def test_env_file_syntax_and_the_environment_winning(deploy: Deploy) -> None:
    settings = read_env(deploy.project)
    (deploy.project / ".env").write_text(
        "# a comment\r\n"
        "\n"
        f"export SUPABASE_DB_URL='{settings['SUPABASE_DB_URL']}'\n"
        'KEAP_CLIENT_ID="quoted-id"   \n'
        f"KEAP_CLIENT_SECRET={KEAP_CLIENT_SECRET}  # trailing comment\n"
        "ADMIN_TOKEN=\n"
        "KEAP_WEBHOOK_SECRET=\n"
        "WORKERS_SUBDOMAIN=example-co.workers.dev\n"
        "REGISTER_HOOKS=false\n"
        "SOMETHING_ELSE=1\n"
    )
    result = deploy.run("--dry-run", KEAP_CLIENT_ID="from-the-environment")
    assert_ok(result)
    assert "Keap: OAuth app from-the-environment" in result.stdout
    assert "ignoring unknown setting SOMETHING_ELSE" in result.stderr
    assert "https://sync-coordinator.example-co.workers.dev/oauth/callback" in result.stdout
    assert "skipped (REGISTER_HOOKS=false)" in result.stdout


def test_an_api_key_instead_of_oauth_goes_to_the_coordinator_only(deploy: Deploy) -> None:
    settings = read_env(deploy.project)
    del settings["KEAP_CLIENT_ID"], settings["KEAP_CLIENT_SECRET"]
    write_env(deploy.project, {**settings, "KEAP_API_KEY": "keap-service-account-key"})
    result = deploy.run("--dry-run")
    assert_ok(result)
    assert "Keap: service account key (KEAP_API_KEY), no OAuth app" in result.stdout
    stdin = '{"ADMIN_TOKEN":"****","KEAP_API_KEY":"****","KEAP_WEBHOOK_SECRET":"****",'
    assert f'stdin: {stdin}"STATE_SECRET":"****"}}' in result.stdout
    assert "keap-service-account-key" not in output(result)


def test_the_run_retention_setting_goes_to_the_sync_worker_only(deploy: Deploy) -> None:
    settings = read_env(deploy.project)
    write_env(deploy.project, {**settings, "RUN_RETENTION_DAYS": "30"})
    result = deploy.run("--dry-run")
    assert_ok(result)
    deploys = [line for line in result.stdout.splitlines() if " deploy --config " in line]
    assert len(deploys) == 3, result.stdout
    assert [("--var RUN_RETENTION_DAYS:30" in line) for line in deploys] == [False, True, False]


def test_half_an_oauth_app_is_refused(deploy: Deploy) -> None:
    settings = read_env(deploy.project)
    write_env(deploy.project, {**settings, "KEAP_CLIENT_SECRET": ""})
    result = deploy.run("--dry-run")
    assert result.returncode == 1
    assert "set both KEAP_CLIENT_ID and KEAP_CLIENT_SECRET" in result.stderr


def test_another_env_file_and_help(deploy: Deploy) -> None:
    (deploy.project / ".env").rename(deploy.project / "production.env")
    result = deploy.run("--dry-run", "--env-file", "production.env")
    assert_ok(result)
    assert "[1/11] Configuration (production.env)" in result.stdout
    assert deploy.run("--help").stdout.startswith("Deploy keap-supabase-sync to Cloudflare")
    unknown = deploy.run("--frobnicate")
    assert unknown.returncode == 1 and "unknown option '--frobnicate'" in unknown.stderr
    validated = deploy.validate("config-only", "--env-file", "production.env")
    assert ".env not found" not in validated.stdout
