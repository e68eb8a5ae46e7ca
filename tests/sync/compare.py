"""What "the database equals Keap" means, record by record, for the tests."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import asyncpg
import httpx

from shared.keap.streams import STREAMS, StreamSpec

API_KEY_HEADER = {"X-Keap-API-Key": "sandbox-api-key"}


async def keap_records(api_base: str, spec: StreamSpec) -> dict[int, dict[str, Any]]:
    """Every record Keap lists for a stream, with the fields the sync asks for.

    A plain loop over the list endpoint, independent of the sync's own code.
    """
    out: dict[int, dict[str, Any]] = {}
    params: dict[str, Any] = {"page_size": 1000}
    if spec.fields:
        params["fields"] = spec.fields_value(spec.fields)
    async with httpx.AsyncClient(base_url=api_base, headers=API_KEY_HEADER, timeout=30) as http:
        token = None
        while True:
            query = dict(params, **({"page_token": token} if token else {}))
            for attempt in range(20):
                response = await http.get(spec.path, params=query)
                if response.status_code < 400:
                    break
                assert response.status_code in (429, 500, 502, 503), response.text
                await asyncio.sleep(0.2 * (attempt + 1))
            body = response.json()
            for record in body.get(spec.items_key) or []:
                out[int(record["id"])] = record
            token = body.get("next_page_token")
            if not token:
                return out


async def db_records(dsn: str, stream: str) -> dict[int, dict[str, Any]]:
    """Live rows of a table, as the raw records they were written from."""
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(
            f"SELECT id, raw FROM keap.{stream} WHERE deleted_at IS NULL"  # noqa: S608
        )
    finally:
        await conn.close()
    return {r["id"]: json.loads(r["raw"]) for r in rows}


async def db_pairs(dsn: str, query: str) -> set[tuple[int, int]]:
    conn = await asyncpg.connect(dsn)
    try:
        return {tuple(r) for r in await conn.fetch(query)}  # type: ignore[misc]
    finally:
        await conn.close()


async def assert_db_matches_keap(dsn: str, api_base: str, streams: list[str] | None = None) -> None:
    """Every live row equals Keap's record, and every Keap record has its row."""
    for name in streams or list(STREAMS):
        spec = STREAMS[name]
        keap = await keap_records(api_base, spec)
        db = await db_records(dsn, name)
        assert set(db) == set(keap), (
            f"{name}: missing {sorted(set(keap) - set(db))[:10]}, "
            f"extra {sorted(set(db) - set(keap))[:10]}"
        )
        different = [i for i in keap if keap[i] != db[i]]
        assert not different, f"{name}: {len(different)} rows differ, e.g. id {different[0]}"
        if name == "contacts":
            wanted = {(c, int(t)) for c, r in keap.items() for t in r.get("tag_ids") or []}
            # Every row, deleted contacts' included: their tag rows must be gone with them.
            query = "SELECT contact_id, tag_id FROM keap.contact_tags"
            assert await db_pairs(dsn, query) == wanted, "contact_tags differ from tag_ids"
        if name == "orders":
            wanted = {
                (o, int(i["id"])) for o, r in keap.items() for i in r.get("order_items") or []
            }
            query = "SELECT order_id, id FROM keap.order_items"
            assert await db_pairs(dsn, query) == wanted, "order_items differ from the orders"


async def count_rows(dsn: str, table: str) -> int:
    """Rows of `keap.<table>` (0 before the schema exists)."""
    conn = await asyncpg.connect(dsn)
    try:
        if not await conn.fetchval("SELECT to_regclass($1) IS NOT NULL", f"keap.{table}"):
            return 0
        return int(await conn.fetchval(f"SELECT count(*) FROM keap.{table}"))  # noqa: S608
    finally:
        await conn.close()
