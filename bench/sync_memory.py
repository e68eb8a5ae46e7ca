"""Peak memory of a full sync, and that it does not grow with the number of records.

    .venv/bin/python bench/sync_memory.py [--contacts 1000000]

Runs one full sync of `--contacts` contacts (other objects in proportion) from the
sandbox (its own process, limits off) into an embedded Postgres (its own process),
with a budget large enough for a single run. In this process it follows the Python
heap (tracemalloc: what the sync allocates) and the resident set size (RSS: the whole
process, interpreter, libraries and the local coordinator included), and prints the
peaks reached while each stretch of contacts was synced. Flat peaks mean memory is
bounded by the pages in flight, not by the size of the account (target: < 128 MB).
Also prints how many cron runs the same initial sync takes at the default budget.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import time
import tracemalloc
from pathlib import Path

import asyncpg
from _world import world

from shared.keap.pacing import Pacer
from shared.sync import service
from shared.sync.budget import CRON_WALL_S, END_RESERVE, SUBREQUESTS, Budget

MB = 1024 * 1024
PAGE = 4096


def rss() -> int:
    return int(Path("/proc/self/statm").read_text().split()[1]) * PAGE


class Peaks:
    """Peak RSS, sampled every few milliseconds."""

    def __init__(self) -> None:
        self.rss = rss()

    async def sample(self) -> None:
        while True:
            self.rss = max(self.rss, rss())
            await asyncio.sleep(0.005)

    def take(self) -> tuple[int, int]:
        """(heap peak, RSS peak) since the last take; both start again."""
        heap = tracemalloc.get_traced_memory()[1]
        tracemalloc.reset_peak()
        peak, self.rss = max(self.rss, rss()), rss()
        return heap, peak


async def contacts_written(dsn: str) -> int:
    conn = await asyncpg.connect(dsn)
    try:
        if not await conn.fetchval("SELECT to_regclass('keap.contacts') IS NOT NULL"):
            return 0
        # The planner's estimate is enough to know which stretch we are in.
        return int(
            await conn.fetchval(
                "SELECT greatest(reltuples, 0)::bigint FROM pg_class "
                "WHERE oid = 'keap.contacts'::regclass"
            )
            or await conn.fetchval("SELECT count(*) FROM keap.contacts")
        )
    finally:
        await conn.close()


async def main(contacts: int) -> None:
    marks = sorted({contacts // 10, contacts // 4, contacts // 2, contacts * 3 // 4})
    async with world(contacts, limits_enabled=False) as w:
        baseline = rss()
        tracemalloc.start()
        peaks = Peaks()
        sampler = asyncio.create_task(peaks.sample())
        budget = Budget(wall_s=24 * 3600, subrequests=10**9)
        started = time.perf_counter()
        run = asyncio.create_task(service.run(w.env, "full", budget=budget))
        rows: list[tuple[str, int, int]] = []
        last = 0
        while not run.done():
            await asyncio.sleep(1.0)
            done = await contacts_written(w.dsn)
            while marks and done >= marks[0]:
                heap, peak = peaks.take()
                rows.append((f"{last:,}..{marks[0]:,}", heap, peak))
                last = marks.pop(0)
        result = await run
        heap, peak = peaks.take()
        rows.append((f"{last:,}..{contacts:,} and the rest", heap, peak))
        elapsed = time.perf_counter() - started
        sampler.cancel()
        tracemalloc.stop()
    print(
        f"sync memory: {contacts:,} contacts + other objects in one run "
        f"({result.status}, {elapsed:.0f} s, {result.keap_requests} Keap requests)"
    )
    print(f"  RSS before the sync (interpreter, libraries, local runtime): {baseline / MB:.1f} MB")
    print(f"  {'contacts synced':>32}  {'heap peak':>10}  {'RSS peak':>9}")
    for label, heap, peak in rows:
        print(f"  {label:>32}  {heap / MB:>7.1f} MB  {peak / MB:>6.1f} MB")
    print(f"  highest RSS {max(p for _, _, p in rows) / MB:.1f} MB (target < 128 MB)")
    # The cron runs the same sync takes at the default budget: its subrequests in runs of
    # SUBREQUESTS (less what each run spends to start and end), its Keap requests at the
    # pacer's rate in runs of CRON_WALL_S.
    per_run = SUBREQUESTS - END_RESERVE - 10
    by_requests = math.ceil(result.subrequests / per_run)
    rate = 1 / Pacer.for_credential("bearer").min_interval_s
    by_time = math.ceil(result.keap_requests / rate / CRON_WALL_S)
    print(
        f"  cron runs at the default budget: {max(by_requests, by_time)} "
        f"({result.subrequests:,} subrequests in runs of {SUBREQUESTS:,}; "
        f"{result.keap_requests:,} Keap requests at {rate:.1f}/s in runs of {CRON_WALL_S:.0f} s)"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=1_000_000)
    asyncio.run(main(parser.parse_args().contacts))
