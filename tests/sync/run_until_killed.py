"""A sync run in a process of its own, for tests that kill it: `python -m
tests.sync.run_until_killed CONFIG_JSON` starts the local runtime the JSON describes (a
`LocalConfig`) and runs a full sync of every object, printing `started` once the run
holds the lease."""

from __future__ import annotations

import asyncio
import sys

from local.config import LocalConfig
from local.runtime import running
from shared.sync import service


async def main(config: LocalConfig) -> None:
    async with running(config) as runtime:
        assert runtime.envs is not None
        task = asyncio.create_task(service.run(runtime.envs.sync_worker, "full", page_size=250))
        print("started", flush=True)
        await task


if __name__ == "__main__":
    asyncio.run(main(LocalConfig.model_validate_json(sys.argv[1])))
