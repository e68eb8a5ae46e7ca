"""The three bundled workers on real workerd (Cloudflare's runtime), offline.

What it takes (see `../shared/workerd/README.md`):
- the bundles `tools/bundle.py --pypi-only --skip asyncpg` builds (asyncpg has no Pyodide
  wheel on PyPI), with their configs copied and switched to the offline Python runtime:
  compatibility date 2026-08-22 and the flags `python_workers_development` and
  `no_python_workers_20250116`. The deployed configs are never touched;
- workerd 1.20260822.1 (the npm package `workerd`), driven by the project's wrangler through
  `MINIFLARE_WORKERD_PATH`: a small wrapper adds the flags that point workerd at the offline
  Python bundle (and, for the snapshot check, the snapshot flags);
- one `wrangler dev` per worker, all sharing one registry folder, so the service binding and
  the RPC between them resolve as on Cloudflare;
- the Keap sandbox behind HTTPS with a test CA the runtime trusts (`NODE_EXTRA_CA_CERTS`).

Every wait is on readiness (an HTTP answer), with a deadline, never a fixed sleep.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import ssl
import subprocess
import sys
import time
import tomllib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from local.serve import free_port

ROOT = Path(__file__).resolve().parents[2]
BUNDLE_FILE = "pyodide_dev.capnp.bin"
BUNDLE_ENV = "WORKERD_PYODIDE_BUNDLE_DIR"
REQUIRE_ENV = "REQUIRE_WORKERD"  # set by .ci/run: an absent bundle fails instead of skipping
INSPECTOR_ENV = "WORKERD_INSPECTOR_ADDR"  # where workerd's own inspector listens
WORKERD_VERSION = "1.20260822.1"
PYODIDE_VERSION = "314.0.5"  # what that workerd runs as its development Pyodide

# The offline runtime: this workerd's own date at the latest, its development Pyodide, and not
# the date-selected 0.28.2 line (which would also need a download).
OFFLINE_DATE = "2026-08-22"
OFFLINE_FLAGS = ("python_workers_development", "no_python_workers_20250116")
# `no_python_workers_20250116` also turns off what the deployed date implies through it:
# Cloudflare's dedicated snapshot at upload. The snapshot check puts it back.
SNAPSHOT_FLAGS = ("python_dedicated_snapshot",)

WORKERS = ("sync_coordinator", "sync_worker", "webhook_handler")

# Measured on a loaded 2-core machine: a worker answers 2-10 s after `wrangler dev` starts
# (first start of all three at once, bundles already built); snapshot mode adds ~20 s.
START_TIMEOUT_S = 120.0
SNAPSHOT_START_TIMEOUT_S = 240.0


def offline_bundle_dir() -> Path | None:
    """The folder holding the offline Python runtime bundle, if this machine has one."""
    configured = os.environ.get(BUNDLE_ENV)
    folder = Path(configured) if configured else ROOT.parent / "shared" / "workerd"
    return folder if (folder / BUNDLE_FILE).is_file() else None


def workerd_binary() -> Path:
    """The workerd of the npm package `workerd` (not the older one wrangler bundles)."""
    out = subprocess.run(
        ["node", "-p", "const w = require('workerd'); w.default + '\\n' + w.version"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    path, version = out.stdout.split()
    if version != WORKERD_VERSION:
        raise RuntimeError(f"npm's workerd is {version}, not {WORKERD_VERSION}: run npm ci")
    return Path(path)


def wait_until(what: str, ready: Callable[[], bool], timeout_s: float, log: Path | None) -> None:
    """Poll `ready` until it is true; fail with the log's tail after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while not ready():
        if time.monotonic() > deadline:
            tail = tail_of(log) if log else ""
            raise TimeoutError(f"{what} not ready after {timeout_s:.0f} s\n{tail}")
        time.sleep(0.2)


def tail_of(path: Path, lines: int = 40) -> str:
    if not path.exists():
        return ""
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def answers(url: str, **kwargs: Any) -> bool:
    """Whether anything answers HTTP at `url` (any status counts)."""
    try:
        httpx.get(url, timeout=5, **kwargs)
    except httpx.HTTPError:
        return False
    return True


class Process:
    """A child process in its own process group, its output in a log file."""

    def __init__(self, command: list[str], log: Path, env: dict[str, str], cwd: Path) -> None:
        self.log = log
        self._out = log.open("wb")
        self.popen = subprocess.Popen(
            command,
            cwd=cwd,
            env=env,
            stdout=self._out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # wrangler starts workerd: stop them together
        )

    @property
    def running(self) -> bool:
        return self.popen.poll() is None

    def stop(self) -> None:
        if self.running:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, signal.SIGTERM)
            try:
                self.popen.wait(timeout=15)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait(timeout=15)
        # workerd may outlive wrangler's exit by a moment; nothing of the group may stay
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.popen.pid, signal.SIGKILL)
        self._out.close()


