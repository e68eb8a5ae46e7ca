"""`Gaps`: per-record reads take the room page requests leave, never a page's turn."""

from __future__ import annotations

import asyncio

from shared.sync.details import Gaps
from tests.timing import HandClock

TURN = 0.05  # the pacer's interval: 20 requests a second


def pages_every(gaps: Gaps, clock: HandClock, *cycles: float) -> None:
    """More page requests, `cycles` apart."""
    for cycle in cycles:
        clock.now += cycle
        gaps.page_requested()


def test_the_room_is_what_fits_in_the_shortest_recent_time_between_pages() -> None:
    clock = HandClock()
    gaps = Gaps(lambda: TURN, clock)
    gaps.page_requested()
    assert gaps.room() == 0  # nothing known yet: no room

    pages_every(gaps, clock, 0.14, 0.145)
    assert gaps.room() == 1  # page, one request, and the next page on time

    pages_every(gaps, clock, *([0.21] * 8))
    assert gaps.room() == 2
    pages_every(gaps, clock, 0.5)  # one slow page (kept waiting, say) does not widen it
    assert gaps.room() == 2
    pages_every(gaps, clock, 0.09)  # pages faster than two turns apart leave no room
    assert gaps.room() == 0


async def test_a_request_waits_for_the_next_page_once_the_room_is_taken() -> None:
    clock = HandClock()
    gaps = Gaps(lambda: TURN, clock)
    gaps.page_requested()
    pages_every(gaps, clock, 0.15, 0.15)

    assert await gaps.take() is True
    waiting = asyncio.ensure_future(gaps.take())
    await asyncio.sleep(0)
    assert not waiting.done()

    clock.now += 0.15
    gaps.page_requested()
    assert await waiting is True


async def test_after_the_pages_requests_go_freely_for_a_twentieth_of_the_run() -> None:
    clock = HandClock()
    gaps = Gaps(lambda: TURN, clock)
    gaps.page_requested()
    pages_every(gaps, clock, *([0.1] * 400))  # 40 s of pages, no room between them

    gaps.pages_done()
    assert all([await gaps.take() for _ in range(10)])  # no page to wait for
    clock.now += 1.9
    assert await gaps.take() is True
    clock.now += 0.2  # two seconds (a twentieth of 40) after the pages: the rest waits
    assert await gaps.take() is False
