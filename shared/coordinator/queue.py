"""The coordinator's durable queue of Keap hook events, drained by the alarm.

An event is stored once (its dedup key is unique) and stays queued until it is applied:
batches of one stream and action, oldest first, go to an `Applier` (one Keap request and
one Postgres statement per batch). A failed batch stays queued and the queue backs off
exponentially; ids Keap no longer has are recorded as dropped instead of retried. Applied
events are kept for a while so that a delivery Keap repeats is recognised.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, Field

from shared.coordinator.tokens import iso
from shared.platform.interfaces import SqlStorage

log = logging.getLogger("keap_sync.queue")

DROPPED_KEPT = 1000
PRUNE_ROWS = 2000


class QueuePolicy(BaseModel):
    """How the queue drains and backs off. Stored in the coordinator; see `configure`."""

    model_config = ConfigDict(extra="forbid")

    batch_size: int = Field(250, ge=1, le=1000)
    batches_per_alarm: int = Field(4, ge=1, le=100)
    alarm_budget_s: float = Field(5.0, gt=0, le=60)
    retry_base_s: float = Field(2.0, gt=0, le=3600)
    retry_max_s: float = Field(300.0, gt=0, le=86400)
    dedup_retention_s: float = Field(3 * 86400, ge=0)

    def backoff(self, failures: int) -> float:
        """Seconds to wait after the `failures`-th failure in a row."""
        return min(self.retry_max_s, self.retry_base_s * 2 ** min(failures - 1, 30))


class QueuedEvent(BaseModel):
    """One event as the webhook handler hands it over."""

    key: str = Field(min_length=1, max_length=300)  # event key | object id | timestamp
    event_key: str = Field(min_length=1, max_length=100)
    stream: str = Field(min_length=1, max_length=40)
    action: str = Field(pattern="^(upsert|delete)$")
    id: int = Field(gt=0)
    ts: str = Field(max_length=64)


@dataclass(frozen=True)
class Batch:
    stream: str
    action: str
    seqs: list[int]
    ids: list[int]  # distinct, in queue order


class Applier(Protocol):
    async def __call__(self, stream: str, action: str, ids: list[int]) -> set[int]:
        """Apply a batch; return the ids Keap no longer has (dropped, not retried)."""
        ...


class EventQueue:
    def __init__(self, sql: SqlStorage) -> None:
        self.sql = sql

    # --- policy and state ---------------------------------------------------------------
    def _state(self) -> dict[str, Any]:
        rows = self.sql.exec("SELECT * FROM hook_queue_state WHERE id = 1")
        if rows:
            return rows[0]
        self.sql.exec("INSERT INTO hook_queue_state (id, failures) VALUES (1, 0)")
        return self.sql.exec("SELECT * FROM hook_queue_state WHERE id = 1")[0]

    @property
    def policy(self) -> QueuePolicy:
        stored = self._state()["policy"]
        return QueuePolicy.model_validate_json(stored) if stored else QueuePolicy()

    def configure(self, **changes: Any) -> dict[str, Any]:
        """Change the drain and backoff settings (kept across restarts); the result."""
        policy = QueuePolicy.model_validate({**self.policy.model_dump(), **changes})
        self._state()
        self.sql.exec(
            "UPDATE hook_queue_state SET policy = ?, retry_at = NULL WHERE id = 1",
            policy.model_dump_json(),
        )
        return policy.model_dump()

    def _count(self, name: str, n: int) -> None:
        if n:
            self.sql.exec(
                "INSERT INTO hook_queue_stats (name, value) VALUES (?, ?) "
                "ON CONFLICT(name) DO UPDATE SET value = value + excluded.value",
                name,
                n,
            )

    # --- enqueue ------------------------------------------------------------------------
    def enqueue(self, events: list[dict[str, Any]]) -> dict[str, Any]:
        """Store new events in one transaction; repeats of known events are not stored."""
        parsed = [QueuedEvent.model_validate(e) for e in events]
        now = time.time()

        def insert() -> int:
            accepted = 0
            for e in parsed:
                rows = self.sql.exec(
                    "INSERT INTO hook_events (dedup_key, event_key, stream, action, object_id, "
                    "occurred_at, received_at) VALUES (?, ?, ?, ?, ?, ?, ?) "
                    "ON CONFLICT(dedup_key) DO NOTHING RETURNING seq",
                    e.key,
                    e.event_key,
                    e.stream,
                    e.action,
                    e.id,
                    e.ts,
                    now,
                )
                accepted += len(rows)
            self._count("received", accepted)
            self._count("duplicates", len(parsed) - accepted)
            return accepted

        accepted = self.sql.transaction(insert)
        return {"accepted": accepted, "duplicates": len(parsed) - accepted, "depth": self.depth()}

    # --- reading ------------------------------------------------------------------------
    def depth(self) -> int:
        rows = self.sql.exec("SELECT COUNT(*) AS n FROM hook_events WHERE done_at IS NULL")
        return int(rows[0]["n"])

    def oldest_received_at(self) -> float | None:
        rows = self.sql.exec(
            "SELECT received_at FROM hook_events WHERE done_at IS NULL ORDER BY seq LIMIT 1"
        )
        return float(rows[0]["received_at"]) if rows else None

    def summary(self) -> dict[str, Any]:
        """Depth and age, small enough for every health check."""
        oldest = self.oldest_received_at()
        state = self._state()
        return {
            "depth": self.depth(),
            "oldest_age_s": None if oldest is None else round(time.time() - oldest, 3),
            "failures": state["failures"],
            "retry_at": iso(state["retry_at"]),
        }

    def status(self) -> dict[str, Any]:
        """Everything an operator wants to see about the queue."""
        state = self._state()
        by_stream = self.sql.exec(
            "SELECT stream, action, COUNT(*) AS n, MAX(attempts) AS attempts FROM hook_events "
            "WHERE done_at IS NULL GROUP BY stream, action ORDER BY stream, action"
        )
        stats = {r["name"]: r["value"] for r in self.sql.exec("SELECT * FROM hook_queue_stats")}
        dropped = self.sql.exec(
            "SELECT event_key, stream, object_id, reason, dropped_at FROM hook_dropped "
            "ORDER BY id DESC LIMIT 20"
        )
        return {
            **self.summary(),
            "queued": [{k: r[k] for k in ("stream", "action", "n", "attempts")} for r in by_stream],
            "last_error": state["last_error"],
            "last_error_at": iso(state["last_error_at"]),
            "last_drain_at": iso(state["last_drain_at"]),
            "totals": {
                name: int(stats.get(name, 0))
                for name in ("received", "duplicates", "applied", "deleted", "dropped")
            },
            "recently_dropped": [{**r, "dropped_at": iso(r["dropped_at"])} for r in dropped],
            "policy": self.policy.model_dump(),
        }

    def next_due(self) -> float | None:
        """When the alarm should next drain (epoch seconds), or None with nothing queued."""
        if not self.sql.exec("SELECT 1 FROM hook_events WHERE done_at IS NULL LIMIT 1"):
            return None
        retry_at = self._state()["retry_at"]
        return max(time.time(), retry_at or 0.0)

    # --- draining -----------------------------------------------------------------------
    def next_batch(self, size: int) -> Batch | None:
        """The oldest queued event's stream and action, with up to `size` distinct ids."""
        head = self.sql.exec(
            "SELECT stream, action FROM hook_events WHERE done_at IS NULL ORDER BY seq LIMIT 1"
        )
        if not head:
            return None
        stream, action = head[0]["stream"], head[0]["action"]
        rows = self.sql.exec(
            "SELECT seq, object_id FROM hook_events WHERE done_at IS NULL AND stream = ? "
            "AND action = ? ORDER BY seq LIMIT ?",
            stream,
            action,
            size * 4,
        )
        ids: list[int] = []
        seen: set[int] = set()
        seqs: list[int] = []
        for row in rows:
            object_id = int(row["object_id"])
            if object_id not in seen:
                if len(ids) == size:
                    continue
                seen.add(object_id)
                ids.append(object_id)
            seqs.append(int(row["seq"]))
        return Batch(stream, action, seqs, ids)

    async def drain(self, apply: Applier) -> int:
        """Apply up to the policy's number of batches; the number of events done.

        Never raises for a failed batch: the events stay queued and the queue backs off,
        so `next_due` re-arms the alarm at the retry time.
        """
        policy = self.policy
        state = self._state()
        if state["retry_at"] is not None and state["retry_at"] > time.time():
            return 0
        started = time.monotonic()
        done = 0
        for _ in range(policy.batches_per_alarm):
            batch = self.next_batch(policy.batch_size)
            if batch is None:
                break
            try:
                missing = await apply(batch.stream, batch.action, batch.ids)
            except Exception as exc:  # any failure: keep the events, back off, try again
                self._failed(batch, exc, policy)
                return done
            done += self._completed(batch, missing)
            if time.monotonic() - started > policy.alarm_budget_s:
                break
        self._prune(policy)
        return done

    def _seq_list(self, seqs: list[int]) -> str:
        return json.dumps(seqs)

    def _completed(self, batch: Batch, missing: set[int]) -> int:
        now = time.time()
        outcome = "deleted" if batch.action == "delete" else "applied"

        def write() -> None:
            self.sql.exec(
                "UPDATE hook_events SET done_at = ?, outcome = CASE WHEN object_id IN "
                "(SELECT value FROM json_each(?)) THEN 'dropped' ELSE ? END "
                "WHERE seq IN (SELECT value FROM json_each(?))",
                now,
                json.dumps(sorted(missing)),
                outcome,
                self._seq_list(batch.seqs),
            )
            dropped = self.sql.exec(
                "INSERT INTO hook_dropped (event_key, stream, object_id, reason, dropped_at) "
                "SELECT event_key, stream, object_id, 'not_in_keap', ? FROM hook_events "
                "WHERE seq IN (SELECT value FROM json_each(?)) AND outcome = 'dropped' "
                "RETURNING id",
                now,
                self._seq_list(batch.seqs),
            )
            self._count("dropped", len(dropped))
            self._count(outcome, len(batch.seqs) - len(dropped))
            self.sql.exec(
                "UPDATE hook_queue_state SET failures = 0, retry_at = NULL, last_drain_at = ? "
                "WHERE id = 1",
                now,
            )

        self.sql.transaction(write)
        if missing:
            log.info("dropped %d %s ids Keap no longer has", len(missing), batch.stream)
        return len(batch.seqs)

    def _failed(self, batch: Batch, exc: Exception, policy: QueuePolicy) -> None:
        state = self._state()
        failures = int(state["failures"]) + 1
        delay = policy.backoff(failures)
        now = time.time()
        # The type and the safe part only: driver messages can carry connection strings.
        error = f"{batch.stream} {batch.action}: {type(exc).__name__}"
        code = getattr(exc, "code", None)
        if isinstance(code, str):
            error += f" ({code[:80]})"
        self.sql.exec(
            "UPDATE hook_events SET attempts = attempts + 1 "
            "WHERE seq IN (SELECT value FROM json_each(?))",
            self._seq_list(batch.seqs),
        )
        self.sql.exec(
            "UPDATE hook_queue_state SET failures = ?, retry_at = ?, last_error = ?, "
            "last_error_at = ? WHERE id = 1",
            failures,
            now + delay,
            error,
            now,
        )
        log.warning("hook queue: %s; retry %d in %.1f s", error, failures, delay)

    def _prune(self, policy: QueuePolicy) -> None:
        """Forget applied events past the dedup window, a slice at a time."""
        self.sql.exec(
            "DELETE FROM hook_events WHERE seq IN (SELECT seq FROM hook_events "
            "WHERE done_at IS NOT NULL AND done_at < ? ORDER BY done_at LIMIT ?)",
            time.time() - policy.dedup_retention_s,
            PRUNE_ROWS,
        )
        self.sql.exec(
            "DELETE FROM hook_dropped WHERE id <= (SELECT MAX(id) FROM hook_dropped) - ?",
            DROPPED_KEPT,
        )