@dataclass
class TestCA:
    """A certificate authority made for one test run, and a server certificate for 127.0.0.1."""

    folder: Path
    ca_pem: Path = field(init=False)
    cert_pem: Path = field(init=False)
    key_pem: Path = field(init=False)
    trust_bundle: Path = field(init=False)  # the system's CAs plus this one, for the runtime

    def __post_init__(self) -> None:
        import trustme

        self.folder.mkdir(parents=True, exist_ok=True)
        ca = trustme.CA()
        server = ca.issue_cert("127.0.0.1", "localhost")  # an IP subject alternative name
        self.ca_pem = self.folder / "ca.pem"
        self.cert_pem = self.folder / "server.pem"
        self.key_pem = self.folder / "server.key"
        self.trust_bundle = self.folder / "trusted.pem"
        ca.cert_pem.write_to_path(str(self.ca_pem))
        server.private_key_pem.write_to_path(str(self.key_pem))
        server.cert_chain_pems[0].write_to_path(str(self.cert_pem))
        system = os.environ.get("NODE_EXTRA_CA_CERTS") or "/etc/ssl/certs/ca-certificates.crt"
        system_pems = Path(system).read_text() if Path(system).is_file() else ""
        self.trust_bundle.write_text(system_pems + "\n" + self.ca_pem.read_text())

    def context(self) -> ssl.SSLContext:
        """A client TLS context that trusts this CA only."""
        return ssl.create_default_context(cafile=str(self.ca_pem))


class HttpsSandbox:
    """The Keap sandbox as a process of its own, serving HTTPS only."""

    def __init__(self, folder: Path, ca: TestCA, settings: dict[str, Any]) -> None:
        self.port = free_port()
        self.url = f"https://127.0.0.1:{self.port}"
        self.ca = ca
        command = [
            sys.executable,
            "-m",
            "local.keap_sandbox",
            "--port",
            str(self.port),
            "--tls-cert",
            str(ca.cert_pem),
            "--tls-key",
            str(ca.key_pem),
        ]
        for name, value in settings.items():
            command += ["--set", f"{name}={json.dumps(value)}"]
        self.process = Process(command, folder / "sandbox.log", dict(os.environ), ROOT)
        try:
            wait_until(
                "the Keap sandbox",
                lambda: answers(f"{self.url}/_sandbox/stats", verify=ca.context()),
                START_TIMEOUT_S,
                self.process.log,
            )
        except BaseException:
            self.process.stop()
            raise

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, verify=self.ca.context(), timeout=60)

    def control(self, method: str, path: str, body: Any = None) -> Any:
        """A call to the sandbox's test controls (`/_sandbox/...`)."""
        with self.client() as http:
            response = http.request(method, f"/_sandbox{path}", json=body)
        response.raise_for_status()
        return response.json()

    def stop(self) -> None:
        self.process.stop()


def offline_config(source: Path, flags: tuple[str, ...]) -> str:
    """A bundle's wrangler.toml switched to the offline runtime (plus `flags`)."""
    text = source.read_text()
    config = tomllib.loads(text)
    wanted = [*config["compatibility_flags"], *OFFLINE_FLAGS, *flags]
    lines = []
    for line in text.splitlines():
        if line.startswith("compatibility_date ="):
            line = f'compatibility_date = "{OFFLINE_DATE}"'
        elif line.startswith("compatibility_flags ="):
            line = f"compatibility_flags = {json.dumps(wanted)}"
        lines.append(line)
    return "\n".join(lines) + "\n"


def workerd_wrapper(
    path: Path, workerd: Path, bundle_dir: Path, cache: Path, extra: list[str]
) -> Path:
    """The executable `MINIFLARE_WORKERD_PATH` names: workerd with the offline bundle's flags.

    miniflare runs it as `<path> serve ...`; the flags go right after the subcommand. wrangler
    asks for workerd's own inspector on any free port (`--inspector-addr=localhost:0`) and serves
    its `--inspector-port` from a proxy; the address in `INSPECTOR_ENV`, where set, replaces
    that one, so the tests know where workerd's inspector is (miniflare asks workerd either way).
    """
    flags = [
        f"--pyodide-bundle-disk-cache-dir={bundle_dir}",
        f"--pyodide-package-disk-cache-dir={cache}",
        *extra,
    ]
    quoted = " ".join(f"'{f}'" for f in flags)
    path.write_text(
        f"""#!/bin/sh
sub="$1"; shift
for arg; do
  shift
  case "$arg" in
    --inspector-addr=*) [ -n "${INSPECTOR_ENV}" ] && arg="--inspector-addr=${INSPECTOR_ENV}" ;;
  esac
  set -- "$@" "$arg"
done
exec '{workerd}' "$sub" {quoted} "$@"
"""
    )
    path.chmod(0o755)
    return path


@dataclass
class Worker:
    package: str
    name: str  # the config's `name`, as workerd and Cloudflare know the worker
    url: str
    process: Process
    inspector_port: int  # workerd's own inspector (not wrangler's proxy of it)

    @property
    def log(self) -> Path:
        return self.process.log

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_for_log(self, text: str, timeout_s: float = 15.0) -> str:
        """The log once it holds `text` (workerd's output reaches the file a little later)."""
        wait_until(
            f"{text!r} in the {self.package} log",
            lambda: text in self.log_text(),
            timeout_s,
            self.log,
        )
        return self.log_text()


