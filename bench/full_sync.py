"""Full sync wall time against the floor: fetching the same pages and doing nothing else.

    .venv/bin/python bench/full_sync.py [--contacts 100000] [--latency-ms 100]

Keap (the sandbox, in its own process, 100 ms added to every request, limits off so
neither side waits on them) holds `--contacts` contacts and the other objects in
proportion. Every page is rendered once before anything is timed, and then served
from the sandbox's page cache: Keap's time is the added latency, and the sandbox's
own rendering (Python, about 70 ms a page of 1,000 contacts on one core) takes no CPU
from what is measured. In the same run it measures:

- floor: a bare loop that requests every page of every stream, one chain after
  another (a pass's own parameters, the page tokens Keap hands out), and only looks
  for the next token;
- concurrent fetch: the same pages fetched as the sync reads them (streams at once,
  large objects in id slices, as many requests in flight as the sync has), nothing else;
- sync: `POST /sync/full`'s work (lease, every stream at once, large objects in slices,
  one upsert and one checkpoint per page, pacing) into an empty Postgres.

The floor runs before and after the sync; the faster of the two is the one compared.
The rate ceiling is what Keap allows an OAuth app (25 requests a second): its floor
is the floor's pages / 25 per second, computed. Prints all three, and the sync's
ratios to the floors (target: sync <= 1.25 x the ceiling floor).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import time
from typing import Any

import asyncpg
import httpx
from _world import World, world

from shared.keap.pacing import SPIKE_PER_SECOND
from shared.keap.streams import STREAMS
from shared.platform.connections import WORKER_CONNECTIONS
from shared.sync import service
from shared.sync.budget import Budget
from shared.sync.slices import plan
from shared.sync.state import StreamState

_TOKEN = re.compile(rb'"next_page_token":"([^"]*)"\}\s*$')


async def floor(w: World) -> tuple[float, int, int]:
    """(seconds, pages, records) to fetch every page of every stream, nothing else."""
    headers = await w.keap_headers()
    pages = records = 0
    started = time.perf_counter()
    async with httpx.AsyncClient(base_url=w.api_base, headers=headers, timeout=120) as http:
        for spec in STREAMS.values():
            state = StreamState.from_json(spec, None)
            state.begin()
            params, _ = state.request()
            token = None
            while True:
                query = {**params, **({"page_token": token} if token else {})}
                response = await http.get(spec.path, params=query)
                response.raise_for_status()
                pages += 1
                match = _TOKEN.search(response.content)
                if match is None or pages % 20 == 0:
                    body = json.loads(response.content)
                    records += len(body.get(spec.items_key) or [])
                    token = body.get("next_page_token")
                else:
                    records += response.content.count(b'"update_time"') or spec.page_size
                    token = match.group(1).decode()
                if not token:
                    break
    return time.perf_counter() - started, pages, records


async def concurrent_floor(w: World) -> float:
    """Seconds to fetch the pages a sync reads, as the sync reads them (every stream at
    once, large objects in the same id slices after the same first page, as many
    requests in flight as the sync has), and nothing else: no pacing, no writes."""
    headers = await w.keap_headers()
    in_flight = asyncio.Semaphore(WORKER_CONNECTIONS - service.STORE_POOL)

    async def chain(http: httpx.AsyncClient, path: str, params: dict[str, Any]) -> None:
        token = None
        while True:
            query = {**params, **({"page_token": token} if token else {})}
            async with in_flight:
                response = await http.get(path, params=query)
            response.raise_for_status()
            match = _TOKEN.search(response.content)
            token = match.group(1).decode() if match else None
            if not token:
                return

    async def sliced(http: httpx.AsyncClient, spec: Any) -> None:
        """A full pass as the sync reads it: the first page in id order, then the page of
        the greatest ids beyond it, then the ids between them in the same ranges, at once."""
        body = await one_page(http, spec.path, spec.slice_params(0, None))
        if not body.get("next_page_token"):
            return
        after = max(int(r["id"]) for r in body[spec.items_key])
        top = await one_page(http, spec.path, spec.top_params(after))
        if not top.get("next_page_token") or not top[spec.items_key]:
            return
        least = min(int(r["id"]) for r in top[spec.items_key])
        ranges = [(p.after, p.upto) for p in plan(least - 1, spec.page_size, after=after)]
        await asyncio.gather(
            *(chain(http, spec.path, spec.slice_params(lo, hi)) for lo, hi in ranges)
        )

    async def one_page(http: httpx.AsyncClient, path: str, params: dict[str, Any]) -> Any:
        async with in_flight:
            response = await http.get(path, params=params)
        response.raise_for_status()
        return response.json()

    started = time.perf_counter()
    async with httpx.AsyncClient(base_url=w.api_base, headers=headers, timeout=120) as http:
        chains = []
        for spec in STREAMS.values():
            if spec.sliceable:
                chains.append(sliced(http, spec))
            else:
                state = StreamState.from_json(spec, None)
                state.begin()
                chains.append(chain(http, spec.path, state.request()[0]))
        await asyncio.gather(*chains)
    return time.perf_counter() - started


async def rows_missing(w: World) -> dict[str, int]:
    """Per object, how many of Keap's records the database lacks after the sync."""
    kinds = (await w.sandbox("GET", "/stats"))["records"]
    conn = await asyncpg.connect(w.dsn)
    try:
        missing = {}
        for name in STREAMS:
            rows = await conn.fetchval(f"SELECT count(*) FROM keap.{name}")  # noqa: S608
            missing[name] = kinds[name]["live"] - rows
    finally:
        await conn.close()
    return {name: n for name, n in missing.items() if n}


