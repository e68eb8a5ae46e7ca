"""`python -m local`: run the whole product on this machine until stopped.

python -m local               # workers on 8787-8789, sandbox on 8790, embedded Postgres
python -m local stop-postgres # stop an embedded Postgres left behind by a killed run
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import sys
import time

from local.config import LocalConfig
from local.files import write_private
from local.first_run import ensure_connected
from local.postgres import EmbeddedPostgres
from local.runtime import LocalRuntime
from local.show_status import show


async def _run(config: LocalConfig) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    runtime = LocalRuntime(config)
    started_at = time.time()
    await runtime.start()
    first_sync: asyncio.Task[None] | None = None
    try:
        info = {
            "pid": os.getpid(),
            "urls": runtime.urls,
            "database": "embedded" if runtime.postgres else "DATABASE_URL",
            "started_at": started_at,
        }
        write_private(config.state_dir / "runtime.json", json.dumps(info, indent=2))
        for name, url in runtime.urls.items():
            print(f"{name:17} {url}", flush=True)
        if config.sandbox:
            state = await ensure_connected(runtime)
            print(f"keap account     default: {state} to the Keap sandbox (OAuth)", flush=True)
            # The first sync runs at once, as the cron would, rather than 30 minutes from now.
            first_sync = asyncio.create_task(runtime.run_job("incremental"))
        await stop.wait()
        print("stopping", flush=True)
    finally:  # a failed start-up stops what it started, Postgres included
        if first_sync is not None and not first_sync.done():
            first_sync.cancel()  # a killed run is continued by the next one
        await runtime.stop()
        (config.state_dir / "runtime.json").unlink(missing_ok=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m local", description=__doc__.splitlines()[0])
    parser.add_argument(
        "command", nargs="?", default="run", choices=["run", "status", "stop-postgres"]
    )
    parser.add_argument("--wait", type=float, default=0, help="status: wait for the first sync")
    parser.add_argument("--no-sandbox", action="store_true", help="do not start the Keap sandbox")
    parser.add_argument("--no-cron", action="store_true", help="do not run the cron triggers")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # a line per request is noise here
    config = LocalConfig.from_environ(sandbox=not args.no_sandbox, cron=not args.no_cron)
    if args.command == "status":
        return show(config, args.wait)
    if args.command == "stop-postgres":
        EmbeddedPostgres(config.state_dir / "postgres", config.postgres_port).stop()
        return 0
    try:
        asyncio.run(_run(config))
    except (OSError, RuntimeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
