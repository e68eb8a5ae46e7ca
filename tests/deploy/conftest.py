"""What the deploy tests share: a copy of the repository, the stand-in wrangler, small HTTP
servers playing the deployed workers, and running deploy.sh / validate-deployment.sh.

deploy.sh writes into the wrangler.toml files and .env of the tree it lives in, so every
test runs a copy of the scripts, tools/ and the worker packages in a temporary folder; the
real files are never touched.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest

from local.postgres import EmbeddedPostgres
from tests.conftest import ROOT
from tests.test_wrangler_bundles import wrangler  # noqa: F401 - the real wrangler, as a fixture

HERE = Path(__file__).resolve().parent
STANDIN = HERE / "standin_wrangler.py"
COPIED = [
    "deploy.sh",
    "validate-deployment.sh",
    "pyproject.toml",
    "tools",
    "shared",
    "supabase",
    "sync_coordinator",
    "sync_worker",
    "webhook_handler",
]
WORKERS = ["sync-coordinator", "sync-worker", "webhook-handler"]
PACKAGES = ["sync_coordinator", "sync_worker", "webhook_handler"]
URL_SETTINGS = ["COORDINATOR_URL", "SYNC_WORKER_URL", "WEBHOOK_HANDLER_URL"]
DB_PASSWORD = "pg-Pa55word!x"
KEAP_CLIENT_SECRET = "keap-client-secret-9f8e7d"
PLACEHOLDER = "0" * 32


# --- a copy of the repository -----------------------------------------------------------------


def copy_project(target: Path) -> Path:
    target.mkdir(parents=True)
    ignore = shutil.ignore_patterns("__pycache__", "build", ".wrangler", "*.pyc")
    for name in COPIED:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, target / name, ignore=ignore)
        else:
            shutil.copy2(source, target / name)
    return target


def snapshot(project: Path) -> dict[str, bytes]:
    """Every file of the copy (but the bundles deploy.sh rebuilds each run), by path."""
    return {
        str(p.relative_to(project)): p.read_bytes()
        for p in sorted(project.rglob("*"))
        if p.is_file() and "build" not in p.relative_to(project).parts
    }


def dsn_with_password(dsn: str, password: str = DB_PASSWORD) -> str:
    """The embedded Postgres trusts local connections, so any password works."""
    parts = urlsplit(dsn)
    netloc = f"{parts.username}:{password}@{parts.hostname}:{parts.port}"
    return urlunsplit(parts._replace(netloc=netloc))


def write_env(project: Path, values: dict[str, str]) -> Path:
    path = project / ".env"
    path.write_text("".join(f"{k}={v}\n" for k, v in values.items()))
    return path


def read_env(project: Path) -> dict[str, str]:
    values = {}
    for line in (project / ".env").read_text().splitlines():
        if "=" in line and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            values[key.strip()] = value.strip()
    return values


# --- the stand-in wrangler ----------------------------------------------------------------------


@dataclass
class Standin:
    """The stand-in wrangler (tests/deploy/standin_wrangler.py) and its account state."""

    folder: Path

    @property
    def executable(self) -> Path:
        return self.folder / "bin" / "wrangler"

    @property
    def state_file(self) -> Path:
        return self.folder / "state.json"

    @property
    def log_file(self) -> Path:
        return self.folder / "calls.jsonl"

    def install(self) -> Standin:
        self.executable.parent.mkdir(parents=True, exist_ok=True)
        self.executable.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{STANDIN}" "$@"\n')
        self.executable.chmod(0o755)
        return self

    def env(self) -> dict[str, str]:
        return {
            "WRANGLER": str(self.executable),
            "STANDIN_WRANGLER_STATE": str(self.state_file),
            "STANDIN_WRANGLER_LOG": str(self.log_file),
        }

    def calls(self) -> list[dict[str, Any]]:
        if not self.log_file.exists():
            return []
        return [json.loads(line) for line in self.log_file.read_text().splitlines()]

    def commands(self) -> list[str]:
        """Each call as its command words and flags, e.g. `kv namespace create NAME`."""
        return [" ".join(c["argv"]) for c in self.calls()]

    def state(self) -> dict[str, Any]:
        return json.loads(self.state_file.read_text())

    def update_state(self, **changes: Any) -> None:
        """Seed or change the account (before the first call: on top of the defaults)."""
        subprocess.run(  # creates the default state
            [str(self.executable), "whoami", "--json"],
            env={**os.environ, **self.env(), "STANDIN_WRANGLER_LOG": ""},
            capture_output=True,
            check=False,
        )
        state = self.state()
        state.update(changes)
        self.state_file.write_text(json.dumps(state))

    def clear_log(self) -> None:
        self.log_file.unlink(missing_ok=True)


@pytest.fixture
def standin(tmp_path: Path) -> Standin:
    return Standin(tmp_path / "standin").install()


# --- small HTTP servers playing the deployed workers -------------------------------------------

Answer = tuple[int, str, str]  # status, content type, body
JSON = "application/json"


def json_answer(body: Any, status: int = 200) -> Answer:
    return status, JSON, json.dumps(body)


def healthy(services: dict[str, str]) -> Answer:
    return json_answer(
        {
            "status": "healthy",
            "timestamp": "2026-11-24T12:00:00Z",
            "checks": services,
        }
    )


HEALTHY = {
    "sync-coordinator": healthy({"durable_object": "ok", "kv": "ok", "database": "ok"}),
    "sync-worker": healthy({"coordinator": "ok", "kv": "ok", "database": "ok"}),
    "webhook-handler": healthy({"coordinator": "ok"}),
}
HOOKS = [
    {
        "key": "1",
        "eventKey": "contact.add",
        "status": "Verified",
        "hookUrl": "https://h/?token=***",
    },
    {
        "key": "2",
        "eventKey": "contact.edit",
        "status": "Verified",
        "hookUrl": "https://h/?token=***",
    },
]
CONNECTED = {
    "account": "default",
    "connection": {
        "state": "connected",
        "auth": "oauth",
        "tenant": "ab123",
        "access_expires_at": "2026-11-25T12:00:00Z",
    },
}
SYNC_STATUS = {
    "cached": True,
    "status": {
        "account": "default",
        "database_error": None,
        "runs": [
            {
                "run_id": "r1",
                "kind": "incremental",
                "status": "ok",
                "started_at": "2026-11-24T11:30:00Z",
                "finished_at": "2026-11-24T11:30:09Z",
                "errors": [],
            }
        ],
    },
}


@dataclass
class FakeWorker:
    """One deployed worker: fixed answers per (method, path); it records what it was asked."""

    name: str
    answers: dict[tuple[str, str], Answer] = field(default_factory=dict)
    requests: list[tuple[str, str, str | None]] = field(default_factory=list)
    server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def answer(self, method: str, path: str) -> Answer:
        return self.answers.get(
            (method, path),
            json_answer({"error": {"status": 404, "message": "Not Found"}}, 404),
        )


def serve(worker: FakeWorker) -> None:
    class Handler(BaseHTTPRequestHandler):
        def handle_one(self, method: str) -> None:
            path = self.path.split("?", 1)[0]
            worker.requests.append((method, path, self.headers.get("Authorization")))
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(length)
            status, content_type, body = worker.answer(method, path)
            data = body.encode()
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            self.handle_one("GET")

        def do_POST(self) -> None:
            self.handle_one("POST")

        def log_message(self, *args: Any) -> None:
            pass

    worker.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=worker.server.serve_forever, daemon=True).start()


@dataclass
class FakeWorkers:
    by_name: dict[str, FakeWorker]

    def __getitem__(self, name: str) -> FakeWorker:
        return self.by_name[name]

    def url_settings(self) -> dict[str, str]:
        pairs = zip(URL_SETTINGS, WORKERS, strict=True)
        return {key: self.by_name[name].url for key, name in pairs}

    def all_healthy(self) -> None:
        """Every check validate-deployment.sh makes answers as a good deployment does."""
        for name in WORKERS:
            self[name].answers[("GET", "/health")] = HEALTHY[name]
        coordinator = self["sync-coordinator"].answers
        coordinator[("GET", "/oauth/status")] = json_answer(CONNECTED)
        coordinator[("GET", "/hooks")] = json_answer({"hooks": HOOKS})
        coordinator[("POST", "/hooks/register")] = json_answer(
            {"hooks": [{**h, "result": "unchanged"} for h in HOOKS]}
        )
        self["sync-worker"].answers[("GET", "/sync/status")] = json_answer(SYNC_STATUS)

    def stop(self) -> None:
        for worker in self.by_name.values():
            if worker.server is not None:
                worker.server.shutdown()
                worker.server.server_close()


def start_workers() -> FakeWorkers:
    workers = FakeWorkers({name: FakeWorker(name) for name in WORKERS})
    for worker in workers.by_name.values():
        serve(worker)
    workers.all_healthy()
    return workers


@pytest.fixture
def fake_workers() -> Iterator[FakeWorkers]:
    workers = start_workers()
    try:
        yield workers
    finally:
        workers.stop()


# --- running the scripts --------------------------------------------------------------------------


def script_env(standin: Standin, **extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("CLOUDFLARE_", "WRANGLER", "STANDIN_"))
        and k not in ("ADMIN_TOKEN", "DATABASE_URL")
    }
    env.update(standin.env())
    env.update(
        {
            "PYTHON": sys.executable,
            "DEPLOY_BUNDLE_ARGS": "--no-vendor",  # the fake deploy needs no packages
            "HEALTH_TIMEOUT": "0",
            "NO_COLOR": "1",
        }
    )
    env.update(extra)
    return env


def run_script(
    project: Path, script: str, standin: Standin, *args: str, timeout: float = 120, **extra: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(project / script), *args],
        cwd=project,
        env=script_env(standin, **extra),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def output(result: subprocess.CompletedProcess[str]) -> str:
    return result.stdout + result.stderr


def base_settings(dsn: str, workers: FakeWorkers | None = None) -> dict[str, str]:
    settings = {
        "SUPABASE_DB_URL": dsn_with_password(dsn),
        "KEAP_CLIENT_ID": "keap-client-id",
        "KEAP_CLIENT_SECRET": KEAP_CLIENT_SECRET,
        "ADMIN_TOKEN": "",
        "KEAP_WEBHOOK_SECRET": "",
        "STATE_SECRET": "",
        "WORKERS_SUBDOMAIN": "example-co",
        "REGISTER_HOOKS": "true",
    }
    if workers is not None:
        settings.update(workers.url_settings())
    return settings


@dataclass
class Deploy:
    """A copy of the repository with its .env, the stand-in wrangler and fake workers."""

    project: Path
    standin: Standin
    workers: FakeWorkers

    def run(self, *args: str, **extra: str) -> subprocess.CompletedProcess[str]:
        return run_script(self.project, "deploy.sh", self.standin, *args, **extra)

    def validate(self, *args: str, **extra: str) -> subprocess.CompletedProcess[str]:
        return run_script(self.project, "validate-deployment.sh", self.standin, *args, **extra)

    def toml_ids(self, package: str) -> dict[str, str | None]:
        import tomllib

        config = tomllib.loads((self.project / package / "wrangler.toml").read_text())
        return {
            "SYNC_CACHE": next((k["id"] for k in config.get("kv_namespaces", [])), None),
            "HYPERDRIVE": next((h["id"] for h in config.get("hyperdrive", [])), None),
        }


@pytest.fixture
def deploy(
    tmp_path: Path, standin: Standin, fake_workers: FakeWorkers, postgres: EmbeddedPostgres
) -> Deploy:
    project = copy_project(tmp_path / "repo")
    write_env(project, base_settings(postgres.dsn, fake_workers))
    return Deploy(project, standin, fake_workers)
