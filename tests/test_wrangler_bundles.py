"""The deploy side of the three workers.

- Each worker's bundle (tools/bundle.py) goes through `wrangler deploy --dry-run`, which
  works offline and checks the configuration and the upload for real: the bindings it
  reports, and the modules it would upload (the entry module, `shared/...`, the worker's
  own package and the vendored packages).
- The Cloudflare adapters (`shared.platform.cloudflare`) and the entry modules run on
  CPython against stand-ins for the JS objects the Workers runtime hands them, so what
  they convert and where they route is checked without Cloudflare.
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import tomllib
import types
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import pytest

from shared.config import Settings
from shared.platform import cloudflare
from shared.platform.env import WorkerEnv
from shared.platform.fetch import FetchTransport
from shared.platform.wire import CoordinatorError, decode_reply, encode_result
from shared.rpc.accounts import AccountGate

ROOT = Path(__file__).resolve().parent.parent
WRANGLER = ROOT / "node_modules" / ".bin" / "wrangler"
BUNDLER = ROOT / "tools" / "bundle.py"

WORKERS = {
    "sync_coordinator": "sync-coordinator",
    "sync_worker": "sync-worker",
    "webhook_handler": "webhook-handler",
}
DEV_PORTS = {"sync_coordinator": 8787, "sync_worker": 8788, "webhook_handler": 8789}
SECRETS = {"ADMIN_TOKEN", "KEAP_CLIENT_ID", "KEAP_CLIENT_SECRET", "KEAP_API_KEY"} | {
    "KEAP_WEBHOOK_SECRET"
}

KV = ("env.SYNC_CACHE (", "KV Namespace")
HYPERDRIVE = ("env.HYPERDRIVE (", "Hyperdrive Config")
SERVICE = ("env.COORDINATOR (sync-coordinator)", "Worker")
DURABLE_OBJECT = ("env.SYNC_COORDINATOR (SyncCoordinator)", "Durable Object")
DEFAULT_ACCOUNT = ('env.DEFAULT_ACCOUNT ("default")', "Environment Variable")
IP_LIMITER = ("env.IP_LIMITER (ratelimit)", "Unsafe Metadata")
ACCOUNT_LIMITER = ("env.ACCOUNT_LIMITER (ratelimit)", "Unsafe Metadata")
EXPECTED_BINDINGS = {
    "sync_coordinator": [
        DURABLE_OBJECT,
        KV,
        HYPERDRIVE,
        DEFAULT_ACCOUNT,
        IP_LIMITER,
        ACCOUNT_LIMITER,
    ],
    "sync_worker": [SERVICE, KV, HYPERDRIVE, DEFAULT_ACCOUNT],
    "webhook_handler": [SERVICE, DEFAULT_ACCOUNT, IP_LIMITER, ACCOUNT_LIMITER],
}
ABSENT_BINDINGS = {
    "sync_coordinator": ["env.COORDINATOR ("],
    "sync_worker": ["env.SYNC_COORDINATOR", "env.IP_LIMITER", "env.ACCOUNT_LIMITER"],
    "webhook_handler": ["env.SYNC_CACHE", "env.HYPERDRIVE", "env.SYNC_COORDINATOR"],
}


def worker_config(package: str) -> dict[str, Any]:
    with (ROOT / package / "wrangler.toml").open("rb") as f:
        return tomllib.load(f)


@functools.cache
def load_bundler() -> types.ModuleType:
    """tools/bundle.py as a module (it is a script, not part of a package)."""
    spec = importlib.util.spec_from_file_location("tools_bundle", BUNDLER)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


# --- wrangler deploy --dry-run ---------------------------------------------------------------


@pytest.fixture(scope="session")
def wrangler() -> Path:
    if not WRANGLER.exists():
        pytest.fail(
            f"wrangler is not installed at {WRANGLER}: run `npm ci` at the "
            "repository root (./dev-setup.sh does it); package.json pins the version",
            pytrace=False,
        )
    if shutil.which("node") is None:
        pytest.fail("node is not on PATH: wrangler needs Node.js 20 or newer", pytrace=False)
    return WRANGLER


@pytest.fixture(scope="session")
def bundles(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The three bundles, packages from PyPI alone (asyncpg's Pyodide wheel is only on the
    Pyodide index, which this machine does not reach)."""
    out = tmp_path_factory.mktemp("bundles")
    command = [sys.executable, str(BUNDLER), "--out", str(out), "--pypi-only", "--skip", "asyncpg"]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        pytest.fail(f"tools/bundle.py failed:\n{result.stdout}\n{result.stderr}", pytrace=False)
    return out


