"""Rows per second of the page upsert against a plain COPY of the same rows.

    .venv/bin/python bench/upsert_rate.py [--contacts 50000] [--repeats 3]

Reads `--contacts` contacts (every field, custom fields included) from the Keap sandbox
as the sync does, in pages of 1000, and keeps the page bodies. Then, in an embedded
Postgres, best of `--repeats`:

- upsert: each page into an empty `keap.contacts` with the sync's own statement
  (typed columns extracted from the JSON, raw jsonb, the staleness guard, tag
  applications into `keap.contact_tags`), one statement per page;
- upsert again: the same pages over the rows they wrote (the guard finds nothing newer);
- COPY: the rows the upsert produced, copied with `COPY` (asyncpg's binary
  copy_records_to_table, 1000 rows per call), the contact rows alone and the contact rows
  plus their tag rows: into tables like the sync's own (`LIKE ... INCLUDING ALL`: the
  same indexes, written to the WAL), which is the work Postgres does for those rows
  whatever writes them; and, for comparison, into temp tables with the same columns
  only (no index, no WAL).

Prints rows/s for each and the ratios (target: upsert >= 0.7 x COPY of the same rows
into the same kind of table).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

import asyncpg
import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from local.keap_sandbox import SandboxConfig, serve_sandbox  # noqa: E402
from local.postgres import EmbeddedPostgres  # noqa: E402
from local.serve import free_port  # noqa: E402
from shared.keap.streams import STREAMS  # noqa: E402
from shared.store.store import Store  # noqa: E402
from shared.sync.paginator import scan_token  # noqa: E402

BATCH = 1000


async def fetch_pages(contacts: int) -> list[str]:
    spec = STREAMS["contacts"]
    config = SandboxConfig(contacts=contacts, limits_enabled=False)
    pages: list[str] = []
    async with serve_sandbox(config) as keap:
        headers = {"X-Keap-API-Key": config.api_keys[0]}
        async with httpx.AsyncClient(base_url=keap.api_base, headers=headers, timeout=120) as c:
            params = spec.pass_params()  # a first full pass's request
            token = None
            while True:
                query = {**params, **({"page_token": token} if token else {})}
                response = await c.get(spec.path, params=query)
                response.raise_for_status()
                pages.append(response.text)
                token = scan_token(response.text)
                if not token:
                    return pages


async def timed_upsert(conn: asyncpg.Connection, pages: list[str], fresh: bool) -> float:
    store = Store(conn, "default")
    if fresh:
        await conn.execute("DROP SCHEMA IF EXISTS keap CASCADE")
        await store.migrate()
    await conn.execute("CHECKPOINT")
    started = time.perf_counter()
    for page in pages:
        await store.upsert("contacts", page, "contacts")
    return time.perf_counter() - started


async def timed_copy(
    conn: asyncpg.Connection,
    table: str,
    rows: list[tuple],  # type: ignore[type-arg]
    columns: list[str],
    like_the_table: bool,
) -> float:
    """Seconds to COPY `rows` into a table like `keap.<table>` (its indexes, logged), or
    into a temp table with its columns only."""
    copy = f"keap.copy_{table}" if like_the_table else f"copy_{table}"
    await conn.execute(f"DROP TABLE IF EXISTS {copy}")
    if like_the_table:
        await conn.execute(f"CREATE TABLE {copy} (LIKE keap.{table} INCLUDING ALL)")
    else:
        await conn.execute(f"CREATE TEMP TABLE {copy} (LIKE keap.{table})")
    await conn.execute("CHECKPOINT")
    started = time.perf_counter()
    for at in range(0, len(rows), BATCH):
        await conn.copy_records_to_table(
            copy.rsplit(".", 1)[-1],
            schema_name="keap" if like_the_table else None,
            records=rows[at : at + BATCH],
            columns=columns,
        )
    elapsed = time.perf_counter() - started
    await conn.execute(f"DROP TABLE {copy}")
    return elapsed


async def table_rows(conn: asyncpg.Connection, table: str) -> tuple[list[tuple], list[str]]:  # type: ignore[type-arg]
    columns = [
        r["column_name"]
        for r in await conn.fetch(
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_schema = 'keap' AND table_name = $1 ORDER BY ordinal_position",
            table,
        )
    ]
    rows = [tuple(r) for r in await conn.fetch(f"SELECT {', '.join(columns)} FROM keap.{table}")]  # noqa: S608
    return rows, columns


async def main(contacts: int, repeats: int) -> None:
    pages = await fetch_pages(contacts)
    with tempfile.TemporaryDirectory(prefix="upsert-rate-") as state:
        postgres = EmbeddedPostgres(Path(state) / "pg", free_port())
        dsn = await asyncio.to_thread(postgres.start)
        try:
            conn = await asyncpg.connect(dsn)
            best = dict.fromkeys(("upsert", "again", "copy", "copy_tags", "temp", "temp_tags"), 1e9)
            for _ in range(repeats):
                best["upsert"] = min(best["upsert"], await timed_upsert(conn, pages, True))
                best["again"] = min(best["again"], await timed_upsert(conn, pages, False))
                rows, columns = await table_rows(conn, "contacts")
                tag_rows, tag_columns = await table_rows(conn, "contact_tags")
                for like, name in ((True, "copy"), (False, "temp")):
                    copy_s = await timed_copy(conn, "contacts", rows, columns, like)
                    tags_s = await timed_copy(conn, "contact_tags", tag_rows, tag_columns, like)
                    best[name] = min(best[name], copy_s)
                    best[f"{name}_tags"] = min(best[f"{name}_tags"], copy_s + tags_s)
            await conn.close()
        finally:
            await asyncio.to_thread(postgres.stop)
    n = len(rows)
    rate = {k: n / v for k, v in best.items()}
    print(
        f"page upsert vs COPY: {n:,} contacts ({len(tag_rows):,} tag rows), "
        f"{len(pages)} pages, best of {repeats}"
    )
    print(f"  upsert (new rows)            {rate['upsert']:>9,.0f} rows/s")
    print(f"  upsert again (nothing newer) {rate['again']:>9,.0f} rows/s")
    print(
        f"  COPY contact rows            {rate['copy']:>9,.0f} rows/s  (a table like keap.contacts)"
    )
    print(f"  COPY contact + tag rows      {rate['copy_tags']:>9,.0f} contacts/s")
    print(f"  COPY into temp tables        {rate['temp']:>9,.0f} rows/s  (no index, no WAL)")
    print(f"  COPY into temp tables + tags {rate['temp_tags']:>9,.0f} contacts/s")
    print(
        f"  ratio upsert / COPY contact rows          {rate['upsert'] / rate['copy']:.2f}"
        "  (target >= 0.7)"
    )
    print(f"  ratio upsert / COPY of the same rows+tags {rate['upsert'] / rate['copy_tags']:.2f}")
    print(f"  ratio upsert / COPY into temp tables      {rate['upsert'] / rate['temp']:.2f}")
    print(f"  ratio upsert / temp tables, rows+tags     {rate['upsert'] / rate['temp_tags']:.2f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=50_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    asyncio.run(main(args.contacts, args.repeats))
