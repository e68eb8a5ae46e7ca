"""`./dev-setup.sh` as a new user runs it: start-all, health over HTTP, stop-all."""

from __future__ import annotations

import os
import socket
import subprocess
from pathlib import Path

import httpx
import pytest

from tests.conftest import ROOT

PORTS = {"sync-coordinator": 8787, "sync-worker": 8788, "webhook-handler": 8789}


def _in_use(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _script(*args: str, state: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "LOCAL_STATE_DIR": str(state)}
    return subprocess.run(
        [str(ROOT / "dev-setup.sh"), *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )


def _processes_using(path: Path) -> list[str]:
    out = subprocess.run(["ps", "-eo", "pid,args"], capture_output=True, text=True, check=True)
    return [line for line in out.stdout.splitlines() if str(path) in line]


def test_start_all_serves_three_healthy_workers_and_stop_all_leaves_nothing(tmp_path: Path) -> None:
    busy = [p for p in [*PORTS.values(), 8790] if _in_use(p)]
    if busy:
        if os.environ.get("CI"):
            pytest.fail(f"ports {busy} are taken; start-all needs 8787-8790")
        pytest.skip(f"ports {busy} are taken (is your own ./dev-setup.sh start-all running?)")
    state = tmp_path / "state"
    try:
        started = _script("start-all", state=state)
        assert started.returncode == 0, started.stdout + started.stderr
        assert "all three workers are healthy" in started.stdout
        for name, port in PORTS.items():
            response = httpx.get(f"http://127.0.0.1:{port}/health", timeout=10)
            assert response.status_code == 200, (name, response.text)
            assert response.json()["status"] == "healthy"
            assert f"http://127.0.0.1:{port}" in started.stdout

        again = _script("start-all", state=state)  # idempotent: no second runtime
        assert again.returncode == 0 and "already running" in again.stdout

        status = _script("status", state=state)
        assert "running (pid" in status.stdout and "-> 200" in status.stdout
    finally:
        stopped = _script("stop-all", state=state)
    assert stopped.returncode == 0, stopped.stderr
    assert not any(_in_use(p) for p in PORTS.values())
    assert _processes_using(state) == [], "start-all left processes behind"
    assert _script("stop-all", state=state).returncode == 0  # idempotent


def test_unknown_subcommand_says_what_is_wrong(tmp_path: Path) -> None:
    out = _script("deploy-everything", state=tmp_path)
    assert out.returncode != 0
    assert "unknown command 'deploy-everything'" in out.stderr
