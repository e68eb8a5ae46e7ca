"""The real-runtime suite's fixtures: the bundled workers on workerd, Keap over HTTPS.

Without the offline Python runtime bundle (`../shared/workerd/`, or the folder
`WORKERD_PYODIDE_BUNDLE_DIR` names) the suite reports itself as skipped with the reason;
with `REQUIRE_WORKERD=1` (set by `.ci/run`) an absent bundle fails it instead.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from local.config import SANDBOX_CLIENT_ID, SANDBOX_CLIENT_SECRET
from local.serve import free_port
from tests.workerd.cluster import (
    BUNDLE_ENV,
    BUNDLE_FILE,
    REQUIRE_ENV,
    WORKERS,
    HttpsSandbox,
    TestCA,
    WorkerdCluster,
    copy_for_debugging,
    offline_bundle_dir,
    running_cluster,
    workerd_binary,
)

# Lines for the summary's "isolate memory on workerd" section (shown with or without -s).
MEMORY_REPORT = pytest.StashKey[list[str]]()

SANDBOX_SETTINGS = {
    "contacts": 300,
    "hook_time_scale": 0.001,  # hook deliveries within milliseconds, not 30-60 s
}


@dataclass
class RealRuntime:
    cluster: WorkerdCluster
    sandbox: HttpsSandbox
    admin_token: str
    webhook_secret: str

    def url(self, package: str) -> str:
        return self.cluster.url(package)

    @property
    def admin(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.admin_token}"}

    def get(self, package: str, path: str, **kwargs: object) -> httpx.Response:
        return httpx.get(f"{self.url(package)}{path}", timeout=60, **kwargs)  # type: ignore[arg-type]

    def post(self, package: str, path: str, **kwargs: object) -> httpx.Response:
        return httpx.post(f"{self.url(package)}{path}", timeout=60, **kwargs)  # type: ignore[arg-type]


def require_offline_bundle() -> Path:
    folder = offline_bundle_dir()
    if folder is None:
        reason = (
            f"real-runtime suite not run: no {BUNDLE_FILE} in ../shared/workerd/ "
            f"(or in the folder {BUNDLE_ENV} names)"
        )
        if os.environ.get(REQUIRE_ENV):
            pytest.fail(reason + f"; {REQUIRE_ENV} is set, so this is a failure")
        pytest.skip(reason)
    return folder


@pytest.fixture(scope="session")
def offline_bundle() -> Path:
    return require_offline_bundle()


@pytest.fixture(scope="session")
def real_runtime(
    offline_bundle: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RealRuntime]:
    folder = tmp_path_factory.mktemp("workerd")
    workerd = workerd_binary()
    ca = TestCA(folder / "tls")
    sandbox = HttpsSandbox(folder, ca, SANDBOX_SETTINGS)
    admin_token, webhook_secret = secrets.token_urlsafe(24), secrets.token_urlsafe(32)
    ports = {package: free_port() for package in WORKERS}
    coordinator = f"http://127.0.0.1:{ports['sync_coordinator']}"
    webhook = f"http://127.0.0.1:{ports['webhook_handler']}"
    worker_vars = {
        "ADMIN_TOKEN": admin_token,
        "KEAP_WEBHOOK_SECRET": webhook_secret,
        "STATE_SECRET": secrets.token_urlsafe(32),
        "KEAP_CLIENT_ID": SANDBOX_CLIENT_ID,
        "KEAP_CLIENT_SECRET": SANDBOX_CLIENT_SECRET,
        "KEAP_API_BASE": f"{sandbox.url}/crm/rest",
        "KEAP_TOKEN_URL": f"{sandbox.url}/token",
        "KEAP_AUTHORIZE_URL": f"{sandbox.url}/app/oauth/authorize",
        "KEAP_REDIRECT_URI": f"{coordinator}/oauth/callback",
        "WEBHOOK_PUBLIC_URL": f"{webhook}/webhook",
        "LOG_LEVEL": "DEBUG",  # a line per outbound fetch, for the logs the tests read
    }
    try:
        cluster = WorkerdCluster(folder, offline_bundle, workerd, ca, worker_vars, ports=ports)
        with running_cluster(cluster, folder / "build"):
            yield RealRuntime(cluster, sandbox, admin_token, webhook_secret)
    finally:
        sandbox.stop()
        keep = os.environ.get("WORKERD_KEEP_LOGS")
        copy_for_debugging(folder, Path(keep) if keep else None)


@pytest.fixture(scope="session")
def memory_report(request: pytest.FixtureRequest) -> list[str]:
    return request.config.stash.setdefault(MEMORY_REPORT, [])


def pytest_terminal_summary(
    terminalreporter: pytest.TerminalReporter, config: pytest.Config
) -> None:
    lines = config.stash.get(MEMORY_REPORT, [])
    if lines:
        terminalreporter.section("isolate memory on workerd")
        for line in lines:
            terminalreporter.write_line(line)
