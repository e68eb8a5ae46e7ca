"""How long a change made in Keap takes to show up in Postgres through the REST hook.

    .venv/bin/python bench/event_to_row.py [--changes 40]

Starts the Keap sandbox in its own process (hook delivery delay set to zero, where Keap
waits 30-60 s) and the local runtime in this one, connects the account over OAuth and
registers the hooks through the coordinator's admin route (the real handshake). Then,
one at a time, edits a contact through Keap's v2 API and times until the row in
Postgres holds the new value: delivery, authentication, queueing, the drain's Keap
fetch and the upsert. Prints p50 / p99 / max.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

import asyncpg
import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from local.config import LocalConfig  # noqa: E402
from local.first_run import admin_headers, ensure_connected  # noqa: E402
from local.runtime import LocalRuntime  # noqa: E402
from local.serve import free_port  # noqa: E402

CONTACTS = 2000
KEAP_API_KEY = "sandbox-api-key"  # the sandbox's personal access token


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


async def start_keap(port: int) -> asyncio.subprocess.Process:
    keap = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "local.keap_sandbox",
        "--port",
        str(port),
        "--contacts",
        str(CONTACTS),
        "--set",
        "hook_delay_s=0",
        "--no-limits",  # the edits below use an API key, whose quota is 240 a minute
        stdout=asyncio.subprocess.DEVNULL,
        cwd=ROOT,
    )
    async with httpx.AsyncClient() as client:
        for _ in range(200):
            try:
                if (await client.get(f"http://127.0.0.1:{port}/_sandbox/config")).is_success:
                    return keap
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)
    raise RuntimeError("the Keap sandbox did not start")


async def row_has(conn: asyncpg.Connection, contact_id: int, title: str) -> bool:
    try:
        found = await conn.fetchval("SELECT job_title FROM keap.contacts WHERE id = $1", contact_id)
    except asyncpg.UndefinedTableError:
        return False
    return bool(found == title)


async def measure(runtime: LocalRuntime, keap_url: str, changes: int) -> list[float]:
    """Seconds from each edit to its row, edits made one at a time."""
    assert runtime.dsn is not None
    conn = await asyncpg.connect(runtime.dsn)
    timings = []
    headers = {"X-Keap-API-Key": KEAP_API_KEY}
    try:
        async with httpx.AsyncClient(base_url=f"{keap_url}/crm/rest", headers=headers) as keap:
            for n in range(changes + 3):
                contact_id = 1 + (n * 37) % CONTACTS
                title = f"Benchmark edit {n} {time.time():.3f}"
                started = time.perf_counter()
                edited = await keap.patch(f"/v2/contacts/{contact_id}", json={"job_title": title})
                edited.raise_for_status()
                while not await row_has(conn, contact_id, title):
                    if time.perf_counter() - started > 60:
                        raise RuntimeError(f"contact {contact_id} never reached Postgres")
                    await asyncio.sleep(0.002)
                if n >= 3:  # the first few warm up the connections
                    timings.append(time.perf_counter() - started)
                await asyncio.sleep(0.05)
    finally:
        await conn.close()
    return timings


async def main(changes: int) -> None:
    keap_port = free_port()
    keap = await start_keap(keap_port)
    try:
        with tempfile.TemporaryDirectory(prefix="event-to-row-") as state:
            config = LocalConfig.from_environ(
                {},
                state_dir=Path(state),
                coordinator_port=free_port(),
                sync_worker_port=free_port(),
                webhook_port=free_port(),
                sandbox_port=keap_port,
                postgres_port=free_port(),
                sandbox=False,
                cron=False,
            )
            runtime = LocalRuntime(config)
            await runtime.start()
            try:
                await ensure_connected(runtime)
                async with httpx.AsyncClient(timeout=60) as client:
                    registered = await client.post(
                        f"{runtime.urls['sync-coordinator']}/hooks/register",
                        headers=admin_headers(runtime),
                        json={"event_keys": ["contact.edit"]},
                    )
                    registered.raise_for_status()
                timings = await measure(runtime, f"http://127.0.0.1:{keap_port}", changes)
            finally:
                await runtime.stop()
    finally:
        keap.terminate()
        await keap.wait()
    ms = [t * 1000 for t in timings]
    print(f"event to row: {len(ms)} contact edits, one at a time, Keap's delivery delay 0")
    print(
        f"  ms  p50 {percentile(ms, 50):.1f}  p99 {percentile(ms, 99):.1f}  "
        f"max {max(ms):.1f}  mean {statistics.fmean(ms):.1f}"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--changes", type=int, default=40)
    asyncio.run(main(parser.parse_args().changes))
