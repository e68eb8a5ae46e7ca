"""`keap.sync_runs` and `keap.sync_state`: a run's progress, written as it goes.

A row in `sync_runs` when the run starts, its per-object counts and each object's
`sync_state` (cursor, last synced) at every checkpoint, and at the end the run's status
and error, each object's row counts and last error. Runs older than the retention
setting are deleted then. The run's own record is the coordinator's; these tables are
there to be read from SQL, so a failure to write them is logged and the run goes on.
The record tables counted at the end are kept (`RunJournal.table_counts`) for the status
built after the run, which then need not count them again.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Mapping
from typing import Any

from shared import timefmt
from shared.store import sql
from shared.store.store import Store, StoreError, table_counts

log = logging.getLogger("keap_sync.journal")

START_SQL = """
INSERT INTO keap.sync_runs (id, account, kind) VALUES ($1, $2, $3)
ON CONFLICT (id) DO NOTHING
"""

# One statement per checkpoint: the run's counts for the object and the object's state.
PROGRESS_SQL = """
WITH run AS (
    UPDATE keap.sync_runs SET counts = counts || jsonb_build_object($3::text, $4::jsonb)
    WHERE id = $1
)
INSERT INTO keap.sync_state AS s (account, object, cursor, last_synced_at, updated_at)
VALUES ($2, $3, $5, now(), now())
ON CONFLICT (account, object) DO UPDATE SET
    cursor = excluded.cursor, last_synced_at = now(), updated_at = now()
"""

FINISH_SQL = """
UPDATE keap.sync_runs
SET finished_at = now(), status = $2, counts = $3::jsonb, stop_reason = $4, error = $5
WHERE id = $1
"""

# An object the run reached: its rows now, its error (NULL when the run got through it).
# Its cursor is the one its last checkpoint stored.
OBJECT_SQL = """
INSERT INTO keap.sync_state AS s (account, object, rows, deleted_rows, last_error, updated_at)
VALUES ($1, $2, $3, $4, $5, now())
ON CONFLICT (account, object) DO UPDATE SET
    rows = excluded.rows,
    deleted_rows = excluded.deleted_rows,
    last_error = excluded.last_error,
    updated_at = now()
"""

RETENTION_SQL = "DELETE FROM keap.sync_runs WHERE started_at < now() - make_interval(days => $1)"


def _time(value: str | None) -> Any:
    return timefmt.parse(value) if value else None


class RunJournal:
    """Writes one run's progress for the store's account (see the module docstring).

    The start and each checkpoint are written in order behind the run's back, taking
    their turn at the connection between pages (the start opens it beside the run's first
    Keap request, as the first page would); the end waits for them."""

    def __init__(self, store: Store, retention_days: int) -> None:
        self.store = store
        self.account = store.account
        self.retention_days = retention_days
        self._last: asyncio.Future[None] | None = None
        # The reached objects' tables as the end counted them (`Store.counts`' shape);
        # None until then, or when that count failed.
        self.table_counts: dict[str, dict[str, Any]] | None = None

    async def started(self, run_id: str, kind: str) -> None:
        self._then(START_SQL, run_id, self.account, kind)

    async def checkpoint(
        self, run_id: str, obj: str, cursor: str | None, counts: Mapping[str, Any]
    ) -> None:
        self._then(PROGRESS_SQL, run_id, self.account, obj, json.dumps(counts), _time(cursor))

    async def finished(
        self,
        run_id: str,
        status: str,
        counts: Mapping[str, Mapping[str, Any]],
        stop_reason: str | None,
        error: str | None,
    ) -> None:
        """The run's outcome; each object's rows, cursor and error; old runs deleted."""
        await self._started()
        # Objects the run reached; one it did not finish carries the run's error if it has none.
        reached = {
            obj: c.get("error") or (error if c.get("status") != "complete" else None)
            for obj, c in counts.items()
            if c.get("status") != "pending"
        }
        try:
            async with self.store.statements_in_turn(3 + len(reached)) as conn:
                counted = sql.counts_sql(tuple(reached))
                rows = table_counts(await conn.fetch(counted, self.account) if reached else [])
                self.table_counts = rows
                async with conn.transaction():
                    await conn.execute(
                        FINISH_SQL, run_id, status, json.dumps(counts), stop_reason, error
                    )
                    for obj, last_error in reached.items():
                        table = rows.get(obj)
                        await conn.execute(
                            OBJECT_SQL,
                            self.account,
                            obj,
                            table["rows"] if table else None,
                            table["deleted"] if table else None,
                            last_error,
                        )
                    await conn.execute(RETENTION_SQL, self.retention_days)
        except StoreError as exc:
            log.warning("could not record the end of run %s in SQL: %s", run_id, exc.code)

    def _then(self, statement: str, *args: Any) -> None:
        """Write after what is already queued (failures logged, see the module docstring)."""
        self._last = asyncio.ensure_future(self._after(self._last, statement, args))

    async def _after(
        self, previous: asyncio.Future[None] | None, statement: str, args: tuple[Any, ...]
    ) -> None:
        if previous is not None:
            await previous
        try:
            async with self.store.statements_in_turn() as conn:
                await conn.execute(statement, *args)
        except StoreError as exc:
            log.warning("could not record the run's progress in SQL: %s", exc.code)

    async def _started(self) -> None:
        """Wait for the writes queued so far."""
        if self._last is not None:
            with contextlib.suppress(Exception):
                await self._last
