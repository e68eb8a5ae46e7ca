"""Sync state in the coordinator: stream cursors, the run lease and run history."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from shared.platform.interfaces import SqlStorage
from shared.platform.wire import CoordinatorError
from shared.rpc.dispatch import handles
from shared.rpc.methods import (
    ACQUIRE_LEASE,
    CHECKPOINT,
    FINISH_RUN,
    GET_STREAM_STATES,
    RELEASE_LEASE,
    RENEW_LEASE,
    RESET_STREAM,
    RUNS,
    START_RUN,
    Checkpoint,
    Lease,
    LeaseRequest,
    RunEnd,
    RunRef,
    RunsQuery,
    RunStart,
    StreamRef,
)
from shared.timefmt import from_epoch as iso

RUN_HISTORY_KEPT = 200
INTERRUPTED = "the run stopped without finishing: its lease lapsed (the process ended)"


class SyncState:
    def __init__(self, sql: SqlStorage, clock: Callable[[], float] = time.time) -> None:
        self.sql = sql
        self.clock = clock

    # --- lease ----------------------------------------------------------------------
    def _lease(self) -> dict[str, Any] | None:
        rows = self.sql.exec("SELECT * FROM lease WHERE id = 1")
        return rows[0] if rows else None

    def _live_holder(self) -> str | None:
        lease = self._lease()
        return lease["run_id"] if lease and lease["expires_at"] > self.clock() else None

    def _mark_interrupted(self) -> None:
        """Runs still `running` without a live lease ended with their process: `interrupted`,
        finished when their lease lapsed (or now, if it was taken over since)."""
        lease = self._lease()
        holder = self._live_holder()
        lapsed_at = lease["expires_at"] if lease and holder is None else self.clock()
        self.sql.exec(
            "UPDATE runs SET status = 'interrupted', finished_at = "
            "CASE WHEN run_id = ? THEN ? ELSE ? END, errors = ? "
            "WHERE status = 'running' AND run_id IS NOT ?",
            lease["run_id"] if lease else None,
            lapsed_at,
            self.clock(),
            json.dumps([INTERRUPTED]),
            holder,
        )

    @handles(ACQUIRE_LEASE)
    def acquire_lease(self, request: LeaseRequest) -> Lease:
        """Take the lease unless another live run holds it; a lapsed lease is free (and the
        run that held it is recorded as interrupted)."""
        run_id, ttl_s = request.run_id, request.ttl_s
        now = self.clock()
        lease = self._lease()
        if lease and lease["run_id"] != run_id and lease["expires_at"] > now:
            return Lease(acquired=False, holder=lease["run_id"], expires_at=lease["expires_at"])
        self._mark_interrupted()
        self.sql.exec(
            "INSERT INTO lease (id, run_id, acquired_at, expires_at, ttl_s) VALUES (1, ?, ?, ?, ?) "
            "ON CONFLICT(id) DO UPDATE SET run_id = excluded.run_id, "
            "acquired_at = excluded.acquired_at, expires_at = excluded.expires_at, "
            "ttl_s = excluded.ttl_s",
            run_id,
            now,
            now + ttl_s,
            ttl_s,
        )
        return Lease(acquired=True, holder=run_id, expires_at=now + ttl_s)

    def _require_lease(self, run_id: str) -> dict[str, Any]:
        lease = self._lease()
        if lease is None or lease["run_id"] != run_id or lease["expires_at"] <= self.clock():
            raise CoordinatorError("lease_lost", f"run {run_id} does not hold the sync lease", 409)
        return lease

    @handles(RENEW_LEASE)
    def renew_lease(self, request: LeaseRequest) -> Lease:
        self._require_lease(request.run_id)
        expires = self.clock() + request.ttl_s
        self.sql.exec(
            "UPDATE lease SET expires_at = ?, ttl_s = ? WHERE id = 1", expires, request.ttl_s
        )
        return Lease(acquired=True, holder=request.run_id, expires_at=expires)

    @handles(RELEASE_LEASE)
    def release_lease(self, run: RunRef) -> None:
        self.sql.exec("DELETE FROM lease WHERE id = 1 AND run_id = ?", run.run_id)

    # --- stream state -----------------------------------------------------------------
    @handles(GET_STREAM_STATES)
    def stream_states(self) -> dict[str, dict[str, Any]]:
        """Stream name -> the state last checkpointed for it."""
        rows = self.sql.exec("SELECT stream, state FROM stream_state")
        return {row["stream"]: json.loads(row["state"]) for row in rows}

    @handles(CHECKPOINT)
    def checkpoint(self, checkpoint: Checkpoint) -> None:
        """Store a stream's state for the lease holder; a checkpoint also extends the lease."""
        run_id = checkpoint.run_id
        lease = self._require_lease(run_id)
        now = self.clock()

        def write() -> None:
            self.sql.exec(
                "INSERT INTO stream_state (stream, state, run_id, updated_at) VALUES (?, ?, ?, ?) "
                "ON CONFLICT(stream) DO UPDATE SET state = excluded.state, "
                "run_id = excluded.run_id, updated_at = excluded.updated_at",
                checkpoint.stream,
                json.dumps(checkpoint.state),
                run_id,
                now,
            )
            self.sql.exec(
                "UPDATE runs SET pages = pages + ?, records = records + ? WHERE run_id = ?",
                checkpoint.pages,
                checkpoint.records,
                run_id,
            )
            self.sql.exec("UPDATE lease SET expires_at = ? WHERE id = 1", now + lease["ttl_s"])

        self.sql.transaction(write)

    @handles(RESET_STREAM)
    def reset_stream(self, stream: StreamRef) -> None:
        """Forget a stream's state so the next run starts it from the beginning."""
        self.sql.exec("DELETE FROM stream_state WHERE stream = ?", stream.stream)

    # --- runs ---------------------------------------------------------------------------
    @handles(START_RUN)
    def start_run(self, run: RunStart) -> None:
        self.sql.exec(
            "INSERT INTO runs (run_id, kind, streams, started_at, status) "
            "VALUES (?, ?, ?, ?, 'running') "
            "ON CONFLICT(run_id) DO NOTHING",
            run.run_id,
            run.kind,
            json.dumps(run.streams),
            self.clock(),
        )
        self.sql.exec(
            "DELETE FROM runs WHERE run_id NOT IN "
            "(SELECT run_id FROM runs ORDER BY started_at DESC LIMIT ?)",
            RUN_HISTORY_KEPT,
        )

    @handles(FINISH_RUN)
    def finish_run(self, run: RunEnd) -> None:
        self.sql.exec(
            "UPDATE runs SET finished_at = ?, status = ?, errors = ?, stats = ? WHERE run_id = ?",
            self.clock(),
            run.status,
            json.dumps(run.errors[:50]),
            json.dumps(run.stats),
            run.run_id,
        )

    @handles(RUNS)
    def runs(self, query: RunsQuery) -> list[dict[str, Any]]:
        """The last runs, newest first."""
        self._mark_interrupted()
        rows = self.sql.exec("SELECT * FROM runs ORDER BY started_at DESC LIMIT ?", query.limit)
        return [
            {
                "run_id": r["run_id"],
                "kind": r["kind"],
                "streams": json.loads(r["streams"]),
                "started_at": iso(r["started_at"]),
                "finished_at": iso(r["finished_at"]),
                "status": r["status"],
                "pages": r["pages"],
                "records": r["records"],
                "errors": json.loads(r["errors"]),
                "stats": json.loads(r["stats"]),
            }
            for r in rows
        ]

    def lease_status(self) -> dict[str, Any] | None:
        lease = self._lease()
        if lease is None or lease["expires_at"] <= self.clock():
            return None
        return {"run_id": lease["run_id"], "expires_at": iso(lease["expires_at"])}

    def stream_status(self) -> dict[str, Any]:
        rows = self.sql.exec("SELECT stream, state, run_id, updated_at FROM stream_state")
        return {
            r["stream"]: {
                "state": json.loads(r["state"]),
                "run_id": r["run_id"],
                "checkpointed_at": iso(r["updated_at"]),
            }
            for r in rows
        }