@pytest.fixture(scope="session")
def dry_runs(wrangler: Path, bundles: Path) -> dict[str, tuple[subprocess.CompletedProcess, Path]]:
    """`wrangler deploy --dry-run --outdir` of each bundle: (its run, its output folder)."""
    env = {**os.environ, "WRANGLER_SEND_METRICS": "false", "NO_COLOR": "1", "CI": "true"}
    runs = {}
    for package in WORKERS:
        config = bundles / package / "wrangler.toml"
        outdir = bundles / f"{package}-dry-run"
        command = [str(wrangler), "deploy", "--dry-run", "--outdir", str(outdir)]
        command += ["--config", str(config)]
        runs[package] = (
            subprocess.run(
                command,
                cwd=config.parent,
                env=env,
                capture_output=True,
                text=True,
                timeout=240,
                check=False,
            ),
            outdir,
        )
    return runs


def dry_run_output(runs: dict, package: str) -> str:
    result, _ = runs[package]
    output = result.stdout + result.stderr
    assert result.returncode == 0, f"wrangler deploy --dry-run failed for {package}:\n{output}"
    assert "--dry-run: exiting now." in output, output
    return output


@pytest.mark.parametrize("package", list(WORKERS))
def test_dry_run_reports_the_bindings(dry_runs: dict, package: str) -> None:
    output = dry_run_output(dry_runs, package)
    lines = [line.strip() for line in output.splitlines()]
    for prefix, resource in EXPECTED_BINDINGS[package]:
        assert any(line.startswith(prefix) and line.endswith(resource) for line in lines), (
            f"{package}: no {resource} binding {prefix!r} in:\n{output}"
        )
    for prefix in ABSENT_BINDINGS[package]:
        assert not any(line.startswith(prefix) for line in lines), f"{package}: {prefix}"


@pytest.mark.parametrize("package", list(WORKERS))
def test_dry_run_uploads_entry_shared_and_the_worker_package(dry_runs: dict, package: str) -> None:
    output = dry_run_output(dry_runs, package)
    _, outdir = dry_runs[package]

    # The main module is the worker's entry.py, uploaded as entry.py.
    assert (outdir / "entry.py").read_text() == (ROOT / package / "entry.py").read_text()

    # The attached modules, as wrangler lists them.
    for module in ("shared/config.py", "shared/platform/cloudflare.py", f"{package}/app.py"):
        assert f"│ {module} " in output, f"{module} is not attached:\n{output}"
    assert "Vendored Modules" in output, output

    # Every module of shared/ and of the worker's package, and nothing else of the repo.
    uploaded = {
        p.relative_to(outdir).as_posix()
        for p in outdir.rglob("*.py")
        if p.relative_to(outdir).parts[0] != "python_modules"
    }
    expected = {"entry.py"}
    for folder in ("shared", package):
        for path in (ROOT / folder).rglob("*.py"):
            relative = path.relative_to(ROOT).as_posix()
            if "__pycache__" not in relative and relative != f"{package}/entry.py":
                expected.add(relative)
    assert uploaded == expected

    # The schema's migration files, where the migrator finds them (beside shared/).
    for path in sorted((ROOT / "supabase" / "migrations").glob("*.sql")):
        relative = path.relative_to(ROOT).as_posix()
        assert (outdir / relative).read_bytes() == path.read_bytes(), relative
        assert re.search(rf"│ {re.escape(relative)} +│ text ", output), f"{relative}:\n{output}"

    # The vendored packages, including the Python Workers SDK the runtime no longer ships.
    vendored = outdir / "python_modules"
    for path in (
        "fastapi/__init__.py",
        "starlette/__init__.py",
        "pydantic/__init__.py",
        "httpx/__init__.py",
        "workers/__init__.py",
        "workers/asgi.py",
        "_workers_sdk_patch_loader.pth",
    ):
        assert (vendored / path).is_file(), f"python_modules/{path} is missing"
    pydantic_core = [p.name for p in (vendored / "pydantic_core").iterdir()]
    assert any("wasm32" in name or "emscripten" in name for name in pydantic_core), pydantic_core