async def main(contacts: int, latency_ms: float) -> None:
    settings = {"latency_ms": latency_ms, "limits_enabled": False, "page_cache_pages": 10**6}
    async with world(contacts, **settings) as w:
        # Render every page the floors and the sync read (the sync's are the concurrent
        # fetch's): from here on the sandbox serves them from its cache.
        await floor(w)
        await concurrent_floor(w)
        floor_1, pages, _ = await floor(w)
        budget = Budget(wall_s=6 * 3600, subrequests=10**9)
        started = time.perf_counter()
        result = await service.run(w.env, "full", budget=budget)
        sync_s = time.perf_counter() - started
        floor_2, _, _ = await floor(w)
        at_once = await concurrent_floor(w)
        missing = await rows_missing(w)
    best_floor = min(floor_1, floor_2)
    rows = sum(s.records for s in result.streams.values())
    print(f"full sync: {contacts:,} contacts + other objects, {latency_ms:.0f} ms per request")
    print(
        f"  run status        {result.status} ({result.keap_requests} Keap requests, "
        f"{result.subrequests} subrequests)"
    )
    print(
        f"  records           {rows:,} in {sum(s.pages for s in result.streams.values())} "
        f"pages (floor: {pages} pages)"
    )
    print(f"  database          {missing or 'equal to Keap, object by object'}")
    print(f"  floor             {floor_1:.2f} s before, {floor_2:.2f} s after the sync")
    print(f"  sync              {sync_s:.2f} s  ({rows / sync_s:,.0f} records/s)")
    ceiling = pages / SPIKE_PER_SECOND["bearer"]
    print(f"  ceiling floor     {ceiling:.2f} s  ({pages} pages / 25 per second)")
    requests_ceiling = result.keap_requests / SPIKE_PER_SECOND["bearer"]
    print(
        f"  requests' ceiling {requests_ceiling:.2f} s  ({result.keap_requests} requests the "
        "sync made / 25 per second)"
    )
    print(f"  concurrent fetch  {at_once:.2f} s  (the same pages, as the sync reads them)")
    print(f"  ratio sync/floor  {sync_s / best_floor:.3f}  (a page chain after another)")
    print(f"  ratio sync/concurrent fetch  {sync_s / at_once:.3f}")
    print(f"  ratio sync/ceiling floor  {sync_s / ceiling:.3f}  (target <= 1.25)")
    print(f"  ratio sync/requests' ceiling  {sync_s / requests_ceiling:.3f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=100_000)
    parser.add_argument("--latency-ms", type=float, default=100.0)
    args = parser.parse_args()
    asyncio.run(main(args.contacts, args.latency_ms))
