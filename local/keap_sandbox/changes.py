"""A deterministic stream of edits, creates and deletes, as a busy Keap account sees them.

Edits go through the same path as a PATCH (so they bump update times and raise hooks);
creates store a freshly generated record under a new id.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from typing import Any

from . import pools
from .errors import ApiError
from .records import Records

Record = dict[str, Any]
_WORDS = pools.WORDS


def _edit_for(kind: str, record: Record, rng: random.Random) -> Record:
    """A small, plausible change in the PATCH body vocabulary of the kind."""
    word = rng.choice(_WORDS)
    if kind == "contacts":
        changes: Record = {"job_title": f"{word.capitalize()} lead #{rng.randint(1, 999)}"}
        if rng.random() < 0.5:
            givens = rng.choice(pools.NAMES)[0]
            changes["given_name"] = rng.choice(givens)
        if rng.random() < 0.3:
            changes["custom_fields"] = [{"id": "1", "content": f"edited {word}"}]
        return changes
    if kind == "companies":
        return {"notes": f"Edited: {word}"}
    if kind == "opportunities":
        changes = {"opportunity_notes": f"Edited: {word}"}
        if rng.random() < 0.3:
            changes["stage_id"] = rng.choice(pools.STAGES)[0]
        return changes
    if kind == "orders":
        return {"notes": f"Edited: {word}"}
    if kind == "tasks":
        return {"description": f"Edited: {word}", "completed": not record.get("completed", False)}
    if kind == "products":
        return {"description": f"Edited: {word}"}
    if kind == "tags":
        return {"description": f"Edited: {word}"}
    if kind == "notes":
        user = (record.get("assigned_to_user") or {}).get("id", "1")
        return {"text": f"Edited: {word}", "user_id": user}
    if kind == "subscriptions":
        return {"billing_amount": round(rng.uniform(5, 500), 2)}
    raise ValueError(kind)


class ChangeMaker:
    """Makes changes on demand (`make`) or continuously in the background (`start`)."""

    def __init__(self, records: Records, seed: int) -> None:
        self.records = records
        self._rng = random.Random(seed ^ 0xC0FFEE)
        self._task: asyncio.Task[None] | None = None
        self.made = {"edits": 0, "creates": 0, "deletes": 0}

    def make(
        self, edits: int = 0, creates: int = 0, deletes: int = 0, kind: str = "contacts"
    ) -> dict[str, list[int]]:
        """Edit, create and delete records of one kind; returns the ids touched."""
        coll = self.records[kind]
        out: dict[str, list[int]] = {"edited": [], "created": [], "deleted": []}
        for _ in range(deletes):
            record_id = self._pick_live(kind)
            if record_id is None:
                break
            if kind == "subscriptions":  # Keap cannot delete these; they get deactivated
                self.records.update(
                    kind, record_id, {"active": False, "reason_stopped": "Cancelled"}
                )
                out["edited"].append(record_id)
            else:
                self.records.delete(kind, record_id)
                out["deleted"].append(record_id)
            self.made["deletes"] += 1
        for _ in range(edits):
            record_id = self._pick_live(kind)
            if record_id is None:
                break
            current = coll.get(record_id) or {}
            try:
                self.records.update(kind, record_id, _edit_for(kind, current, self._rng))
            except ApiError:
                continue  # e.g. a note whose user vanished; skip it like a failed edit
            out["edited"].append(record_id)
            self.made["edits"] += 1
        for _ in range(creates):
            at = self.records.now()
            record_id = coll.allocate_id()
            self.records.insert(kind, self.records.gen.fresh(kind, record_id, at), at)
            out["created"].append(record_id)
            self.made["creates"] += 1
        return out

    def _pick_live(self, kind: str) -> int | None:
        coll = self.records[kind]
        if coll.live_count() == 0:
            return None
        top = coll.next_id - 1
        for _ in range(1000):
            record_id = self._rng.randint(1, top)
            if coll.exists(record_id):
                return record_id
        return next(iter(coll.live_ids()), None)

    # -- background stream -------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def start(
        self,
        rate_per_s: float,
        kinds: tuple[str, ...] = ("contacts",),
        weights: tuple[float, float, float] = (0.8, 0.15, 0.05),
    ) -> None:
        """Keep making changes at `rate_per_s` (edits, creates, deletes mixed by `weights`)."""
        if self.running:
            raise RuntimeError("a change stream is already running")
        self._task = asyncio.get_running_loop().create_task(self._run(rate_per_s, kinds, weights))

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(
        self, rate: float, kinds: tuple[str, ...], weights: tuple[float, float, float]
    ) -> None:
        started, done = time.monotonic(), 0
        while True:
            due = int((time.monotonic() - started) * rate) - done
            for _ in range(max(due, 0)):
                kind = self._rng.choice(kinds)
                what = self._rng.choices(("edits", "creates", "deletes"), weights=weights)[0]
                self.make(kind=kind, **{what: 1})
                done += 1
            await asyncio.sleep(min(max(1.0 / rate, 0.005), 0.1))