@pytest.mark.parametrize("package", list(WORKERS))
def test_wrangler_config(package: str) -> None:
    config = worker_config(package)
    assert config["name"] == WORKERS[package]
    assert config["main"] == "src/entry.py"
    assert config["dev"]["port"] == DEV_PORTS[package]
    assert "python_workers" in config["compatibility_flags"]
    # Python 3.14 and Hyperdrive from Python Workers both need 2026-09-08 or later.
    assert date.fromisoformat(config["compatibility_date"]) >= date(2026, 9, 8)
    assert load_bundler().python_target(config).version == "3.14"
    assert not SECRETS & set(config.get("vars", {})), "secrets belong in wrangler secret put"
    assert config["vars"]["DEFAULT_ACCOUNT"] == "default"


def test_coordinator_config_declares_its_durable_object() -> None:
    config = worker_config("sync_coordinator")
    [binding] = config["durable_objects"]["bindings"]
    assert binding == {"name": "SYNC_COORDINATOR", "class_name": "SyncCoordinator"}
    assert config["migrations"][0]["new_sqlite_classes"] == ["SyncCoordinator"]
    assert "SyncCoordinator" in (ROOT / "sync_coordinator" / "entry.py").read_text()


def test_the_sync_worker_config_schedules_every_job_on_a_cron_it_triggers() -> None:
    from sync_worker.jobs import JOBS, jobs_for

    config = worker_config("sync_worker")
    crons, schedule = config["triggers"]["crons"], config["vars"]["SCHEDULE"]
    assert set(schedule) == set(JOBS)
    assert set(schedule.values()) == set(crons)
    assert jobs_for(schedule, "*/30 * * * *") == ["verify_hooks", "incremental"]
    assert jobs_for(schedule, "17 3 * * *") == ["reconcile"]
    # Hooks re-verified on a schedule of their own: they follow it, not the sync's.
    hourly = {**schedule, "verify_hooks": "0 * * * *"}
    assert jobs_for(hourly, "*/30 * * * *") == ["incremental"]
    assert jobs_for(hourly, "0 * * * *") == ["verify_hooks"]

    bundler = load_bundler()
    bundler.check_schedule(config, Path("wrangler.toml"))
    with pytest.raises(bundler.BundleError, match="must be the same"):
        bundler.check_schedule({**config, "vars": {"SCHEDULE": hourly}}, Path("wrangler.toml"))


@pytest.mark.parametrize("package", ["sync_coordinator", "sync_worker"])
def test_hyperdrive_has_a_local_connection_string(package: str) -> None:
    [hyperdrive] = worker_config(package)["hyperdrive"]
    assert hyperdrive["binding"] == "HYPERDRIVE"
    assert hyperdrive["localConnectionString"].startswith("postgresql://")


def test_python_version_follows_the_compatibility_date_and_flags() -> None:
    target = load_bundler().python_target

    def version(day: str, *flags: str) -> str:
        config = {"compatibility_date": day, "compatibility_flags": ["python_workers", *flags]}
        return target(config).version

    assert version("2026-11-01") == "3.14"
    assert version("2026-09-07") == "3.13"
    assert version("2026-09-07", "python_workers_314") == "3.14"
    assert version("2026-11-01", "no_python_workers_314") == "3.13"
    assert version("2025-01-01") == "3.12"


