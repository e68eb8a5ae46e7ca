"""The three workers, their bindings, Postgres and the Keap sandbox in one process.

`LocalRuntime` is what `python -m local` runs and what the integration tests start:
the same ASGI apps as on Cloudflare, each on its own port of 127.0.0.1, handed a
`WorkerEnv` of local bindings.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import tomllib
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from local.asgi import with_env
from local.bindings import (
    LocalCoordinatorService,
    LocalDatabase,
    LocalDurableObjectNamespace,
    LocalKV,
    rate_limiters,
)
from local.clock import MovableClock
from local.config import ROOT, LocalConfig
from local.cron import next_fire
from local.files import passage_dir
from local.postgres import EmbeddedPostgres
from local.serve import AppServer
from shared.config import Settings
from shared.coordinator.durable import CoordinatorObject
from shared.platform.env import WorkerEnv

log = logging.getLogger("local.runtime")


def worker_config(folder: str) -> dict[str, Any]:
    """A worker's wrangler.toml."""
    return tomllib.loads((ROOT / folder / "wrangler.toml").read_text())


def worker_crons(worker_dir: Path = ROOT / "sync_worker") -> list[str]:
    """The cron triggers in a worker's wrangler.toml."""
    config = tomllib.loads((worker_dir / "wrangler.toml").read_text())
    return list(config.get("triggers", {}).get("crons", []))


def limited(env: WorkerEnv, folder: str, limits: dict[str, int]) -> WorkerEnv:
    """`env` with the rate limits the worker's wrangler.toml declares (or `limits`), kept
    in memory."""
    limiters = rate_limiters(worker_config(folder), limits)
    return dataclasses.replace(
        env,
        ip_limiter=limiters.get("IP_LIMITER"),
        account_limiter=limiters.get("ACCOUNT_LIMITER"),
    )


@dataclass
class Envs:
    coordinator: WorkerEnv
    sync_worker: WorkerEnv
    webhook_handler: WorkerEnv


class LocalRuntime:
    def __init__(self, config: LocalConfig) -> None:
        self.config = config
        self.postgres: EmbeddedPostgres | None = None
        self.dsn: str | None = config.database_url
        self.servers: dict[str, AppServer] = {}
        self.sandbox: Any = None
        self._tasks: list[asyncio.Task[None]] = []
        self._kv: LocalKV | None = None
        self._namespace: LocalDurableObjectNamespace | None = None
        self.envs: Envs | None = None
        self.clock = MovableClock()  # the coordinators' clock; tests move it forward

    @property
    def urls(self) -> dict[str, str]:
        return {name: server.url for name, server in self.servers.items()}

    @property
    def settings(self) -> Settings:
        return Settings.from_mapping(self.config.vars)

    def build_envs(self) -> Envs:
        state = self.config.state_dir
        assert self.dsn is not None
        settings = self.settings
        self._kv = LocalKV(state / "kv.sqlite3")
        database = LocalDatabase(self.dsn)
        coordinator_env: WorkerEnv | None = None
        self._namespace = LocalDurableObjectNamespace(
            state / "durable_objects",
            lambda: coordinator_env,  # type: ignore[arg-type,return-value]
            lambda storage, env, name: CoordinatorObject(storage, env, name, self.clock),
            self.clock,
        )
        service = LocalCoordinatorService(self._namespace)
        coordinator_env = WorkerEnv(
            settings,
            kv=self._kv,
            database=database,
            coordinator=service,
            durable_objects=self._namespace,
        )
        return Envs(
            coordinator=limited(coordinator_env, "sync_coordinator", self.config.rate_limits),
            sync_worker=WorkerEnv(settings, kv=self._kv, database=database, coordinator=service),
            webhook_handler=limited(
                WorkerEnv(settings, coordinator=service), "webhook_handler", self.config.rate_limits
            ),
        )

    async def start(self) -> None:
        from sync_coordinator.app import app as coordinator_app
        from sync_worker.app import app as sync_app
        from sync_worker.jobs import on_scheduled
        from webhook_handler.app import app as webhook_app

        config = self.config
        passage_dir(config.state_dir)
        try:
            if self.dsn is None:
                self.postgres = EmbeddedPostgres(
                    config.state_dir / "postgres", config.postgres_port
                )
                self.dsn = await asyncio.to_thread(self.postgres.start)
            if config.sandbox:
                await self._start_sandbox()
            self.envs = envs = self.build_envs()
            apps = [
                (
                    "sync-coordinator",
                    with_env(coordinator_app, envs.coordinator),
                    config.coordinator_port,
                ),
                (
                    "sync-worker",
                    with_env(sync_app, envs.sync_worker, on_scheduled),
                    config.sync_worker_port,
                ),
                (
                    "webhook-handler",
                    with_env(webhook_app, envs.webhook_handler),
                    config.webhook_port,
                ),
            ]
            for name, app, port in apps:
                server = AppServer(app, port, config.host, name)
                await server.start()
                self.servers[name] = server
            if config.cron:
                for expression in worker_crons():
                    self._tasks.append(asyncio.create_task(self._cron(expression)))
        except BaseException:
            await self.stop()
            raise

    async def _start_sandbox(self) -> None:
        from local.keap_sandbox import SandboxConfig, create_sandbox_app

        app = create_sandbox_app(
            SandboxConfig(
                contacts=self.config.sandbox_contacts,
                client_id=self.config.vars.get("KEAP_CLIENT_ID", "sandbox-client"),
                # Like Keap, it remembers grants and changes across restarts.
                state_dir=self.config.state_dir / "keap-sandbox",
            )
        )
        self.sandbox = app.state.sandbox
        server = AppServer(app, self.config.sandbox_port, self.config.host, "keap-sandbox")
        await server.start()
        self.servers["keap-sandbox"] = server
        self.sandbox.start()

    async def run_scheduled(self, cron: str) -> None:
        from sync_worker.jobs import on_scheduled

        assert self.envs is not None
        await on_scheduled(self.envs.sync_worker, cron)

    async def run_job(self, name: str) -> None:
        """One scheduled job now (`sync_worker/jobs.py`), as its cron would run it."""
        from sync_worker.jobs import JOBS

        assert self.envs is not None
        await JOBS[name](self.envs.sync_worker)

    async def _cron(self, expression: str) -> None:
        while True:
            now = datetime.now(UTC).replace(tzinfo=None)
            delay = (next_fire(expression, now) - now).total_seconds()
            await asyncio.sleep(max(delay, 0))
            try:
                await self.run_scheduled(expression)
            except Exception as exc:  # one failed run must not stop the schedule
                log.error("scheduled run %s failed: %s", expression, type(exc).__name__)

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        if self.sandbox is not None:
            await self.sandbox.aclose()  # pending hook deliveries and change streams first
        for server in reversed(list(self.servers.values())):
            await server.stop()
        self.servers.clear()
        if self._namespace is not None:
            await self._namespace.close()
        if self._kv is not None:
            self._kv.close()
        if self.postgres is not None:
            await asyncio.to_thread(self.postgres.stop)


@contextlib.asynccontextmanager
async def running(config: LocalConfig):  # type: ignore[no-untyped-def]
    runtime = LocalRuntime(config)
    await runtime.start()
    try:
        yield runtime
    finally:
        await runtime.stop()
