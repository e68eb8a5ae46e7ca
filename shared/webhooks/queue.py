"""The coordinator's durable queue of Keap hook events, drained by the alarm.

An event is stored once (its dedup key is unique) and stays queued until it is applied:
batches of one stream and action, oldest first, go to an `Applier` (one Keap request and
one Postgres statement per batch). A batch that fails as a whole (Keap or Postgres down)
stays queued and the queue backs off exponentially, for as long as it takes.

One record never holds up the rest. An id whose request Keap refuses outright (a 4xx) is
found by halving the refused batch; a record Postgres refuses is found by the store. Such
an id waits on its own (its own backoff) while every other event goes on, and after
`refused_attempts` tries it is given up: quarantined through the applier, recorded with
its reason, and counted. Ids Keap no longer has are dropped, with that reason. Applied
events are kept for a while so that a delivery Keap repeats is recognised.
"""

from __future__ import annotations

import json
import logging
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, Field

from shared.platform.interfaces import SqlStorage
from shared.rpc.methods import QueuedEvent
from shared.timefmt import from_epoch

log = logging.getLogger("keap_sync.queue")

DROPPED_KEPT = 1000
PRUNE_ROWS = 2000


class QueuePolicy(BaseModel):
    """How the queue drains and backs off. Stored in the coordinator; see `configure`."""

    model_config = ConfigDict(extra="forbid")

    batch_size: int = Field(250, ge=1, le=1000)
    batches_per_alarm: int = Field(1, ge=1, le=100)
    alarm_budget_s: float = Field(5.0, gt=0, le=60)
    retry_base_s: float = Field(2.0, gt=0, le=3600)
    retry_max_s: float = Field(300.0, gt=0, le=86400)
    dedup_retention_s: float = Field(3 * 86400.0, ge=0)
    refused_attempts: int = Field(5, ge=1, le=100)

    def backoff(self, failures: int) -> float:
        """Seconds to wait after the `failures`-th failure in a row."""
        return min(self.retry_max_s, self.retry_base_s * 2 ** min(failures - 1, 30))


class BatchRefused(Exception):
    """Keap refused the batch's request itself (not an outage): as is, it cannot succeed."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass
class Applied:
    """What became of a batch the applier took."""

    missing: set[int] = field(default_factory=set)  # ids Keap no longer has: dropped
    refused: dict[int, str] = field(default_factory=dict)  # id -> why it could not be applied


@dataclass(frozen=True)
class Batch:
    stream: str
    action: str
    seqs: list[int]
    ids: list[int]  # distinct, in queue order

    @property
    def seq_array(self) -> str:
        """The batch's events as one SQL parameter: `seq IN (SELECT value FROM json_each(?))`."""
        return json.dumps(self.seqs)


class Applier(Protocol):
    def batch_limit(self, stream: str, action: str) -> int:
        """The most ids one batch of `stream` and `action` may carry."""
        ...

    async def __call__(self, stream: str, action: str, ids: list[int]) -> Applied:
        """Apply a batch. Raises `BatchRefused` when Keap refuses the request, anything
        else on an outage (then nothing of the batch counts as done)."""
        ...

    async def quarantine(self, stream: str, reasons: dict[int, str]) -> None:
        """Keep ids given up on where the sync's refused records go."""
        ...


