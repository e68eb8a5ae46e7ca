"""`./dev-setup.sh` as a new user runs it: start-all, health over HTTP, stop-all, again."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import time
from datetime import datetime
from pathlib import Path

import httpx
import pytest

from tests.conftest import ROOT

PORTS = {"sync-coordinator": 8787, "sync-worker": 8788, "webhook-handler": 8789}
SANDBOX = "http://127.0.0.1:8790"
OBJECT_ROW = re.compile(r"^ {4}(\w+) +([\d,]+|-) rows  last sync (\S+)$", re.M)
STARTS = 3


def _in_use(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _script(*args: str, state: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(ROOT / "dev-setup.sh"), *args],
        cwd=ROOT,
        env={**os.environ, "LOCAL_STATE_DIR": str(state), **env},
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )


def _processes_using(path: Path) -> list[str]:
    out = subprocess.run(["ps", "-eo", "pid,args"], capture_output=True, text=True, check=True)
    return [line for line in out.stdout.splitlines() if str(path) in line]


def _ports_free() -> None:
    busy = [p for p in [*PORTS.values(), 8790, 54329] if _in_use(p)]
    if busy:
        if os.environ.get("CI"):
            pytest.fail(f"ports {busy} are taken; start-all needs 8787-8790 and 54329")
        pytest.skip(f"ports {busy} are taken (is your own ./dev-setup.sh start-all running?)")


def _assert_stopped(state: Path) -> None:
    assert not any(_in_use(p) for p in [*PORTS.values(), 8790, 54329])
    assert _processes_using(state) == [], "start-all left processes behind"
    assert not (state / "runtime.pid").exists()


def _synced_since(stdout: str, began: float) -> dict[str, int]:
    """Rows per object from start-all's report, each synced by this start."""
    rows = {}
    for name, count, last_sync in OBJECT_ROW.findall(stdout):
        assert count != "-" and last_sync != "-", (name, stdout)
        finished = datetime.fromisoformat(last_sync.replace("Z", "+00:00")).timestamp()
        assert finished >= int(began), f"{name}: last sync {last_sync} is from before this start"
        rows[name] = int(count.replace(",", ""))
    return rows


def test_start_all_and_stop_all_again_and_again_stay_healthy_connected_and_syncing(
    tmp_path: Path,
) -> None:
    _ports_free()
    state = tmp_path / "state"
    took: list[float] = []
    try:
        for n in range(STARTS):
            began = time.time()
            started = _script("start-all", state=state)
            took.append(time.time() - began)
            output = started.stdout + started.stderr
            assert started.returncode == 0, f"start {n + 1}: {output}"
            assert "all three workers are healthy" in started.stdout
            for name, port in PORTS.items():
                response = httpx.get(f"http://127.0.0.1:{port}/health", timeout=10)
                assert response.status_code == 200, (n + 1, name, response.text)
                assert response.json()["status"] == "healthy"
                assert f"http://127.0.0.1:{port}" in started.stdout
            assert "keap account 'default': connected" in started.stdout, output
            rows = _synced_since(started.stdout, began)
            assert len(rows) == 9 and all(count > 0 for count in rows.values()), (n, output)
            # One consent for all the starts: the grant outlived every restart.
            grants = httpx.get(f"{SANDBOX}/_sandbox/grants", timeout=10).json()["grants"]
            assert [g["revoked"] for g in grants] == [False], grants

            if n == 0:
                again = _script("start-all", state=state)  # idempotent: no second runtime
                assert again.returncode == 0 and "already running" in again.stdout
                status = _script("status", state=state)
                assert "running (pid" in status.stdout and "-> 200" in status.stdout

            stopped = _script("stop-all", state=state)
            assert stopped.returncode == 0, stopped.stderr
            _assert_stopped(state)
    finally:
        _script("stop-all", state=state)
    assert _script("stop-all", state=state).returncode == 0  # idempotent
    print(f"start-all took {', '.join(f'{t:.1f} s' for t in took)}")


def test_a_start_all_that_fails_stops_what_it_started_and_shows_the_log(tmp_path: Path) -> None:
    _ports_free()
    state = tmp_path / "state"
    try:
        # A database nobody answers at: the sync worker never becomes healthy.
        failed = _script(
            "start-all",
            state=state,
            START_TIMEOUT="8",
            DATABASE_URL="postgresql://postgres@127.0.0.1:9/nowhere",
        )
        assert failed.returncode != 0
        assert "not healthy after 8 s" in failed.stderr
        assert f"last lines of {state / 'runtime.log'}" in failed.stderr
        assert "sync-coordinator" in failed.stderr, "the runtime's log is shown"
        _assert_stopped(state)
    finally:
        _script("stop-all", state=state)


def test_unknown_subcommand_says_what_is_wrong(tmp_path: Path) -> None:
    out = _script("deploy-everything", state=tmp_path)
    assert out.returncode != 0
    assert "unknown command 'deploy-everything'" in out.stderr
