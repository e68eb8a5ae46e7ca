"""An incremental run when nothing changed: Keap requests per object and wall time.

    .venv/bin/python bench/incremental_noop.py [--contacts 100000] [--runs 5]

After a full sync of `--contacts` contacts (and the other objects in proportion) from
the sandbox (no added latency, Keap's real limits on), runs the incremental sync
`--runs` times with nothing changed in between and prints, per run, the Keap requests
made for each object (target: exactly one each), the records downloaded per object
(target: at most 50 each) and the wall time of the whole run, lease and checkpoints
and status cache included (target: under 1 s).
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections import Counter

from _world import world

from shared.keap.streams import STREAMS
from shared.sync import service


async def main(contacts: int, runs: int) -> None:
    async with world(contacts) as w:
        full = await service.run(w.env, "full")
        print(f"incremental run with nothing changed: {contacts:,} contacts + other objects")
        print(f"  full sync first: {full.status}, {full.keap_requests} Keap requests")
        # Products' per-record details and the custom field models: a full run leaves
        # them to the incremental runs after it, which read them before nothing is left.
        catching_up, details = 0, -1
        while details and catching_up < 50:
            details = (await service.run(w.env, "incremental")).streams["products"].details_read
            catching_up += 1
        catching_up -= 1  # the last run read none: it only saw that none were left
        print(f"  then {catching_up} incremental runs read the models and details still unread")
        for n in range(1, runs + 1):
            started_wall = time.time()
            started = time.perf_counter()
            result = await service.run(w.env, "incremental")
            elapsed = time.perf_counter() - started
            log = await w.sandbox("GET", "/requests?limit=1000")
            paths = [r["path"] for r in log if r["time"] >= started_wall]
            per_object = Counter(path.rsplit("/", 1)[-1] for path in paths)
            exact = per_object == Counter(list(STREAMS))
            written = sum(s.written for s in result.streams.values())
            records = {name: s.records for name, s in result.streams.items()}
            print(
                f"  run {n}: {result.status}, {elapsed * 1000:.0f} ms, "
                f"{result.keap_requests} Keap requests "
                f"({'exactly one per object' if exact else dict(per_object)}), "
                f"{written} rows written, {result.subrequests} subrequests"
            )
            print(
                f"         records downloaded: most {max(records.values())} per object "
                f"(target <= 50): {records}"
            )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    asyncio.run(main(args.contacts, args.runs))
