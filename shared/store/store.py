"""The Postgres side of the sync: one asyncpg connection, one statement per page.

Every database failure surfaces as `StoreError`, whose message names the failure
(SQLSTATE and type) but never the connection string.

A page Postgres refuses because of one of its records (a value no column takes, a
constraint or trigger of the database's owner) is split until the records it refuses
are found; the rest of the page is written and the refused records are reported with
the page's facts (`PageFacts.refused`), for the caller to quarantine or retry.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from shared.platform.connections import Connections
from shared.platform.interfaces import Database, DatabaseUnavailable
from shared.store import sql
from shared.store.clean import clean_page
from shared.store.migrations import MigrationError, migrate
from shared.store.migrations import load as load_migrations
from shared.store.tables import TABLES

log = logging.getLogger("keap_sync.store")


class StoreError(Exception):
    """Postgres failed or went away; `code` is stable and the message is safe to show.

    `detail` is Postgres's own words for an error about the data (never set for a
    connection problem, whose driver message could name the server)."""

    def __init__(
        self,
        message: str,
        code: str = "database_error",
        sqlstate: str | None = None,
        detail: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.sqlstate = sqlstate
        self.detail = detail

    @property
    def about_a_record(self) -> bool:
        """The data was refused (not the database lost): another record may well pass."""
        return is_about_data(self.sqlstate)


CARDINALITY_VIOLATION = "21000"  # one statement writing a row twice: duplicate ids
DATA_EXCEPTION = "22"  # SQLSTATE class of a value that does not cast
# Classes of errors about the values written: data exceptions, integrity constraints
# (the owner's own CHECKs and foreign keys), program limits (a record too deep or too
# big), and an exception a trigger raised.
_ABOUT_DATA = ("22", "23", "54", "P0001")
# More refused records than this on one page is no longer about records: the page
# fails as a whole, as any database error does.
MAX_REFUSED_PER_PAGE = 20


def is_about_data(sqlstate: str | None) -> bool:
    return bool(sqlstate) and str(sqlstate).startswith(_ABOUT_DATA)


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
    said = (str(exc).splitlines() or [""])[0][:300] if is_about_data(state) else None
    return StoreError(f"database error ({detail})", sqlstate=state, detail=said)


@contextlib.contextmanager
def _translated() -> Any:
    try:
        yield
    except StoreError:
        raise
    except Exception as exc:
        raise _describe(exc) from None


async def _connect(database: Database, migrate_schema: bool) -> Any:
    """A new connection, with the schema migrated; closed again if migrating fails.

    The migration files are read before connecting: a bundle without them fails here,
    saying so, whatever state the database is in."""
    if migrate_schema:
        try:
            load_migrations()
        except MigrationError as exc:
            raise StoreError(f"the schema's migrations cannot be read: {exc}") from None
    with _translated():
        conn = await database.connect()
    try:
        with _translated():
            await send_json_as_received(conn)
        if migrate_schema:
            with _translated():
                await migrate(conn)
    except BaseException:
        with contextlib.suppress(Exception):
            await conn.close()
        raise
    return conn


JSONB_VERSION = b"\x01"  # the first byte of jsonb's binary form; the JSON text follows


def _jsonb_wire(value: str | bytes) -> bytes:
    return JSONB_VERSION + (value if isinstance(value, bytes) else value.encode())


def _jsonb_text(data: bytes) -> str:
    return data[1:].decode()


async def send_json_as_received(conn: Any) -> None:
    """Let `jsonb` parameters be the bytes Keap sent (and still text): a page goes to
    Postgres without being decoded to text and encoded back. Values read stay text."""
    await conn.set_type_codec(
        "jsonb", schema="pg_catalog", encoder=_jsonb_wire, decoder=_jsonb_text, format="binary"
    )


@dataclass(frozen=True)
class RefusedRecord:
    """A record Postgres would not store: its id, why (SQLSTATE and Postgres's words)
    and the record as JSON text (ASCII, so any database encoding can keep it)."""

    id: int
    error: str
    raw: str | None = None


@dataclass(frozen=True)
class PageFacts:
    """What one upsert wrote, and what the page held."""

    written: int  # rows that changed (older or unchanged records write nothing)
    received: int
    newest: datetime | None
    oldest: datetime | None
    max_id: int | None
    cleaned: int = 0  # records whose text had to be made storable (see `clean`)
    refused: tuple[RefusedRecord, ...] = field(default=())  # not written: see `Store.upsert`

    def plus(self, other: PageFacts) -> PageFacts:
        """The facts of both parts of a page together."""

        def pick(f: Any, a: Any, b: Any) -> Any:
            return b if a is None else a if b is None else f(a, b)

        return PageFacts(
            written=self.written + other.written,
            received=self.received + other.received,
            newest=pick(max, self.newest, other.newest),
            oldest=pick(min, self.oldest, other.oldest),
            max_id=pick(max, self.max_id, other.max_id),
            cleaned=self.cleaned + other.cleaned,
            refused=self.refused + other.refused,
        )


NO_FACTS = PageFacts(0, 0, None, None, None)


@dataclass(frozen=True)
class Quarantined:
    stream: str
    id: int
    error: str
    source: str  # sync | reconcile | webhook
    attempts: int
    first_failed_at: datetime
    last_failed_at: datetime


@dataclass(frozen=True)
class DeleteWindow:
    deleted: list[int]  # live rows Keap no longer lists, now marked deleted
    missing: list[int]  # ids Keap lists that the table lacks (or holds as deleted)


class Store:
    """One account's rows of the `keap` schema, on up to `pool` connections (one by default).

    `async with Store.open(database, account=name) as store:`. Every statement over a table
    carries `account`: the rows it writes are the account's, and it reads, changes and
    deletes no other account's rows. Each statement takes an idle connection, opening
    another while fewer than `pool` are open, so a run's tasks write side by side; with one
    connection they take turns. `conn` is the first connection opened."""

    def __init__(
        self,
        conn: Any,
        account: str,
        pool: int = 1,
        connections: Connections | None = None,
    ) -> None:
        if not isinstance(account, str) or not account:
            raise ValueError("a store belongs to one account: name it")
        self.conn = conn
        self.account = account
        self.statements = 0  # round trips made (Cloudflare counts socket use, not these)
        self._database: Database | None = None
        self._migrate_schema = True
        self._pool = max(1, pool)
        self._connections = connections  # open connections each hold a slot of these
        self._all: list[Any] = [conn] if conn is not None else []
        self._idle: list[Any] = list(self._all)
        self._opening = 0
        self._freed = asyncio.Condition()
        self._migrating = asyncio.Lock()  # the first connection migrates; the others wait

    @classmethod
    @contextlib.asynccontextmanager
    async def open(
        cls,
        database: Database,
        *,
        account: str,
        migrate_schema: bool = True,
        eager: bool = True,
        pool: int = 1,
        connections: Connections | None = None,
    ) -> AsyncIterator[Store]:
        """`account`'s store on a new connection, migrated first (`migrate_schema`).

        Not `eager`: the connection opens at the first statement (a run reads its first page
        from Keap before it needs the database), and a failure to connect surfaces there, as
        the `StoreError` it would have been here. `pool`: how many connections statements
        may run on at once; each open one holds a slot of `connections`.
        """
        store = cls(None, account, pool, connections)
        store._database, store._migrate_schema = database, migrate_schema
        try:
            if eager:
                async with store._statement(0):
                    pass
            yield store
        finally:
            await store._close_all()

    async def _close_all(self) -> None:
        for conn in self._all:
            with contextlib.suppress(Exception):
                await conn.close()
            if self._connections is not None and self._database is not None:
                self._connections.release()
        self._all.clear()
        self._idle.clear()

    async def _open_one(self) -> Any:
        """Open another connection (the first migrates the schema)."""
        assert self._database is not None
        if self._connections is not None:
            await self._connections.acquire()
        try:
            async with self._migrating:
                conn = await _connect(self._database, self._migrate_schema and self.conn is None)
        except BaseException:
            if self._connections is not None:
                self._connections.release()
            raise
        if self.conn is None:
            self.conn = conn
        self._all.append(conn)
        return conn

    @contextlib.asynccontextmanager
    async def _take(self) -> AsyncIterator[Any]:
        """An idle connection (opened if the pool has room), given back afterwards."""
        async with self._freed:
            while not self._idle and (
                self._database is None or len(self._all) + self._opening >= self._pool
            ):
                await self._freed.wait()
            conn = self._idle.pop() if self._idle else None
            if conn is None:
                self._opening += 1
        if conn is None:
            try:
                conn = await self._open_one()
            finally:
                async with self._freed:
                    self._opening -= 1
                    self._freed.notify()
        try:
            yield conn
        finally:
            async with self._freed:
                self._idle.append(conn)
                self._freed.notify()

    @contextlib.asynccontextmanager
    async def _statement(self, count: int = 1) -> AsyncIterator[Any]:
        """A connection for `count` statements: opened if need be, used by one caller at a
        time (one connection runs one statement at a time), failures as `StoreError`."""
        self.statements += count
        with _translated():
            async with self._take() as conn:
                yield conn

    def statements_in_turn(self, count: int = 1) -> contextlib.AbstractAsyncContextManager[Any]:
        """The connection, for the package's other writers (the run journal, the custom
        field views): opened if need be, taken in turn, failures as `StoreError`."""
        return self._statement(count)

    @property
    def is_closed(self) -> bool:
        return self.conn is not None and bool(self.conn.is_closed())

    async def migrate(self) -> list[str]:
        async with self._statement(0) as conn:
            return await migrate(conn)

    async def upsert(
        self, stream: str, payload: str | bytes, items_key: str | None = None
    ) -> PageFacts:
        """Write the records in `payload` (JSON: a list, or an object holding it under
        `items_key`) in one statement.

        Text Postgres cannot hold is cleaned first (`PageFacts.cleaned` counts the
        records). Records Postgres still refuses are left out and returned in
        `PageFacts.refused`; the rest of the page is written."""
        payload, cleaned = clean_page(payload, items_key)
        try:
            row = await self._fast_then_checked(sql.upsert_sql, stream, items_key, payload)
        except StoreError as exc:
            if not exc.about_a_record:
                raise
            facts = await self._isolate(stream, payload, items_key, exc)
        else:
            facts = PageFacts(**dict(row))
        return replace(facts, cleaned=cleaned)

    async def _isolate(
        self, stream: str, payload: str | bytes, items_key: str | None, error: StoreError
    ) -> PageFacts:
        """Write the page in halves, and halves of the halves that fail, down to the
        records Postgres refuses (a few statements per refused record)."""
        try:
            body = json.loads(payload)
        except ValueError:
            raise error from None
        records = body.get(items_key) if isinstance(body, dict) and items_key else body
        if not isinstance(records, list) or not records:
            raise error
        facts = await self._split(stream, records, error)
        log.warning(
            "%s: Postgres refused %d record(s) of a page (%s); the rest is written",
            stream,
            len(facts.refused),
            error.sqlstate,
        )
        return facts

    async def _split(self, stream: str, records: list[Any], error: StoreError) -> PageFacts:
        if len(records) == 1:
            return await self._refused(stream, records[0], error)
        facts = NO_FACTS
        half = len(records) // 2
        for part in (records[:half], records[half:]):
            payload = json.dumps(part, ensure_ascii=False, separators=(",", ":"))
            try:
                row = await self._run(sql.upsert_sql(stream, None, True), payload, self.account)
                facts = facts.plus(PageFacts(**dict(row)))
            except StoreError as exc:
                if not exc.about_a_record:
                    raise
                facts = facts.plus(await self._split(stream, part, exc))
            if len(facts.refused) > MAX_REFUSED_PER_PAGE:
                raise StoreError(
                    f"database error (SQLSTATE {error.sqlstate}): Postgres refused more than "
                    f"{MAX_REFUSED_PER_PAGE} records of one page; first: {facts.refused[0].error}",
                    sqlstate=error.sqlstate,
                )
        return facts

    async def _refused(self, stream: str, record: Any, error: StoreError) -> PageFacts:
        """One record Postgres refuses, with what the page needs to know of it (its id
        and update time, so the sync moves past it)."""
        raw = json.dumps(record, separators=(",", ":"))  # ASCII: storable anywhere
        try:
            # Reads the record alone, no table: no account to match.
            facts = PageFacts(**dict(await self._run(sql.facts_sql(stream), f"[{raw}]")))
        except StoreError as exc:  # even its JSON is refused: the id, from Python
            if not exc.about_a_record:
                raise
            facts = NO_FACTS
        record_id = facts.max_id if facts.max_id is not None else _id_of(record)
        if record_id is None:
            return facts  # without an id the upsert skips a record anyway
        why = f"SQLSTATE {error.sqlstate}: {error.detail or error.message}"
        return PageFacts(
            written=0,
            received=max(facts.received, 1),
            newest=facts.newest,
            oldest=facts.oldest,
            max_id=record_id,
            refused=(RefusedRecord(record_id, why, raw),),
        )

    async def _run(self, statement: str, payload: str | bytes, *args: Any) -> Any:
        """One statement over a JSON payload (in a savepoint within a caller's transaction)."""
        if isinstance(payload, bytes) and self._database is None:
            # A connection the store did not open takes JSON as text only.
            payload = payload.decode("utf-8", "replace")
        async with self._statement() as conn:
            if not conn.is_in_transaction():
                return await conn.fetchrow(statement, payload, *args)
            async with conn.transaction():  # a savepoint keeps the caller's alive
                return await conn.fetchrow(statement, payload, *args)

    async def _fast_then_checked(
        self, build: Any, stream: str, items_key: str | None, payload: str | bytes
    ) -> Any:
        """Run a page statement with plain casts; if a malformed value makes one fail
        (the statement wrote nothing), run it again with the NULL-giving casts."""
        try:
            return await self._run(build(stream, items_key), payload, self.account)
        except StoreError as exc:
            if not (exc.sqlstate or "").startswith(DATA_EXCEPTION):
                raise
        return await self._run(build(stream, items_key, True), payload, self.account)

    async def upsert_records(self, stream: str, records: Sequence[dict[str, Any]]) -> int:
        """Write records in one statement; returns how many rows changed."""
        if not records:
            return 0
        payload = json.dumps(records, separators=(",", ":"))
        return (await self.upsert(stream, payload)).written

    async def refresh(self, stream: str, payload: str | bytes, items_key: str | None = None) -> int:
        """Apply a listing's `refresh_fields` (e.g. contacts' tag_ids) to live rows."""
        if not TABLES[stream].refresh_fields:
            return 0
        payload, _ = clean_page(payload, items_key)
        row = await self._fast_then_checked(sql.refresh_sql, stream, items_key, payload)
        return int(row[0])

    async def pending_details(self, stream: str, limit: int) -> list[int]:
        """Ids of live rows whose details (see `Table.details`) are not read for the
        version written, newest first."""
        async with self._statement() as conn:
            rows = await conn.fetch(sql.pending_details_sql(stream), limit, self.account)
        return [r["id"] for r in rows]

    async def write_details(self, stream: str, payload: str) -> int:
        """Write the detail columns from records as the per-id GET returns them (`payload`,
        a JSON list); returns the rows written."""
        payload, _ = clean_page(payload, None)
        row = await self._run(sql.details_sql(stream), payload, self.account)
        return int(row[0])

    async def quarantine(self, stream: str, records: Sequence[RefusedRecord], source: str) -> None:
        """Keep records that could not be written where people look (`keap.quarantine`);
        an entry already there counts one more attempt."""
        if not records:
            return
        async with self._statement() as conn:
            await conn.execute(
                sql.QUARANTINE_SQL,
                stream,
                source,
                [r.id for r in records],
                [r.error for r in records],
                [r.raw for r in records],
                self.account,
            )

    async def quarantined(self, limit: int = 50) -> list[Quarantined]:
        """The quarantine, newest failure first, once records written since are let go."""
        async with self._statement(2) as conn:
            await conn.execute(sql.unquarantine_sql(), self.account)
            rows = await conn.fetch(sql.QUARANTINED_SQL, limit, self.account)
        return [Quarantined(**dict(r)) for r in rows]

    async def mark_deleted(
        self, stream: str, ids: Sequence[int], *, written_before: datetime | None = None
    ) -> list[int]:
        """Mark live rows deleted; returns the ids that were live."""
        if not ids:
            return []
        async with self._statement() as conn:
            rows = await conn.fetch(
                sql.mark_deleted_sql(stream), list(ids), written_before, self.account
            )
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
        async with self._statement() as conn:
            row = await conn.fetchrow(
                sql.reconcile_window_sql(stream),
                after,
                upto,
                list(keap_ids),
                listed_at,
                self.account,
            )
        return DeleteWindow(list(row["deleted"]), list(row["missing"]))

    async def holding_none(self, streams: Sequence[str]) -> set[str]:
        """Those of `streams` whose table holds no row of the account, live or deleted."""
        if not streams:
            return set()
        async with self._statement() as conn:
            rows = await conn.fetch(sql.holding_none_sql(tuple(streams)), self.account)
        return {r["stream"] for r in rows if r["empty"]}

    async def live_ids(self, stream: str) -> list[int]:
        """Every live id of a table (for the small streams Keap cannot list by id)."""
        async with self._statement() as conn:
            rows = await conn.fetch(sql.live_ids_sql(stream), self.account)
        return [r["id"] for r in rows]

    async def counts(self, streams: Sequence[str] | None = None) -> dict[str, dict[str, Any]]:
        """Per table (of `streams`, or all; none for an empty list), as `table_counts`."""
        if streams is not None and not streams:
            return {}
        async with self._statement() as conn:
            chosen = None if streams is None else tuple(streams)
            rows = await conn.fetch(sql.counts_sql(chosen), self.account)
        return table_counts(rows)


def table_counts(rows: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """`sql.counts_sql`'s rows by table: live rows, rows marked deleted, last write, newest
    Keap update, records in quarantine, rows whose details are unread."""
    return {
        r["stream"]: {
            "rows": r["rows"],
            "deleted": r["deleted"],
            "last_synced_at": r["last_synced_at"],
            "newest_update": r["newest_update"],
            "quarantined": r["quarantined"],
            "details_pending": r["details_pending"],  # None: the table has no details
        }
        for r in rows
    }


def _id_of(record: Any) -> int | None:
    try:
        return int(str(record.get("id")).strip())
    except (AttributeError, TypeError, ValueError):
        return None
