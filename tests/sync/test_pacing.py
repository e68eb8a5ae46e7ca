"""The pacer and the backoff, on a clock the test moves by hand."""

from __future__ import annotations

import random

import pytest

from shared.keap.pacing import Backoff, Pacer, QuotaExhausted, retry_after_seconds


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0
        self.wall = 1_700_000_000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(round(seconds, 4))
        self.now += seconds
        self.wall += seconds


def pacer(clock: Clock, **kwargs: object) -> Pacer:
    return Pacer(clock=clock, wall_clock=lambda: clock.wall, sleep=clock.sleep, **kwargs)  # type: ignore[arg-type]


def throttle(available: int, limit: int = 1500, **extra: str) -> dict[str, str]:
    return {
        "x-keap-product-throttle-available": str(available),
        "x-keap-product-throttle-limit": str(limit),
        "x-keap-product-throttle-time-unit": "minute",
        "x-keap-product-throttle-interval": "1",
        **extra,
    }


async def test_requests_go_at_the_spike_rate_while_plenty_is_left() -> None:
    clock = Clock()
    p = pacer(clock, min_interval_s=0.05)
    for _ in range(4):
        await p.acquire()
        p.observe(throttle(1400))

    assert clock.slept == [0.05, 0.05, 0.05]


async def test_the_rest_of_a_throttle_is_spread_over_a_whole_window() -> None:
    clock = Clock()
    p = pacer(clock, min_interval_s=0.05, reserve=3)
    await p.acquire()
    p.observe(throttle(63, limit=240))  # 60 usable in the next minute: one a second

    await p.acquire()

    assert clock.slept == [1.0]
    p.observe(throttle(3, limit=240))  # only the reserve left: wait out the window
    await p.acquire()
    assert clock.slept[-1] == 60.0
    p.observe(throttle(240, limit=240))  # a new window
    await p.acquire()
    assert clock.slept[-1] == 0.05


async def test_the_tenant_throttle_counts_too() -> None:
    clock = Clock()
    p = pacer(clock, min_interval_s=0.0, reserve=0)
    await p.acquire()
    p.observe(
        {
            **throttle(1400),
            "x-keap-tenant-throttle-available": "30",
            "x-keap-tenant-throttle-limit": "10000",
        }
    )

    assert p.delay() == pytest.approx(2.0)


async def test_a_spent_daily_quota_stops_requests_until_it_resets() -> None:
    clock = Clock()
    p = pacer(clock)
    expiry_ms = int((clock.wall + 3600) * 1000)
    p.observe(
        {
            "x-keap-product-quota-available": "10",
            "x-keap-product-quota-expiry-time": str(expiry_ms),
        }
    )

    with pytest.raises(QuotaExhausted):
        await p.acquire()
    clock.wall += 3601
    await p.acquire()  # the day is over: try again


def test_the_spike_interval_depends_on_the_credential() -> None:
    # Never 25 (or 10) in a rolling second, even with 60 ms of jitter at Keap's end.
    assert Pacer.for_credential("bearer").min_interval_s == pytest.approx(1.06 / 24)
    assert Pacer.for_credential("api_key").min_interval_s == pytest.approx(1.06 / 9)


def test_backoff_grows_with_jitter_and_a_cap() -> None:
    backoff = Backoff(base_s=0.5, cap_s=8.0, max_attempts=6, rng=random.Random(1))
    delays = [[backoff.delay(a) for _ in range(200)] for a in range(6)]

    for attempt, seen in enumerate(delays):
        ceiling = min(8.0, 0.5 * 2**attempt)
        assert all(ceiling / 4 <= d <= ceiling for d in seen)
        assert len(set(seen)) > 100  # jittered, so retries do not arrive together
    assert backoff.delay(0, retry_after=3) >= 3
    assert not backoff.gives_up(4) and backoff.gives_up(5)


def test_retry_after_is_read_when_given_in_seconds() -> None:
    assert retry_after_seconds({"retry-after": "7"}) == 7.0
    assert retry_after_seconds({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}) is None
    assert retry_after_seconds({}) is None


SPIKE_FAULT_TEXT = (
    "Spike arrest violation. Allowed rate : MessageRate{messagesPerPeriod=3, "
    "periodInMicroseconds=1000000, maxBurstMessageCount=3.0}"
)


async def test_a_spike_refusal_slows_to_the_rate_keap_names_for_a_while() -> None:
    clock = Clock()
    p = pacer(clock, min_interval_s=0.05)
    for _ in range(4):
        await p.acquire()
    p.refused("policies.ratelimit.SpikeArrestViolation", SPIKE_FAULT_TEXT)

    await p.acquire()  # the burst still fills Keap's second: wait it out
    await p.acquire()  # then 3 a second, with a margin
    await p.acquire()

    assert clock.slept[-3:] == [1.0, round(1.25 / 3, 4), round(1.25 / 3, 4)]
    clock.now += 900.0  # the learned rate holds for a while, then the documented one is back
    await p.acquire()
    await p.acquire()
    assert clock.slept[-1] == 0.05


async def test_without_a_named_rate_the_sends_of_the_last_second_are_the_limit() -> None:
    clock = Clock()
    p = pacer(clock, min_interval_s=0.1)
    for _ in range(6):  # six in 0.5 s; the sixth was refused: five are allowed
        await p.acquire()
    p.refused("policies.ratelimit.SpikeArrestViolation", "Spike arrest violation")

    await p.acquire()
    await p.acquire()

    assert clock.slept[-2:] == [1.0, 0.25]  # 1.25 / 5


async def test_a_quota_refusal_holds_requests_back_for_a_window() -> None:
    clock = Clock()
    p = pacer(clock, min_interval_s=0.05, window_s=60.0)
    await p.acquire()
    p.observe(throttle(900))  # the headers say plenty is left: Keap refused anyway
    p.refused("policies.ratelimit.QuotaViolation", "Rate limit quota violation.")

    await p.acquire()

    assert clock.slept[-1] == 60.0