class WorkerdCluster:
    """The three workers on workerd, each under its own `wrangler dev`, sharing a registry.

    `vars` become each worker's `.dev.vars` (vars and secrets alike, as `wrangler dev` reads
    them). With `snapshot=True` workerd runs in snapshot mode (what Cloudflare does when a
    Python Worker is uploaded) and saves each worker's memory snapshot under `folder`.
    """

    def __init__(
        self,
        folder: Path,
        bundle_dir: Path,
        workerd: Path,
        ca: TestCA | None,
        vars: dict[str, str],
        *,
        packages: tuple[str, ...] = WORKERS,
        snapshot: bool = False,
        ports: dict[str, int] | None = None,
    ) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.folder = folder
        self.snapshot_dir = folder / "snapshots"
        self.workers: dict[str, Worker] = {}
        self._ca = ca
        self._wrangler = ROOT / "node_modules" / ".bin" / "wrangler"
        extra = []
        if snapshot:
            extra = ["--python-save-snapshot", f"--python-snapshot-dir={self.snapshot_dir}"]
        self._snapshot = snapshot
        self._wrapper = workerd_wrapper(
            folder / "workerd", workerd, bundle_dir, folder / "package-cache", extra
        )
        (folder / "package-cache").mkdir(parents=True, exist_ok=True)
        self.snapshot_dir.mkdir(parents=True, exist_ok=True)
        self.ports = ports or {p: free_port() for p in packages}
        self._vars = vars
        self._packages = packages

    def build(self, build_dir: Path) -> None:
        """Bundle the workers (as a deploy would) and write the offline configs beside them."""
        subprocess.run(
            [
                sys.executable,
                str(ROOT / "tools" / "bundle.py"),
                *self._packages,
                "--pypi-only",
                "--skip",
                "asyncpg",
                "--out",
                str(build_dir),
            ],
            cwd=ROOT,
            check=True,
            capture_output=True,
        )
        flags = SNAPSHOT_FLAGS if self._snapshot else ()
        for package in self._packages:
            bundle = build_dir / package
            (bundle / "wrangler.offline.toml").write_text(
                offline_config(bundle / "wrangler.toml", flags)
            )
            dev_vars = "".join(f"{k}={v}\n" for k, v in self._vars.items())
            (bundle / ".dev.vars").write_text(dev_vars)
            (bundle / ".dev.vars").chmod(0o600)

    def start(self, build_dir: Path, timeout_s: float = START_TIMEOUT_S) -> None:
        env = {
            **os.environ,
            "MINIFLARE_WORKERD_PATH": str(self._wrapper),
            "WRANGLER_REGISTRY_PATH": str(self.folder / "registry"),
            "WRANGLER_SEND_METRICS": "false",
            "CI": "true",  # no interactive prompts, no update checks
        }
        if self._ca is not None:
            env["NODE_EXTRA_CA_CERTS"] = str(self._ca.trust_bundle)
        for package in self._packages:
            port, inspector, proxy = self.ports[package], free_port(), free_port()
            config = build_dir / package / "wrangler.offline.toml"
            command = [
                str(self._wrangler),
                "dev",
                "--config",
                str(config),
                "--port",
                str(port),
                "--ip",
                "127.0.0.1",
                "--inspector-port",  # wrangler's proxy of workerd's inspector (unused here)
                str(proxy),
                "--persist-to",
                str(self.folder / "state"),
                "--show-interactive-dev-session=false",
            ]
            if package == "sync_worker":
                command.append("--test-scheduled")
            log = self.folder / f"{package}.log"
            process = Process(command, log, {**env, INSPECTOR_ENV: f"127.0.0.1:{inspector}"}, ROOT)
            name = tomllib.loads(config.read_text())["name"]
            url = f"http://127.0.0.1:{port}"
            worker = self.workers[package] = Worker(package, name, url, process, inspector)
            # One after another: workerds starting at once on the shared `--persist-to`
            # folder can fail on its SQLite file (`SQLITE_BUSY`, fatal at startup).
            wait_until(
                f"{package} on workerd",
                lambda w=worker: not w.process.running or answers(f"{w.url}/health"),
                timeout_s,
                worker.log,
            )
            if not worker.process.running:
                raise RuntimeError(f"{worker.package} exited:\n{tail_of(worker.log)}")

    def url(self, package: str) -> str:
        return self.workers[package].url

    def stop(self) -> None:
        for worker in self.workers.values():
            worker.process.stop()


@contextlib.contextmanager
def running_cluster(cluster: WorkerdCluster, build_dir: Path) -> Iterator[WorkerdCluster]:
    try:
        cluster.build(build_dir)
        cluster.start(build_dir)
        yield cluster
    finally:
        cluster.stop()


def copy_for_debugging(folder: Path, target: Path | None) -> None:
    """Keep the logs of a run (WORKERD_KEEP_LOGS=<folder>) for a person to read."""
    if target is None:
        return
    target.mkdir(parents=True, exist_ok=True)
    for log in folder.glob("*.log"):
        shutil.copy2(log, target / log.name)
