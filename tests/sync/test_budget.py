"""The run budget: when another page no longer fits; page text and connections in flight."""

from __future__ import annotations

import asyncio

from shared.platform.connections import Connections
from shared.sync.budget import END_RESERVE, PAGE_COST, Budget, PageMemory
from tests.timing import HandClock


def test_subrequests_stop_a_run_with_room_left_to_record_its_end() -> None:
    budget = Budget(subrequests=100, clock=HandClock())
    budget.spend(100 - END_RESERVE - PAGE_COST)
    assert budget.stop_reason() is None

    budget.spend(1)

    assert "subrequest budget of 100" in (budget.stop_reason() or "")


def test_wall_time_stops_before_a_page_as_slow_as_the_slowest_would_overrun() -> None:
    clock = HandClock()
    budget = Budget(wall_s=60, clock=clock)
    started = budget.page_started()
    clock.now = 10.0
    budget.page_done(started)  # a page took 10 s: the next needs up to 2 x 10 s + 5 s of margin
    clock.now = 34.0
    assert budget.stop_reason() is None

    clock.now = 36.0

    assert "time budget" in (budget.stop_reason() or "")


def test_pages_too_big_for_the_memory_budget_get_smaller() -> None:
    budget = Budget(memory_mb=64)
    eighth = 8 * 1024 * 1024

    assert budget.page_size_for(eighth, 1000) == 1000
    assert budget.page_size_for(eighth * 4, 1000) == 250
    assert budget.page_size_for(eighth * 1000, 1000) == 50


def test_pages_under_way_count_against_the_subrequests_left() -> None:
    budget = Budget(subrequests=100, clock=HandClock())
    budget.spend(100 - END_RESERVE - 2 * PAGE_COST)  # room for two pages
    assert budget.stop_reason() is None
    first = budget.page_started()
    budget.page_started()

    # The two pages under way will spend that room: a third no longer fits.
    assert "subrequest budget" in (budget.stop_reason() or "")
    budget.page_done(first)
    budget.spend(PAGE_COST)
    assert "subrequest budget" in (budget.stop_reason() or "")


async def test_page_text_in_flight_waits_for_room_in_bytes() -> None:
    memory = PageMemory(limit=10)
    first = await memory.reserve(6)
    waiting = asyncio.ensure_future(memory.reserve(6))
    await asyncio.sleep(0)
    assert not waiting.done()  # 12 bytes would be more than the 10 allowed

    first.resize(3)  # the page weighed less than expected: now it fits
    second = await asyncio.wait_for(waiting, 1)
    assert memory.held == 9
    first.release()
    second.release()
    assert memory.held == 0 and memory.peak == 12 - 3

    alone = await memory.reserve(50)  # a page bigger than the budget still goes alone
    assert memory.held == 50
    alone.release()


async def test_connections_never_hold_more_slots_than_the_limit() -> None:
    connections = Connections(limit=6)
    release = asyncio.Event()

    async def request() -> None:
        async with connections.slot():
            await release.wait()

    requests = [asyncio.ensure_future(request()) for _ in range(10)]
    await asyncio.sleep(0)
    assert connections.open == 6
    release.set()
    await asyncio.gather(*requests)
    assert connections.peak == 6 and connections.open == 0