class EventQueue:
    def __init__(self, sql: SqlStorage, clock: Callable[[], float] = time.time) -> None:
        self.sql = sql
        self.clock = clock  # epoch seconds; tests move it instead of sleeping

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

    def _count(self, **counts: int) -> None:
        """Add to the running totals (one statement for all of them)."""
        if any(counts.values()):
            self.sql.exec(
                "INSERT INTO hook_queue_stats (name, value) SELECT key, value "
                "FROM json_each(?) WHERE value > 0 "
                "ON CONFLICT(name) DO UPDATE SET value = value + excluded.value",
                json.dumps(counts),
            )

    # --- enqueue ------------------------------------------------------------------------
    def enqueue(self, events: list[dict[str, Any]]) -> dict[str, Any]:
        """Store new events in one statement; repeats of known events are not stored."""
        parsed = [QueuedEvent.model_validate(e).model_dump() for e in events]

        def insert() -> int:
            # `WHERE true`: SQLite's upsert after a SELECT needs it to parse.
            rows = self.sql.exec(
                "INSERT INTO hook_events (dedup_key, event_key, stream, action, object_id, "
                "occurred_at, received_at) SELECT json_extract(value, '$.key'), "
                "json_extract(value, '$.event_key'), json_extract(value, '$.stream'), "
                "json_extract(value, '$.action'), json_extract(value, '$.id'), "
                "json_extract(value, '$.ts'), ? "
                "FROM json_each(?) WHERE true ON CONFLICT(dedup_key) DO NOTHING RETURNING seq",
                self.clock(),
                json.dumps(parsed),
            )
            self._count(received=len(rows), duplicates=len(parsed) - len(rows))
            return len(rows)

        accepted = self.sql.transaction(insert)
        return {"accepted": accepted, "duplicates": len(parsed) - accepted}

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
        waiting = self.sql.exec(
            "SELECT COUNT(*) AS n FROM hook_events WHERE done_at IS NULL AND retry_at > ?",
            self.clock(),
        )
        return {
            "depth": self.depth(),
            "oldest_age_s": None if oldest is None else round(self.clock() - oldest, 3),
            "failures": state["failures"],
            "retry_at": from_epoch(state["retry_at"]),
            "refused_waiting": int(waiting[0]["n"]),  # refused ids waiting for another try
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
            "last_error_at": from_epoch(state["last_error_at"]),
            "last_drain_at": from_epoch(state["last_drain_at"]),
            "totals": {
                name: int(stats.get(name, 0))
                for name in (
                    "received",
                    "duplicates",
                    "applied",
                    "deleted",
                    "dropped",
                    "quarantined",
                )
            },
            "recently_dropped": [{**r, "dropped_at": from_epoch(r["dropped_at"])} for r in dropped],
            "policy": self.policy.model_dump(),
        }

    def next_due(self) -> float | None:
        """When the alarm should next drain (epoch seconds), or None with nothing queued."""
        rows = self.sql.exec(
            "SELECT MIN(COALESCE(retry_at, 0)) AS due FROM hook_events WHERE done_at IS NULL"
        )
        if rows[0]["due"] is None:
            return None
        retry_at = self._state()["retry_at"]
        return max(self.clock(), retry_at or 0.0, float(rows[0]["due"]))

    # --- draining -----------------------------------------------------------------------
    def next_batch(self, size: int, limit: Callable[[str, str], int]) -> Batch | None:
        """The oldest ready event's stream and action, with up to `size` distinct ids
        (fewer if `limit(stream, action)` says so). Refused events waiting for their own
        retry time are not ready."""
        now = self.clock()
        head = self.sql.exec(
            "SELECT stream, action FROM hook_events WHERE done_at IS NULL "
            "AND (retry_at IS NULL OR retry_at <= ?) ORDER BY seq LIMIT 1",
            now,
        )
        if not head:
            return None
        stream, action = head[0]["stream"], head[0]["action"]
        size = max(1, min(size, limit(stream, action)))
        rows = self.sql.exec(
            "SELECT seq, object_id FROM hook_events WHERE done_at IS NULL AND stream = ? "
            "AND action = ? AND (retry_at IS NULL OR retry_at <= ?) ORDER BY seq LIMIT ?",
            stream,
            action,
            now,
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
        if state["retry_at"] is not None and state["retry_at"] > self.clock():
            return 0
        started = time.monotonic()
        done = 0
        for _ in range(policy.batches_per_alarm):
            batch = self.next_batch(policy.batch_size, apply.batch_limit)
            if batch is None:
                break
            outcome = Applied()
            try:
                await self._apply(apply, batch, batch.ids, outcome)
            except Exception as exc:  # an outage: keep the events, back off, try again
                self._failed(batch, exc, policy)
                return done
            done += await self._completed(apply, batch, outcome, policy)
            if time.monotonic() - started > policy.alarm_budget_s:
                break
        self._prune(policy)
        return done

    async def _apply(self, apply: Applier, batch: Batch, ids: list[int], outcome: Applied) -> None:
        """`apply` the ids, collecting what became of them in `outcome`; a refused request
        is halved until the refused ids are found."""
        try:
            applied = await apply(batch.stream, batch.action, ids)
        except BatchRefused as exc:
            if len(ids) == 1:
                outcome.refused[ids[0]] = exc.reason[:200]
                return
        else:
            outcome.missing |= applied.missing
            outcome.refused.update({i: r[:200] for i, r in applied.refused.items()})
            return
        half = len(ids) // 2
        await self._apply(apply, batch, ids[:half], outcome)
        await self._apply(apply, batch, ids[half:], outcome)

    async def _given_up(
        self, apply: Applier, batch: Batch, refused: dict[int, str], policy: QueuePolicy
    ) -> dict[int, str]:
        """The refused ids out of tries, once the applier has quarantined them."""
        if not refused:
            return {}
        rows = self.sql.exec(
            "SELECT object_id, MAX(refusals) AS refusals FROM hook_events "
            "WHERE seq IN (SELECT value FROM json_each(?)) GROUP BY object_id",
            batch.seq_array,
        )
        tries = {int(r["object_id"]): int(r["refusals"]) + 1 for r in rows}
        out = {i: why for i, why in refused.items() if tries.get(i, 1) >= policy.refused_attempts}
        if not out:
            return {}
        try:
            await apply.quarantine(batch.stream, out)
        except Exception as exc:  # kept queued: given up on once the quarantine takes them
            log.warning(
                "hook queue: could not quarantine %s ids: %s", batch.stream, type(exc).__name__
            )
            return {}
        return out

    async def _completed(
        self, apply: Applier, batch: Batch, outcome: Applied, policy: QueuePolicy
    ) -> int:
        """Mark the batch's events done, except refused ones with tries left (they wait
        on their own backoff). The number of events done."""
        now = self.clock()
        missing = set(outcome.missing)
        refused = {i: why for i, why in outcome.refused.items() if i not in missing}
        given_up = await self._given_up(apply, batch, refused, policy)
        waiting = [i for i in refused if i not in given_up]

        def write() -> int:
            for object_id in waiting:
                self._retry_later(batch, object_id, policy, now)
            outcomes = self._mark_done(batch, missing, given_up, waiting, now)
            self._keep_dropped(batch, given_up, now)
            self._count(**Counter(outcomes))
            self._answered(batch, refused, now)
            return len(outcomes)

        done = self.sql.transaction(write)
        _log_outcome(batch, missing, waiting, given_up)
        return done

    def _retry_later(self, batch: Batch, object_id: int, policy: QueuePolicy, now: float) -> None:
        """Count one more refusal of `object_id`; its events wait as long as that calls for."""
        rows = self.sql.exec(
            "UPDATE hook_events SET refusals = refusals + 1 WHERE object_id = ? "
            "AND seq IN (SELECT value FROM json_each(?)) RETURNING refusals",
            object_id,
            batch.seq_array,
        )
        wait = policy.backoff(max((int(r["refusals"]) for r in rows), default=1))
        self.sql.exec(
            "UPDATE hook_events SET retry_at = ? WHERE object_id = ? "
            "AND seq IN (SELECT value FROM json_each(?))",
            now + wait,
            object_id,
            batch.seq_array,
        )

    def _mark_done(
        self,
        batch: Batch,
        missing: set[int],
        given_up: dict[int, str],
        waiting: list[int],
        now: float,
    ) -> list[str]:
        """Mark the batch's events done but the `waiting` ones; the outcome of each:
        `dropped` (not in Keap), `quarantined` (given up) or `applied`/`deleted`."""
        kind = "deleted" if batch.action == "delete" else "applied"
        rows = self.sql.exec(
            "UPDATE hook_events SET done_at = ?, retry_at = NULL, outcome = CASE "
            "WHEN object_id IN (SELECT value FROM json_each(?)) THEN 'dropped' "
            "WHEN object_id IN (SELECT value FROM json_each(?)) THEN 'quarantined' "
            "ELSE ? END WHERE seq IN (SELECT value FROM json_each(?)) "
            "AND object_id NOT IN (SELECT value FROM json_each(?)) RETURNING outcome",
            now,
            json.dumps(sorted(missing)),
            json.dumps(list(given_up)),
            kind,
            batch.seq_array,
            json.dumps(waiting),
        )
        return [str(r["outcome"]) for r in rows]

    def _keep_dropped(self, batch: Batch, given_up: dict[int, str], now: float) -> None:
        """Record why each of the batch's dropped and quarantined events went unapplied."""
        self.sql.exec(
            "INSERT INTO hook_dropped (event_key, stream, object_id, reason, dropped_at) "
            "SELECT event_key, stream, object_id, CASE outcome WHEN 'dropped' THEN "
            "'not_in_keap' ELSE 'refused: ' || (SELECT value FROM json_each(?) "
            "WHERE key = CAST(object_id AS TEXT)) END, ? FROM hook_events "
            "WHERE seq IN (SELECT value FROM json_each(?)) AND outcome IN "
            "('dropped', 'quarantined')",
            json.dumps({str(k): v for k, v in given_up.items()}),
            now,
            batch.seq_array,
        )

    def _answered(self, batch: Batch, refused: dict[int, str], now: float) -> None:
        """The batch was answered: whatever failed before is over; refused ids, if any,
        are the last error."""
        self.sql.exec(
            "UPDATE hook_queue_state SET failures = 0, retry_at = NULL, "
            "last_drain_at = ? WHERE id = 1",
            now,
        )
        if refused:
            reason = next(iter(refused.values()))[:120]
            self.sql.exec(
                "UPDATE hook_queue_state SET last_error = ?, last_error_at = ? WHERE id = 1",
                f"{batch.stream} {batch.action}: {len(refused)} id(s) refused ({reason})",
                now,
            )

    def _failed(self, batch: Batch, exc: Exception, policy: QueuePolicy) -> None:
        # The type and the safe part only: driver messages can carry connection strings.
        error = f"{batch.stream} {batch.action}: {type(exc).__name__}"
        code = getattr(exc, "code", None)
        if isinstance(code, str):
            error += f" ({code[:80]})"
        self.sql.exec(
            "UPDATE hook_events SET attempts = attempts + 1 "
            "WHERE seq IN (SELECT value FROM json_each(?))",
            batch.seq_array,
        )
        self._back_off(error, policy)

    def _back_off(self, error: str, policy: QueuePolicy) -> None:
        state = self._state()
        failures = int(state["failures"]) + 1
        delay = policy.backoff(failures)
        now = self.clock()
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
            self.clock() - policy.dedup_retention_s,
            PRUNE_ROWS,
        )
        self.sql.exec(
            "DELETE FROM hook_dropped WHERE id <= (SELECT MAX(id) FROM hook_dropped) - ?",
            DROPPED_KEPT,
        )


def _log_outcome(
    batch: Batch, missing: set[int], waiting: list[int], given_up: dict[int, str]
) -> None:
    if missing:
        log.info("dropped %d %s ids Keap no longer has", len(missing), batch.stream)
    if waiting:
        log.warning("hook queue: %d %s ids refused, retried later", len(waiting), batch.stream)
    if given_up:
        log.warning("hook queue: quarantined %d %s ids: %s", len(given_up), batch.stream, given_up)
