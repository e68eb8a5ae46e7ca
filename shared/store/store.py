"""The Postgres side of the sync: one asyncpg connection, one statement per page.

Every database failure surfaces as `StoreError`, whose message names the failure
(SQLSTATE and type) but never the connection string.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from shared.platform.interfaces import Database, DatabaseUnavailable
from shared.store import sql
from shared.store.migrations import migrate
from shared.store.tables import TABLES


class StoreError(Exception):
    """Postgres failed or went away; `code` is stable and the message is safe to show."""

    def __init__(
        self, message: str, code: str = "database_error", sqlstate: str | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.sqlstate = sqlstate


CARDINALITY_VIOLATION = "21000"  # one statement writing a row twice: duplicate ids
DATA_EXCEPTION = "22"  # SQLSTATE class of a value that does not cast


def _describe(exc: BaseException) -> StoreError:
    if isinstance(exc, DatabaseUnavailable):  # its message is written to be shown
        return StoreError(f"database unavailable: {exc}", "database_unavailable")
    state = getattr(exc, "sqlstate", None)
    name = type(exc).__name__
    lost = isinstance(exc, OSError | TimeoutError | ConnectionError) or name in {
        "ConnectionDoesNotExistError",
        "InterfaceError",
        "AdminShutdownError",
        "CannotConnectNowError",
        "ConnectionFailureError",
        "InternalClientError",
    }
    if lost or (state or "").startswith(("08", "57")):
        return StoreError(f"database unavailable ({name})", "database_unavailable")
    detail = f"SQLSTATE {state}" if state else name
    return StoreError(f"database error ({detail})", sqlstate=state)


@contextlib.contextmanager
def _translated() -> Any:
    try:
        yield
    except StoreError:
        raise
    except Exception as exc:
        raise _describe(exc) from None


async def _connect(database: Database, migrate_schema: bool) -> Any:
    """A new connection, with the schema migrated; closed again if migrating fails."""
    with _translated():
        conn = await database.connect()
    try:
        if migrate_schema:
            with _translated():
                await migrate(conn)
    except BaseException:
        with contextlib.suppress(Exception):
            await conn.close()
        raise
    return conn


@dataclass(frozen=True)
class PageFacts:
    """What one upsert wrote, and what the page held."""

    written: int  # rows that changed (older or unchanged records write nothing)
    received: int
    newest: datetime | None
    oldest: datetime | None
    max_id: int | None


@dataclass(frozen=True)
class DeleteWindow:
    deleted: list[int]  # live rows Keap no longer lists, now marked deleted
    missing: list[int]  # ids Keap lists that the table lacks (or holds as deleted)


class Store:
    """The `keap` schema on one connection. `async with Store.open(database) as store:`."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn
        self.statements = 0  # round trips made (Cloudflare counts socket use, not these)
        self._database: Database | None = None
        self._migrate_schema = True

    @classmethod
    @contextlib.asynccontextmanager
    async def open(
        cls, database: Database, *, migrate_schema: bool = True, eager: bool = True
    ) -> AsyncIterator[Store]:
        """A store on a new connection, migrated first (`migrate_schema`).

        Not `eager`: the connection opens at the first statement (a run reads its first page
        from Keap before it needs the database), and a failure to connect surfaces there, as
        the `StoreError` it would have been here.
        """
        store = cls(None)
        store._database, store._migrate_schema = database, migrate_schema
        try:
            if eager:
                await store._ready()
            yield store
        finally:
            if store.conn is not None:
                with contextlib.suppress(Exception):
                    await store.conn.close()

    async def _ready(self) -> None:
        """Open the connection, if this store has none yet."""
        if self.conn is None and self._database is not None:
            self.conn = await _connect(self._database, self._migrate_schema)

    @property
    def is_closed(self) -> bool:
        return self.conn is not None and bool(self.conn.is_closed())

    async def migrate(self) -> list[int]:
        await self._ready()
        with _translated():
            return await migrate(self.conn)

    async def upsert(self, stream: str, payload: str, items_key: str | None = None) -> PageFacts:
        """Write the records in `payload` (JSON: a list, or an object holding it under
        `items_key`) in one statement."""
        row = await self._fast_then_checked(sql.upsert_sql, stream, items_key, payload)
        return PageFacts(**dict(row))

    async def _fast_then_checked(
        self, build: Any, stream: str, items_key: str | None, payload: str
    ) -> Any:
        """Run a page statement with plain casts; if a malformed value makes one fail
        (the statement wrote nothing), run it again with the NULL-giving casts."""
        await self._ready()
        self.statements += 1
        with _translated():
            try:
                if not self.conn.is_in_transaction():
                    return await self.conn.fetchrow(build(stream, items_key), payload)
                async with self.conn.transaction():  # a savepoint keeps the caller's alive
                    return await self.conn.fetchrow(build(stream, items_key), payload)
            except Exception as exc:
                if not (getattr(exc, "sqlstate", None) or "").startswith(DATA_EXCEPTION):
                    raise
            self.statements += 1
            return await self.conn.fetchrow(build(stream, items_key, True), payload)

    async def upsert_records(self, stream: str, records: Sequence[dict[str, Any]]) -> int:
        """Write records in one statement; returns how many rows changed."""
        if not records:
            return 0
        payload = json.dumps(records, separators=(",", ":"))
        return (await self.upsert(stream, payload)).written

    async def refresh(self, stream: str, payload: str, items_key: str | None = None) -> int:
        """Apply a listing's `refresh_fields` (e.g. contacts' tag_ids) to live rows."""
        if not TABLES[stream].refresh_fields:
            return 0
        row = await self._fast_then_checked(sql.refresh_sql, stream, items_key, payload)
        return int(row[0])

    async def mark_deleted(
        self, stream: str, ids: Sequence[int], *, written_before: datetime | None = None
    ) -> list[int]:
        """Mark live rows deleted; returns the ids that were live."""
        if not ids:
            return []
        await self._ready()
        self.statements += 1
        with _translated():
            rows = await self.conn.fetch(sql.mark_deleted_sql(stream), list(ids), written_before)
        return [r["id"] for r in rows]

    async def reconcile_window(
        self,
        stream: str,
        after: int,
        upto: int | None,
        keap_ids: Sequence[int],
        listed_at: datetime,
    ) -> DeleteWindow:
        """Compare Keap's ids in (`after`, `upto`] with the table (see `sql`)."""
        await self._ready()
        self.statements += 1
        with _translated():
            row = await self.conn.fetchrow(
                sql.reconcile_window_sql(stream), after, upto, list(keap_ids), listed_at
            )
        return DeleteWindow(list(row["deleted"]), list(row["missing"]))

    async def live_ids(self, stream: str) -> list[int]:
        """Every live id of a table (for the small streams Keap cannot list by id)."""
        await self._ready()
        self.statements += 1
        with _translated():
            rows = await self.conn.fetch(sql.live_ids_sql(stream))
        return [r["id"] for r in rows]

    async def counts(self) -> dict[str, dict[str, Any]]:
        """Per table: live rows, rows marked deleted, last write, newest Keap update."""
        await self._ready()
        self.statements += 1
        with _translated():
            rows = await self.conn.fetch(sql.counts_sql())
        return {
            r["stream"]: {
                "rows": r["rows"],
                "deleted": r["deleted"],
                "last_synced_at": r["last_synced_at"],
                "newest_update": r["newest_update"],
            }
            for r in rows
        }
