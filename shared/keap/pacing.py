"""How fast to call Keap: spacing from Keap's throttle headers, and backoff after failures.

Keap reports what is left of each limit on every response (`x-keap-*-available`).
Requests go at the spike-arrest rate while plenty is left; once less than half of a
throttle remains, the pacer never sends faster than what is left can last for a whole
window, so a sync slows down before it reaches a limit instead of earning 429s.

The documented spike rate is what Keap allows an app, not necessarily what a tenant gets:
a spike-arrest 429 teaches the pacer the rate Keap really allows (Apigee names it in the
fault, "MessageRate{messagesPerPeriod=N, periodInMicroseconds=P, ...}"; failing that, what
was sent in the second before the refusal), and it keeps under that rate for a while.
Both objects are pure bookkeeping plus an injectable clock, so they test without I/O.
"""

from __future__ import annotations

import asyncio
import random
import re
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field

# Per-minute throttles Keap reports, by header prefix.
THROTTLES = ("x-keap-product-throttle", "x-keap-tenant-throttle")
# Daily quotas: pacing them over a day would crawl, so they only stop a run when low.
QUOTAS = ("x-keap-product-quota", "x-keap-tenant-quota")

# Keap's spike arrest (requests per second) by credential kind; see shared/keap/README.md.
SPIKE_PER_SECOND = {"bearer": 25.0, "api_key": 10.0}

QUOTA_RECHECK_S = 600.0  # without an expiry header, look at a spent quota again after this
SPIKE_MARGIN = 1.25  # under a rate learned from a refusal (Keap's own may be uneven)
# Spike arrest counts requests in any rolling second: the request `rate` sends after
# one must come more than a second after it, even if that one reached Keap this much
# late and this one on time.
ARRIVAL_JITTER_S = 0.06
LEARNED_SPIKE_HOLD_S = 900.0  # how long a spike rate learned from a refusal holds
SPIKE_FAULT = "SpikeArrestViolation"  # any other 429 is a quota (QuotaViolation)
_MESSAGE_RATE = re.compile(r"messagesPerPeriod=(\d+),\s*periodInMicroseconds=(\d+)")

_UNIT_SECONDS = {"second": 1.0, "minute": 60.0, "hour": 3600.0, "day": 86400.0}


def _int(value: str | None) -> int | None:
    try:
        return int(float(value)) if value not in (None, "") else None
    except ValueError:
        return None


def window_seconds(headers: Mapping[str, str], prefix: str, default: float) -> float:
    """The length of a limit's window from its `-interval` and `-time-unit` headers."""
    unit = (headers.get(f"{prefix}-time-unit") or "").lower().rstrip("s")
    interval = _int(headers.get(f"{prefix}-interval")) or 1
    return _UNIT_SECONDS[unit] * interval if unit in _UNIT_SECONDS else default


class QuotaExhausted(Exception):
    """A daily quota is (nearly) spent: wait for it to reset instead of retrying."""

    def __init__(self, which: str, available: int) -> None:
        super().__init__(f"Keap {which} has {available} requests left; the run stops here")
        self.which = which
        self.available = available


def spike_interval(per_second: float) -> float:
    """The spacing that never puts `per_second` requests in one rolling second at Keap,
    with `ARRIVAL_JITTER_S` to spare (25 a second: 44 ms, 22.6 a second)."""
    return (1.0 + ARRIVAL_JITTER_S) / max(per_second - 1, 1)


