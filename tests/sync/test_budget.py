"""The run budget: when another page no longer fits."""

from __future__ import annotations

from shared.sync.budget import END_RESERVE, PAGE_COST, Budget
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