def test_the_bundles_the_real_runtime_suite_runs_are_for_the_deployed_pyodide_line() -> None:
    """The deployed date, the wheels bundled and the runtime the tests use are one Pyodide line."""
    from tests.workerd.cluster import PYODIDE_VERSION

    bundler = load_bundler()
    targets = {bundler.python_target(worker_config(p)) for p in WORKERS}
    assert len(targets) == 1
    [target] = targets
    assert PYODIDE_VERSION.split(".")[0] == target.pyodide == "314"
    assert f"Pyodide {target.pyodide}" in (ROOT / "README.md").read_text()


def test_a_bundle_never_ships_wheels_for_another_pyodide(bundles: Path) -> None:
    bundler = load_bundler()
    vendored = bundles / "sync_worker" / "python_modules"
    assert bundler.foreign_wheels(vendored, bundler.TARGETS["3.14"]) == []
    # The same packages under a date that selects Python 3.13 (Pyodide 0.28): pydantic_core's
    # compiled wheel cannot load there, and the bundle stops with a message that says so.
    foreign = bundler.foreign_wheels(vendored, bundler.TARGETS["3.13"])
    assert [f for f in foreign if f.startswith("pydantic_core-")], foreign
    assert not [f for f in foreign if f.startswith(("httpx-", "fastapi-"))], foreign  # pure
    with pytest.raises(bundler.BundleError, match=re.escape("Pyodide 0.28, Python 3.13")):
        bundler.check_wheels(vendored, bundler.TARGETS["3.13"])


# --- on CPython, without the Workers runtime ---------------------------------------------------