@dataclass
class Pacer:
    """Decides when the next request may be sent.

    `acquire()` reserves a send slot (safe with several coroutines sharing one client);
    `observe(headers)` updates the spacing from each response.
    """

    min_interval_s: float = 1 / 25
    reserve: int = 3  # requests kept in hand on each throttle, for other callers
    quota_reserve: int = 50
    window_s: float = 60.0
    burst_fraction: float = 0.5  # below this share of a throttle left, spread the rest
    clock: Callable[[], float] = time.monotonic
    wall_clock: Callable[[], float] = time.time
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    spacing_s: float = field(default=0.0, init=False)
    learned_interval_s: float = field(default=0.0, init=False)  # from spike-arrest refusals
    _learned_until: float = field(default=float("-inf"), init=False)
    _recent: deque[float] = field(default_factory=lambda: deque(maxlen=200), init=False)
    _last_sent: float = field(default=float("-inf"), init=False)
    _resume_at: float = field(default=float("-inf"), init=False)  # after a spike refusal
    _exhausted: QuotaExhausted | None = field(default=None, init=False)
    _exhausted_until: float = field(default=0.0, init=False)
    _limits: dict[str, int] = field(default_factory=dict, init=False)

    @classmethod
    def for_credential(cls, kind: str, **kwargs: object) -> Pacer:
        """A pacer whose floor interval sits just under the spike arrest of `kind`."""
        per_second = SPIKE_PER_SECOND.get(kind, SPIKE_PER_SECOND["api_key"])
        return cls(min_interval_s=spike_interval(per_second), **kwargs)  # type: ignore[arg-type]

    @property
    def interval_s(self) -> float:
        learned = self.learned_interval_s if self.clock() < self._learned_until else 0.0
        return max(self.min_interval_s, self.spacing_s, learned)

    def delay(self) -> float:
        """Seconds until the next request may go."""
        next_at = max(self._last_sent + self.interval_s, self._resume_at)
        return max(0.0, next_at - self.clock())

    async def acquire(self) -> None:
        if self._exhausted is not None:
            if self.wall_clock() < self._exhausted_until:
                raise self._exhausted
            self._exhausted = None  # the quota has had time to reset: try again
        while (wait := self.delay()) > 0:
            await self.sleep(wait)
        self._last_sent = self.clock()
        self._recent.append(self._last_sent)

    def refused(self, errorcode: str, faultstring: str) -> None:
        """Take in a 429 (after `observe` took in its headers).

        A spike-arrest refusal lowers the rate for a while: to the rate Keap names in the
        fault when it gives one, otherwise to what Keap let through in the second before.
        A quota refusal holds every request back for a throttle window, whatever the
        headers said (Keap's real limits may be lower than the ones it reports).
        """
        now = self.clock()
        if SPIKE_FAULT not in errorcode and SPIKE_FAULT not in faultstring:
            self._resume_at = max(self._resume_at, now + self.window_s)
            return
        named = _MESSAGE_RATE.search(faultstring)
        period_s = 1.0
        if named and int(named.group(1)) > 0 and int(named.group(2)) > 0:
            period_s = int(named.group(2)) / 1_000_000
            per_second = int(named.group(1)) / period_s
        else:
            sent = sum(1 for t in self._recent if t > now - period_s)
            per_second = max(sent - 1, 1)  # the refused request was one too many
        interval = SPIKE_MARGIN / per_second
        # The burst that drew the refusal still fills Keap's window: let it pass first.
        self._resume_at = max(self._resume_at, now + period_s)
        if now >= self._learned_until or interval > self.learned_interval_s:
            self.learned_interval_s = interval
        self._learned_until = now + LEARNED_SPIKE_HOLD_S

    def observe(self, headers: Mapping[str, str]) -> None:
        """Take in what a response says is left of each limit."""
        spacing = 0.0
        for prefix in THROTTLES:
            available = _int(headers.get(f"{prefix}-available"))
            if available is None:
                continue
            limit = max(_int(headers.get(f"{prefix}-limit")) or 0, available)
            self._limits[prefix] = limit = max(limit, self._limits.get(prefix, 0))
            window = window_seconds(headers, prefix, self.window_s)
            usable = available - self.reserve
            if usable <= 0:
                spacing = max(spacing, window)
            elif available <= limit * self.burst_fraction:
                # Spend what is left no faster than it could last a whole window: the
                # window may have just begun, and it only refills when it ends.
                spacing = max(spacing, window / usable)
        self.spacing_s = spacing
        for prefix in QUOTAS:
            available = _int(headers.get(f"{prefix}-available"))
            if available is not None and available <= self.quota_reserve:
                self._exhausted = QuotaExhausted(prefix.removeprefix("x-keap-"), available)
                expiry_ms = _int(headers.get(f"{prefix}-expiry-time"))
                self._exhausted_until = (
                    expiry_ms / 1000 if expiry_ms else self.wall_clock() + QUOTA_RECHECK_S
                )

    @property
    def exhausted(self) -> QuotaExhausted | None:
        """The quota that stops further requests, if one is spent."""
        return self._exhausted

    def reset_quota(self) -> None:
        self._exhausted = None


_SHARED: dict[tuple[str, str], Pacer] = {}


def shared_pacer(identity: str, kind: str) -> Pacer:
    """The pacer of one Keap identity in this process.

    Keap counts limits per app (or key), not per client object: successive runs and
    the webhook queue in one isolate share what is left, so they share the pacer.
    """
    key = (identity, kind)
    pacer = _SHARED.get(key)
    if pacer is None:
        pacer = _SHARED[key] = Pacer.for_credential(kind)
    return pacer


@dataclass
class Backoff:
    """Exponential backoff with full jitter, bounded in attempts and in delay."""

    base_s: float = 0.5
    cap_s: float = 30.0
    max_attempts: int = 6
    rng: random.Random = field(default_factory=random.Random)

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """The wait before retry number `attempt` (0 for the first retry)."""
        if retry_after is not None and retry_after >= 0:
            return min(self.cap_s, retry_after) + self.rng.uniform(0, self.base_s)
        ceiling = min(self.cap_s, self.base_s * 2**attempt)
        return self.rng.uniform(ceiling / 4, ceiling)

    def gives_up(self, attempt: int) -> bool:
        """True once `attempt` (0-based) failed attempts are all we allow."""
        return attempt + 1 >= self.max_attempts


def retry_after_seconds(headers: Mapping[str, str]) -> float | None:
    """`Retry-After` in seconds, when present as a number (Keap does not document it)."""
    value = headers.get("retry-after")
    try:
        return float(value) if value else None
    except ValueError:
        return None
