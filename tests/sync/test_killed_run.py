"""A run whose process is killed outright: its lease lapses a minute after its last
renewal, the next run then starts, and the history shows the killed run `interrupted`."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import pytest

from local.keap_sandbox import SandboxConfig, serve_sandbox
from local.runtime import LocalRuntime
from shared.rpc.methods import RUNS
from shared.sync import service
from shared.sync.run import LeaseBusy
from tests.conftest import ROOT, account_client, local_config
from tests.sync.conftest import API_KEY, SMALL, table_rows
from tests.timing import wait_for


async def test_a_killed_run_blocks_the_next_for_a_minute_at_most(
    tmp_path: Path, database: str
) -> None:
    async with serve_sandbox(SandboxConfig(**SMALL)) as keap:
        keap.sandbox.update_config(latency_ms=40)  # slow enough to be killed half way
        worker_vars = {
            "KEAP_API_BASE": keap.api_base,
            "KEAP_TOKEN_URL": keap.token_url,
            "KEAP_API_KEY": API_KEY,
        }
        config = local_config(tmp_path, database, sandbox=False, vars=worker_vars)
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tests.sync.run_until_killed",
            config.model_dump_json(),
            cwd=ROOT,
            stdout=asyncio.subprocess.PIPE,
        )
        try:
            assert process.stdout is not None
            assert (await asyncio.wait_for(process.stdout.readline(), 60)).strip() == b"started"

            async def under_way() -> bool:
                return await table_rows(database, "contacts") >= 500

            await wait_for(under_way, 60, "500 contacts written by the run")
        finally:
            os.kill(process.pid, signal.SIGKILL)
            await process.wait()
        assert await table_rows(database, "contacts") < SMALL["contacts"]

        # The same state folder, as a restarted runtime finds it.
        rt = LocalRuntime(config.model_copy(update={"cron": False}))
        await rt.start()
        try:
            assert rt.envs is not None
            env = rt.envs.sync_worker
            with pytest.raises(LeaseBusy):
                await service.run(env, "incremental", page_size=250)
            rt.clock.advance(61)  # a minute after the killed run's last renewal
            result = await service.run(env, "incremental", page_size=250)
            assert result.status == "ok", result.errors
            runs = await account_client(rt).call(RUNS)
        finally:
            await rt.stop()
    statuses = {r["kind"]: r["status"] for r in runs}
    assert statuses == {"full": "interrupted", "incremental": "ok"}
    killed = next(r for r in runs if r["kind"] == "full")
    assert killed["finished_at"] is not None
    assert "lease lapsed" in killed["errors"][0]
    assert await table_rows(database, "contacts") == SMALL["contacts"]
