"""What the sync benchmarks run against: an embedded Postgres, the Keap sandbox in a
process of its own (so its record generation does not share a CPU with the sync),
and the local runtime (coordinator, sync worker) connected to it over OAuth."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from local.config import LocalConfig  # noqa: E402
from local.first_run import ensure_connected  # noqa: E402
from local.postgres import EmbeddedPostgres  # noqa: E402
from local.runtime import LocalRuntime  # noqa: E402
from local.serve import free_port  # noqa: E402
from shared.platform.env import WorkerEnv  # noqa: E402
from shared.rpc.client import coordinator_client  # noqa: E402
from shared.rpc.methods import GET_ACCESS  # noqa: E402


def other_kinds(contacts: int) -> dict[str, int]:
    """The rest of a Keap account, in proportion to its contacts."""
    scale = max(contacts / 100_000, 0.01)
    sizes = {
        "companies": 2000,
        "opportunities": 5000,
        "orders": 5000,
        "tasks": 5000,
        "products": 200,
        "tags": 100,
        "notes": 10_000,
        "subscriptions": 2000,
    }
    return {kind: max(10, int(n * scale)) for kind, n in sizes.items()}


@dataclass
class World:
    runtime: LocalRuntime
    keap_url: str
    dsn: str

    @property
    def env(self) -> WorkerEnv:
        assert self.runtime.envs is not None
        return self.runtime.envs.sync_worker

    @property
    def api_base(self) -> str:
        return f"{self.keap_url}/crm/rest"

    async def keap_headers(self) -> dict[str, str]:
        """The credential the coordinator hands out (an OAuth bearer token)."""
        coordinator = coordinator_client(self.env)
        return (await coordinator.call(GET_ACCESS)).headers()

    async def sandbox(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        async with httpx.AsyncClient(base_url=self.keap_url, timeout=120) as client:
            response = await client.request(method, f"/_sandbox{path}", json=body)
            response.raise_for_status()
            return response.json() if response.content else None


async def _start_keap(port: int, sizes: dict[str, int], settings: dict[str, Any]) -> Any:
    args = [sys.executable, "-m", "local.keap_sandbox", "--port", str(port)]
    for kind, n in sizes.items():
        args += [f"--{kind}", str(n)]
    for name, value in settings.items():
        args += ["--set", f"{name}={json.dumps(value) if isinstance(value, bool) else value}"]
    process = await asyncio.create_subprocess_exec(
        *args, cwd=ROOT, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL
    )
    deadline = time.monotonic() + 60
    async with httpx.AsyncClient() as client:
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if (await client.get(f"http://127.0.0.1:{port}/_sandbox/config")).is_success:
                    return process
            if process.returncode is not None or time.monotonic() > deadline:
                raise RuntimeError("the Keap sandbox did not start")
            await asyncio.sleep(0.1)


@contextlib.asynccontextmanager
async def world(contacts: int, **keap_settings: Any) -> AsyncIterator[World]:
    """Postgres + sandbox (`contacts` and the rest in proportion) + runtime, connected."""
    sizes = {"contacts": contacts, **other_kinds(contacts)}
    with tempfile.TemporaryDirectory(prefix="keap-bench-") as state:
        postgres = EmbeddedPostgres(Path(state) / "pg", free_port())
        dsn = await asyncio.to_thread(postgres.start)
        keap_port = free_port()
        keap = await _start_keap(keap_port, sizes, keap_settings)
        try:
            config = LocalConfig.from_environ(
                {},
                state_dir=Path(state) / "state",
                coordinator_port=free_port(),
                sync_worker_port=free_port(),
                webhook_port=free_port(),
                sandbox_port=keap_port,
                database_url=dsn,
                sandbox=False,
                cron=False,
            )
            runtime = LocalRuntime(config)
            await runtime.start()
            try:
                await ensure_connected(runtime)
                yield World(runtime, f"http://127.0.0.1:{keap_port}", dsn)
            finally:
                await runtime.stop()
        finally:
            keap.terminate()
            await keap.wait()
            await asyncio.to_thread(postgres.stop)