def test_adapters_and_apps_import_without_js() -> None:
    code = (
        "import sys\n"
        "import shared.platform.cloudflare, sync_coordinator.app, sync_worker.app\n"
        "import sync_worker.jobs, webhook_handler.app\n"
        "leaked = [m for m in ('js', 'pyodide', 'workers') if m in sys.modules]\n"
        "assert not leaked, leaked\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr


@pytest.fixture(autouse=True)
def no_pyodide(monkeypatch: pytest.MonkeyPatch) -> None:
    """The three FFI calls the adapters make, as identities (no `js` on CPython)."""
    monkeypatch.setattr(cloudflare, "_js_object", dict)
    monkeypatch.setattr(cloudflare, "_js_callable", lambda fn: fn)
    monkeypatch.setattr(cloudflare, "_js_array_buffer", bytes)


class FakeKVNamespace:
    def __init__(self) -> None:
        self.values: dict[str, str] = {}
        self.options: dict[str, Any] = {}

    async def get(self, key: str) -> str | None:
        return self.values.get(key)

    async def put(self, key: str, value: str, options: Any = None) -> None:
        self.values[key] = value
        self.options[key] = options

    async def delete(self, key: str) -> None:
        self.values.pop(key, None)


class FakeCursor:
    def __init__(self, rows: list[dict[str, Any]]) -> None:
        self.rows = rows

    def toArray(self) -> list[dict[str, Any]]:  # the JS name
        return self.rows


class FakeSql:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self.params: list[tuple] = []

    def exec(self, query: str, *params: Any) -> FakeCursor:
        self.params.append(params)
        return FakeCursor([dict(row) for row in self.conn.execute(query, params).fetchall()])


class FakeDurableObjectStorage:
    """`ctx.storage` of a SQLite-backed Durable Object, on sqlite3."""

    def __init__(self) -> None:
        self.conn = sqlite3.connect(":memory:", isolation_level=None)
        self.conn.row_factory = sqlite3.Row
        self.sql = FakeSql(self.conn)
        self.alarm: float | None = None

    def transactionSync(self, fn: Any) -> Any:  # the JS name
        self.conn.execute("SAVEPOINT tx")
        try:
            result = fn()
        except BaseException:
            self.conn.execute("ROLLBACK TO tx")
            self.conn.execute("RELEASE tx")
            raise RuntimeError("PythonError: the callback threw") from None
        self.conn.execute("RELEASE tx")
        return result

    async def getAlarm(self) -> float | None:  # the JS name
        return self.alarm

    async def setAlarm(self, epoch_ms: float) -> None:  # the JS name
        self.alarm = epoch_ms

    async def deleteAlarm(self) -> None:  # the JS name
        self.alarm = None


class FakeService:
    """The sync-coordinator's default entrypoint as another worker's service binding sees it."""

    def __init__(self, answer: Any = None, fail: bool = False) -> None:
        self.calls: list[tuple[str, str, str]] = []
        self.answer = answer
        self.fail = fail

    async def call(self, account: str, method: str, payload: str) -> Any:
        self.calls.append((account, method, payload))
        if self.fail:
            raise RuntimeError("Error: Network connection lost. Traceback ... token=abc")
        if self.answer is not None:
            return self.answer
        if method == "get_stream_states":
            return encode_result({})
        if method == "list_accounts":
            return encode_result([{"account": "default", "source": "default"}])
        if method == "status":
            parts = {"connection": {}, "lease": None, "streams": {}, "runs": []}
            return encode_result({"account": account, **parts})
        queue = {"depth": 0, "oldest_age_s": None}
        ping = {"account": account, "storage": "ok", "connection": "connected", "queue": queue}
        return encode_result(ping)


def js_env(**bindings: Any) -> types.SimpleNamespace:
    return types.SimpleNamespace(**bindings)


async def test_kv_adapter() -> None:
    namespace = FakeKVNamespace()
    kv = cloudflare.CloudflareKV(namespace)
    await kv.put("a", "1")
    await kv.put("b", "2", ttl=90)
    assert namespace.options == {"a": None, "b": {"expirationTtl": 90}}
    assert await kv.get("b") == "2"
    assert await kv.get("missing") is None
    await kv.delete("a")
    assert await kv.get("a") is None
    with pytest.raises(ValueError, match="60"):
        await kv.put("c", "3", ttl=5)


class FakeRateLimit:
    """A `ratelimit` binding: `limit({key})` answers `{success}`, `allowed` calls per key."""

    def __init__(self, allowed: int) -> None:
        self.allowed = allowed
        self.keys: list[str] = []

    async def limit(self, options: dict[str, str]) -> dict[str, bool]:
        self.keys.append(options["key"])
        return {"success": self.keys.count(options["key"]) <= self.allowed}


async def test_rate_limit_adapter_and_env() -> None:
    binding = FakeRateLimit(allowed=2)
    env = cloudflare.worker_env_from_js(js_env(IP_LIMITER=binding, ACCOUNT_LIMITER=binding))
    assert env.ip_limiter is not None and env.account_limiter is not None
    assert [await env.ip_limiter.limit("ip:1.2.3.4") for _ in range(3)] == [True, True, False]
    assert await env.account_limiter.limit("account:acme")
    assert env.ip_limiter.period_s == 60
    assert binding.keys == ["ip:1.2.3.4"] * 3 + ["account:acme"]
    assert cloudflare.worker_env_from_js(js_env()).ip_limiter is None


async def test_durable_storage_adapter() -> None:
    raw = FakeDurableObjectStorage()
    storage = cloudflare.CloudflareDurableStorage(raw)
    sql = storage.sql
    sql.exec("CREATE TABLE t (k TEXT PRIMARY KEY, v, n INTEGER)")
    sql.exec("INSERT INTO t VALUES (?, ?, ?)", "a", None, True)
    sql.exec("INSERT INTO t VALUES (?, ?, ?)", "b", b"\x00\x01", 2)
    assert raw.sql.params[-2] == ("a", None, 1)  # None as SQL NULL, bools as integers
    assert sql.exec("SELECT * FROM t ORDER BY k") == [
        {"k": "a", "v": None, "n": 1},
        {"k": "b", "v": b"\x00\x01", "n": 2},
    ]

    def insert_then_fail() -> None:
        sql.exec("INSERT INTO t VALUES ('c', 'x', 3)")
        raise KeyError("boom")

    with pytest.raises(KeyError, match="boom"):  # the original exception, not the JS one
        sql.transaction(insert_then_fail)
    assert sql.exec("SELECT count(*) AS n FROM t") == [{"n": 2}]
    assert sql.transaction(lambda: sql.exec("SELECT k FROM t WHERE n = 2")) == [{"k": "b"}]

    assert await storage.get_alarm() is None
    await storage.set_alarm(1_700_000_000_000)
    assert await storage.get_alarm() == 1_700_000_000_000.0
    await storage.delete_alarm()
    assert await storage.get_alarm() is None
    with pytest.raises(TypeError):
        sql.exec("SELECT ?", object())


def test_database_adapter_reads_the_hyperdrive_connection_string() -> None:
    dsn = "postgresql://user:pw@hyperdrive.local:5432/db"
    database = cloudflare.CloudflareDatabase(types.SimpleNamespace(connectionString=dsn))
    assert database.dsn == dsn


def test_worker_env_from_js() -> None:
    service, kv = FakeService(), FakeKVNamespace()
    hyperdrive = types.SimpleNamespace(connectionString="postgresql://h/db")
    env = cloudflare.worker_env_from_js(
        js_env(
            COORDINATOR=service,
            SYNC_CACHE=kv,
            HYPERDRIVE=hyperdrive,
            DEFAULT_ACCOUNT="acme",
            ADMIN_TOKEN="s3cret",
            KEAP_CLIENT_ID="",  # empty vars are as good as absent
            UNRELATED="x",
        )
    )
    assert isinstance(env, WorkerEnv)
    assert env.settings.DEFAULT_ACCOUNT == "acme"
    assert env.settings.ADMIN_TOKEN is not None
    assert env.settings.ADMIN_TOKEN.get_secret_value() == "s3cret"
    assert env.settings.KEAP_CLIENT_ID is None
    assert isinstance(env.coordinator, cloudflare.ServiceBindingCoordinator)
    assert isinstance(env.kv, cloudflare.CloudflareKV)
    assert isinstance(env.database, cloudflare.CloudflareDatabase)
    assert env.durable_objects is None
    assert env.http_transport is FetchTransport  # outbound HTTPS through the runtime's fetch

    bare = cloudflare.worker_env_from_js(js_env())
    assert bare == WorkerEnv(settings=Settings(), http_transport=FetchTransport)


class ForwardingWrapper:
    """Stands in for the Python SDK's wrappers (`self.env`, `self.env.SYNC_CACHE`): attribute
    access forwarded to the JS object inside, whose private name the adapters never read."""

    def __init__(self, inner: Any) -> None:
        self.__inner = inner

    def __getattr__(self, name: str) -> Any:
        return getattr(self.__inner, name)


async def test_worker_env_works_through_the_sdk_wrappers() -> None:
    kv = FakeKVNamespace()
    wrapped_env = ForwardingWrapper(
        js_env(SYNC_CACHE=ForwardingWrapper(kv), DEFAULT_ACCOUNT="acme")
    )
    env = cloudflare.worker_env_from_js(wrapped_env)
    assert env.settings.DEFAULT_ACCOUNT == "acme"
    assert isinstance(env.kv, cloudflare.CloudflareKV)
    await env.kv.put("k", "v")
    assert kv.values == {"k": "v"}
    assert await env.kv.get("k") == "v"


async def test_service_binding_transport() -> None:
    service = FakeService()
    transport = cloudflare.ServiceBindingCoordinator(service)
    reply = await transport.call("acme", "ping", "{}")
    assert decode_reply(reply)["account"] == "acme"
    assert service.calls == [("acme", "ping", "{}")]


@pytest.mark.parametrize(
    ("service", "code", "status"),
    [
        (FakeService(fail=True), "coordinator_unavailable", 503),
        (FakeService(answer=42), "coordinator_bad_reply", 502),
    ],
)
async def test_transport_failures_come_back_as_coordinator_errors(
    service: FakeService, code: str, status: int, caplog: pytest.LogCaptureFixture
) -> None:
    reply = await cloudflare.ServiceBindingCoordinator(service).call("acme", "ping", "{}")
    with pytest.raises(CoordinatorError) as error:
        decode_reply(reply)
    assert (error.value.code, error.value.status) == (code, status)
    assert "abc" not in reply and "abc" not in caplog.text  # no error text leaks


def test_scheduled_cron_and_durable_object_name() -> None:
    assert cloudflare.scheduled_cron(types.SimpleNamespace(cron="*/30 * * * *")) == "*/30 * * * *"
    assert cloudflare.scheduled_cron({"cron": "17 3 * * *"}) == "17 3 * * *"
    named = types.SimpleNamespace(id=types.SimpleNamespace(name="acme"))
    assert cloudflare.durable_object_name(named) == "acme"
    assert cloudflare.durable_object_name(types.SimpleNamespace(id=types.SimpleNamespace())) is None


def test_to_python() -> None:
    assert cloudflare.to_python(None) is None
    assert cloudflare.to_python({"a": [1, None, memoryview(b"x")], "b": (2.5,)}) == {
        "a": [1, None, b"x"],
        "b": [2.5],
    }


# --- the entry modules, with a stand-in for the `workers` SDK ---------------------------------


class FakeDurableObjectNamespace:
    """The SYNC_COORDINATOR binding: one live object per name, created on first use."""

    def __init__(self) -> None:
        self.objects: dict[str, Any] = {}
        self.object_class: Any = None
        self.env: Any = None
        self.report_names = True

    def getByName(self, name: str) -> Any:  # the JS name
        if name not in self.objects:
            object_id = types.SimpleNamespace(name=name if self.report_names else None)
            ctx = types.SimpleNamespace(id=object_id, storage=FakeDurableObjectStorage())
            self.objects[name] = self.object_class(ctx, self.env)
        return self.objects[name]


@pytest.fixture
def entry(monkeypatch: pytest.MonkeyPatch) -> Any:
    """Imports `<package>.entry` against a stand-in `workers` module whose `asgi.fetch`
    serves the app with the env in the scope, as the SDK's does."""
    workers = types.ModuleType("workers")
    asgi = types.ModuleType("workers.asgi")

    class Entrypoint:
        def __init__(self, ctx: Any, env: Any) -> None:
            self.ctx = ctx
            self.env = env

    async def fetch(app: Any, request: httpx.Request, env: Any, ctx: Any = None) -> Any:
        asgi.envs.append(env)

        async def with_env(scope: dict, receive: Any, send: Any) -> None:
            await app({**scope, "env": env}, receive, send)

        transport = httpx.ASGITransport(app=with_env)
        async with httpx.AsyncClient(transport=transport) as client:
            return await client.send(request)

    asgi.envs = []
    asgi.fetch = fetch
    workers.asgi = asgi
    workers.WorkerEntrypoint = type("WorkerEntrypoint", (Entrypoint,), {})
    workers.DurableObject = type("DurableObject", (Entrypoint,), {})
    monkeypatch.setitem(sys.modules, "workers", workers)
    monkeypatch.setitem(sys.modules, "workers.asgi", asgi)

    def load(package: str) -> Any:
        sys.modules.pop(f"{package}.entry", None)
        return importlib.import_module(f"{package}.entry")

    yield load
    for package in WORKERS:
        sys.modules.pop(f"{package}.entry", None)


async def test_sync_worker_entry_serves_the_app_with_a_worker_env(entry: Any) -> None:
    module = entry("sync_worker")
    kv = FakeKVNamespace()
    worker = module.Default(None, js_env(COORDINATOR=FakeService(), SYNC_CACHE=kv))
    response = await worker.fetch(httpx.Request("GET", "http://sync-worker/health"))
    body = response.json()
    assert response.status_code == 200, body
    assert body["checks"] == {
        "coordinator": "ok",
        "keap": "ok",
        "webhook_queue": "ok",
        "streams": "ok",
        "kv": "ok",
    }
    [env] = sys.modules["workers.asgi"].envs
    assert isinstance(env, WorkerEnv)
    assert isinstance(env.coordinator, cloudflare.ServiceBindingCoordinator)


async def test_sync_worker_entry_runs_the_cron(entry: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    module = entry("sync_worker")
    runs: list[tuple[WorkerEnv, str]] = []

    async def on_scheduled(env: WorkerEnv, cron: str) -> None:
        runs.append((env, cron))

    monkeypatch.setattr(module, "on_scheduled", on_scheduled)
    worker = module.Default(None, js_env(DEFAULT_ACCOUNT="acme"))
    await worker.scheduled(types.SimpleNamespace(cron="17 3 * * *", scheduledTime=0))
    [(env, cron)] = runs
    assert cron == "17 3 * * *"
    assert env.settings.DEFAULT_ACCOUNT == "acme"


async def test_webhook_entry_serves_the_app(entry: Any) -> None:
    module = entry("webhook_handler")
    worker = module.Default(None, js_env(COORDINATOR=FakeService()))
    response = await worker.fetch(httpx.Request("GET", "http://webhook-handler/health"))
    assert response.status_code == 200, response.text


async def test_coordinator_rpc_reaches_the_named_durable_object(entry: Any) -> None:
    module = entry("sync_coordinator")
    namespace = FakeDurableObjectNamespace()
    env = js_env(SYNC_COORDINATOR=namespace, SYNC_CACHE=FakeKVNamespace(), ACCOUNTS="acme")
    namespace.object_class, namespace.env = module.SyncCoordinator, env
    worker = module.Default(None, env)

    ghost = json.loads(await worker.call("ghost", "ping", "{}"))
    assert ghost["error"]["code"] == "unknown_account"  # and no object was made for it
    assert set(namespace.objects) == {"__accounts__"}
    reply = await worker.call("acme", "ping", "{}")
    assert decode_reply(reply)["account"] == "acme"
    assert set(namespace.objects) == {"__accounts__", "acme"}
    durable = namespace.objects["acme"]
    assert durable.ctx.storage.conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]

    await durable.alarm()  # the alarm handler reaches the same object
    reply = json.loads(await worker.call("acme", "no_such_method", "{}"))
    assert reply["ok"] is False
    assert reply["error"]["code"] == "unknown_method"


async def test_coordinator_names_its_object_by_the_account_when_ctx_id_has_no_name(
    entry: Any,
) -> None:
    module = entry("sync_coordinator")
    namespace = FakeDurableObjectNamespace()
    namespace.report_names = False
    env = js_env(SYNC_COORDINATOR=namespace, ACCOUNTS="beta")
    namespace.object_class, namespace.env = module.SyncCoordinator, env
    reply = await module.Default(None, env).call("beta", "ping", "{}")
    assert decode_reply(reply)["account"] == "beta"


async def test_coordinator_health_goes_straight_to_its_durable_object(entry: Any) -> None:
    module = entry("sync_coordinator")
    namespace = FakeDurableObjectNamespace()
    env = js_env(SYNC_COORDINATOR=namespace, SYNC_CACHE=FakeKVNamespace())
    namespace.object_class, namespace.env = module.SyncCoordinator, env
    worker = module.Default(None, env)
    response = await worker.fetch(httpx.Request("GET", "http://sync-coordinator/health"))
    [worker_env] = sys.modules["workers.asgi"].envs
    assert isinstance(worker_env.coordinator, AccountGate)
    assert worker_env.durable_objects is not None
    assert response.json()["checks"]["durable_object"] == "ok", response.text
    assert set(namespace.objects) == {"__accounts__", "default"}
