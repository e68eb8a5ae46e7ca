"""Sync state in the coordinator: stream cursors, the run lease and run history."""

from __future__ import annotations

import json
import time
from typing import Any

from shared.platform.interfaces import SqlStorage
from shared.platform.wire import CoordinatorError
from shared.timefmt import from_epoch as iso

RUN_HISTORY_KEPT = 200


class SyncState:
    def __init__(self, sql: SqlStorage) -> None:
        self.sql = sql

    # --- lease ----------------------------------------------------------------------
    def _lease(self) -> dict[str, Any] | None:
        rows = self.sql.exec("SELECT * FROM lease WHERE id = 1")
        return rows[0] if rows else None

    def acquire_lease(self, run_id: str, ttl_s: float) -> dict[str, Any]:
        """Take the lease unless another live run holds it; an expired lease is free."""
        now = time.time()
        lease = self._lease()
        if lease and lease["run_id"] != run_id and lease["expires_at"] > now:
            return {"acquired": False, "holder": lease["run_id"], "expires_at": lease["expires_at"]}
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
        return {"acquired": True, "holder": run_id, "expires_at": now + ttl_s}

    def _require_lease(self, run_id: str) -> dict[str, Any]:
        lease = self._lease()
        if lease is None or lease["run_id"] != run_id or lease["expires_at"] <= time.time():
            raise CoordinatorError("lease_lost", f"run {run_id} does not hold the sync lease", 409)
        return lease

    def renew_lease(self, run_id: str, ttl_s: float) -> dict[str, Any]:
        self._require_lease(run_id)
        expires = time.time() + ttl_s
        self.sql.exec("UPDATE lease SET expires_at = ?, ttl_s = ? WHERE id = 1", expires, ttl_s)
        return {"acquired": True, "holder": run_id, "expires_at": expires}

    def release_lease(self, run_id: str) -> None:
        self.sql.exec("DELETE FROM lease WHERE id = 1 AND run_id = ?", run_id)

    # --- stream state -----------------------------------------------------------------
    def stream_states(self) -> dict[str, dict[str, Any]]:
        rows = self.sql.exec("SELECT stream, state FROM stream_state")
        return {row["stream"]: json.loads(row["state"]) for row in rows}

    def checkpoint(
        self, run_id: str, stream: str, state: dict[str, Any], pages: int, records: int
    ) -> None:
        """Store a stream's state for the lease holder; a checkpoint also extends the lease."""
        lease = self._require_lease(run_id)
        now = time.time()

        def write() -> None:
            self.sql.exec(
                "INSERT INTO stream_state (stream, state, run_id, updated_at) VALUES (?, ?, ?, ?) "
                "ON CONFLICT(stream) DO UPDATE SET state = excluded.state, "
                "run_id = excluded.run_id, updated_at = excluded.updated_at",
                stream,
                json.dumps(state),
                run_id,
                now,
            )
            self.sql.exec(
                "UPDATE runs SET pages = pages + ?, records = records + ? WHERE run_id = ?",
                pages,
                records,
                run_id,
            )
            self.sql.exec("UPDATE lease SET expires_at = ? WHERE id = 1", now + lease["ttl_s"])

        self.sql.transaction(write)

    def reset_stream(self, stream: str) -> None:
        self.sql.exec("DELETE FROM stream_state WHERE stream = ?", stream)

    # --- runs ---------------------------------------------------------------------------
    def start_run(self, run_id: str, kind: str, streams: list[str]) -> None:
        self.sql.exec(
            "INSERT INTO runs (run_id, kind, streams, started_at, status) "
            "VALUES (?, ?, ?, ?, 'running') "
            "ON CONFLICT(run_id) DO NOTHING",
            run_id,
            kind,
            json.dumps(streams),
            time.time(),
        )
        self.sql.exec(
            "DELETE FROM runs WHERE run_id NOT IN "
            "(SELECT run_id FROM runs ORDER BY started_at DESC LIMIT ?)",
            RUN_HISTORY_KEPT,
        )

    def finish_run(
        self, run_id: str, status: str, errors: list[str], stats: dict[str, Any]
    ) -> None:
        self.sql.exec(
            "UPDATE runs SET finished_at = ?, status = ?, errors = ?, stats = ? WHERE run_id = ?",
            time.time(),
            status,
            json.dumps(errors[:50]),
            json.dumps(stats),
            run_id,
        )

    def runs(self, limit: int) -> list[dict[str, Any]]:
        rows = self.sql.exec(
            "SELECT * FROM runs ORDER BY started_at DESC LIMIT ?", max(1, min(limit, 200))
        )
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
        if lease is None or lease["expires_at"] <= time.time():
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
