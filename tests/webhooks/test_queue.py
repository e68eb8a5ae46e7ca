"""The coordinator's event queue on real SQLite storage: batching, backoff, drops, dedup window.

The applier here is a small stand-in for Keap and Postgres, so each rule of
the queue can be shown on its own; the other tests run the real chain.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from local.bindings import LocalDurableStorage
from shared.coordinator.schema import migrate
from shared.keap.streams import STREAM_NAMES
from shared.webhooks.events import DEFAULT_EVENT_KEYS, route
from shared.webhooks.models import HookDelivery
from shared.webhooks.queue import Applied, BatchRefused, EventQueue
from shared.webhooks.receiver import queue_events
from tests.timing import HandClock
from tests.webhooks.conftest import delivery


class Keap:
    """Applies batches; `down` makes every batch fail, `gone` ids are not in Keap, a
    batch holding a `refuse` id is refused, an `unwritable` id is one Postgres refuses
    (the rest of its batch is written)."""

    def __init__(self) -> None:
        self.down = False
        self.gone: set[int] = set()
        self.refuse: set[int] = set()
        self.unwritable: set[int] = set()
        self.batches: list[tuple[str, str, list[int]]] = []
        self.quarantined: dict[str, dict[int, str]] = {}

    def batch_limit(self, stream: str, action: str) -> int:
        return 100

    async def __call__(self, stream: str, action: str, ids: list[int]) -> Applied:
        if self.down:
            raise ConnectionError("down")
        if self.refuse & set(ids):
            raise BatchRefused("HTTP 400: invalid id")
        self.batches.append((stream, action, ids))
        return Applied(
            missing={i for i in ids if i in self.gone},
            refused={i: "SQLSTATE 23514: check" for i in ids if i in self.unwritable},
        )

    async def quarantine(self, stream: str, reasons: dict[int, str]) -> None:
        if self.down:
            raise ConnectionError("down")
        self.quarantined.setdefault(stream, {}).update(reasons)


def time_passes(queue: EventQueue) -> None:
    """Every wait is over: the queue's backoff and each refused event's own."""
    assert isinstance(queue.clock, HandClock)
    queue.clock.advance(queue.policy.retry_max_s)


@pytest.fixture
def clock() -> HandClock:
    return HandClock(1_767_225_600.0)  # 2026-01-01T00:00:00Z


@pytest.fixture
def queue(tmp_path: Path, clock: HandClock) -> Iterator[EventQueue]:
    storage = LocalDurableStorage(tmp_path / "object.sqlite3", lambda _at: None)
    migrate(storage.sql)
    try:
        yield EventQueue(storage.sql, clock)
    finally:
        storage.close()


def put(queue: EventQueue, event_key: str, ids: list[int], at: int = 0) -> dict[str, object]:
    events, _ = queue_events(HookDelivery.model_validate(delivery(event_key, ids, at)))
    return queue.enqueue(events)


async def test_batches_group_one_stream_and_action_oldest_first(queue: EventQueue) -> None:
    put(queue, "contact.edit", [1, 2, 3])
    put(queue, "contact.delete", [9])
    put(queue, "contact.edit", [2, 4], at=1)  # 2 again, later: one fetch covers both
    put(queue, "note.add", [5])
    keap = Keap()
    while queue.depth():  # one batch per drain: the alarm comes back for the rest
        await queue.drain(keap)
    assert keap.batches == [
        ("contacts", "upsert", [1, 2, 3, 4]),
        ("contacts", "delete", [9]),
        ("notes", "upsert", [5]),
    ]
    status = queue.status()
    assert status["depth"] == 0
    assert status["totals"] == {
        "received": 7,
        "duplicates": 0,
        "applied": 6,
        "deleted": 1,
        "dropped": 0,
        "quarantined": 0,
    }


async def test_work_per_drain_is_bounded(queue: EventQueue, clock: HandClock) -> None:
    queue.configure(batches_per_alarm=2)
    put(queue, "contact.edit", list(range(1, 451)))
    keap = Keap()
    await queue.drain(keap)
    assert [len(b[2]) for b in keap.batches] == [100, 100]
    assert queue.depth() == 250
    assert queue.next_due() == clock()  # re-armed now


async def test_the_status_tells_how_long_the_oldest_event_has_waited(
    queue: EventQueue, clock: HandClock
) -> None:
    put(queue, "contact.edit", [1])
    clock.advance(90)
    put(queue, "contact.edit", [2], at=1)
    assert queue.summary()["oldest_age_s"] == 90
    assert queue.status()["last_drain_at"] is None
    await queue.drain(Keap())
    status = queue.status()
    assert status["oldest_age_s"] is None and status["depth"] == 0
    assert status["last_drain_at"] == "2026-01-01T00:01:30.000Z"


async def test_failures_back_off_exponentially_and_keep_every_event(
    queue: EventQueue, clock: HandClock
) -> None:
    queue.configure(retry_base_s=10, retry_max_s=35)
    put(queue, "contact.edit", [1, 2])
    keap = Keap()
    keap.down = True
    waits = []
    for _ in range(4):
        await queue.drain(keap)
        state = queue.status()
        retry_in = (queue.next_due() or 0) - clock()
        waits.append(retry_in)
        await queue.drain(keap)  # before the retry time: not tried
        assert queue.status()["failures"] == len(waits)
        clock.advance(retry_in)
    assert waits == [10, 20, 35, 35]
    assert state["depth"] == 2 and "ConnectionError" in state["last_error"]
    keap.down = False
    await queue.drain(keap)
    status = queue.status()
    assert status["depth"] == 0 and status["failures"] == 0 and status["totals"]["applied"] == 2


async def test_while_backing_off_nothing_is_tried(queue: EventQueue, clock: HandClock) -> None:
    queue.configure(retry_base_s=60)
    put(queue, "contact.edit", [1])
    keap = Keap()
    keap.down = True
    await queue.drain(keap)
    keap.down = False
    put(queue, "contact.edit", [2])
    assert queue.next_due() == clock() + 60
    clock.advance(59)
    await queue.drain(keap)
    assert keap.batches == [] and queue.depth() == 2
    clock.advance(1)
    await queue.drain(keap)
    assert keap.batches == [("contacts", "upsert", [1, 2])] and queue.depth() == 0


async def test_ids_keap_no_longer_has_are_dropped_with_a_reason(queue: EventQueue) -> None:
    put(queue, "contact.edit", [1, 2, 3])
    keap = Keap()
    keap.gone = {2}
    await queue.drain(keap)
    status = queue.status()
    assert status["depth"] == 0
    assert status["totals"]["dropped"] == 1 and status["totals"]["applied"] == 2
    assert status["recently_dropped"][0]["object_id"] == 2
    assert status["recently_dropped"][0]["reason"] == "not_in_keap"


async def test_repeats_are_recognised_after_applying_until_the_window_passes(
    queue: EventQueue, clock: HandClock
) -> None:
    put(queue, "contact.edit", [1])
    await queue.drain(Keap())
    assert put(queue, "contact.edit", [1])["duplicates"] == 1
    clock.advance(queue.policy.dedup_retention_s - 1)
    await queue.drain(Keap())  # prunes only what is past the window
    assert put(queue, "contact.edit", [1])["duplicates"] == 1
    clock.advance(2)
    await queue.drain(Keap())
    assert put(queue, "contact.edit", [1])["accepted"] == 1


async def test_an_id_keap_refuses_is_isolated_retried_then_quarantined(
    queue: EventQueue,
) -> None:
    queue.configure(refused_attempts=3, retry_base_s=10)
    put(queue, "contact.edit", list(range(1, 9)))
    keap = Keap()
    keap.refuse = {6}
    await queue.drain(keap)
    assert queue.depth() == 1  # the other seven went through on the first drain
    await queue.drain(keap)
    assert queue.depth() == 1 and keap.quarantined == {}  # 6 waits for its own retry time
    for _ in range(2):
        time_passes(queue)
        await queue.drain(keap)
    status = queue.status()
    assert status["depth"] == 0
    assert status["totals"]["applied"] == 7 and status["totals"]["quarantined"] == 1
    assert keap.quarantined == {"contacts": {6: "HTTP 400: invalid id"}}
    assert status["recently_dropped"][0]["object_id"] == 6
    assert status["recently_dropped"][0]["reason"] == "refused: HTTP 400: invalid id"


async def test_a_refused_id_waits_on_its_own_while_other_events_go_on(
    queue: EventQueue, clock: HandClock
) -> None:
    queue.configure(refused_attempts=5, retry_base_s=60)
    put(queue, "contact.edit", [1, 2, 3])
    keap = Keap()
    keap.unwritable = {2}  # a record Postgres refuses: the store reports it, the rest lands
    await queue.drain(keap)

    put(queue, "note.add", [5], at=1)  # behind the refused event of contact 2
    await queue.drain(keap)

    assert keap.batches == [("contacts", "upsert", [1, 2, 3]), ("notes", "upsert", [5])]
    status = queue.status()
    assert status["depth"] == 1 and status["refused_waiting"] == 1
    assert status["failures"] == 0 and status["retry_at"] is None  # nothing else waits
    assert "1 id(s) refused (SQLSTATE 23514" in (status["last_error"] or "")
    assert queue.next_due() == clock() + 60  # the alarm comes back for it, not before

    keap.unwritable = set()  # say, a missing row it referred to has been written since
    time_passes(queue)
    await queue.drain(keap)
    assert queue.depth() == 0 and queue.status()["totals"]["applied"] == 4
    assert keap.quarantined == {}


async def test_a_record_postgres_keeps_refusing_is_quarantined_after_bounded_tries(
    queue: EventQueue,
) -> None:
    queue.configure(refused_attempts=3, retry_base_s=10)
    put(queue, "contact.edit", [1, 2, 3])
    keap = Keap()
    keap.unwritable = {3}

    tries = 0
    while queue.depth():
        time_passes(queue)
        await queue.drain(keap)
        tries += 1

    assert tries == 3
    assert keap.quarantined == {"contacts": {3: "SQLSTATE 23514: check"}}
    assert queue.status()["totals"]["quarantined"] == 1


async def test_an_id_given_up_on_stays_queued_while_its_quarantine_cannot_be_written(
    queue: EventQueue,
) -> None:
    queue.configure(refused_attempts=1)
    put(queue, "contact.edit", [1, 2])
    keap = Keap()
    keap.refuse = {2}
    keap.down = False

    async def quarantine_down(stream: str, reasons: dict[int, str]) -> None:
        raise ConnectionError("postgres down")

    keap.quarantine = quarantine_down  # type: ignore[method-assign]
    await queue.drain(keap)
    assert queue.depth() == 1  # not lost: given up on only once it is in the quarantine

    del keap.quarantine
    time_passes(queue)
    await queue.drain(keap)
    assert queue.depth() == 0 and keap.quarantined == {"contacts": {2: "HTTP 400: invalid id"}}


def test_every_routed_event_goes_to_a_stream_the_sync_engine_knows() -> None:
    assert {r.stream for k in DEFAULT_EVENT_KEYS if (r := route(k))} <= set(STREAM_NAMES)
