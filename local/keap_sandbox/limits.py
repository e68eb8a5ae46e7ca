"""Keap's rate limits: per-minute throttle, daily quota, per-second spike arrest, per tenant.

Windows start at the first request of an identity and last their interval (Apigee's
"flexi" quota), so a test sees a full window regardless of the wall clock. Rejected
requests do not count. With limits disabled, requests are still counted and the
headers still sent; nothing is refused.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from .config import SandboxConfig

MINUTE = 60.0
DAY = 86_400.0


@dataclass
class Window:
    """A fixed-length counting window that starts on first use."""

    interval: float
    start: float | None = None
    wall_start: float = 0.0
    used: int = 0

    def roll(self, now: float) -> None:
        if self.start is None or now >= self.start + self.interval:
            self.start, self.used = now, 0
            self.wall_start = time.time()

    def expiry_ms(self) -> int:
        return int((self.wall_start + self.interval) * 1000)


@dataclass
class Spike:
    """At most `limit` requests in any rolling second."""

    stamps: deque[float] = field(default_factory=deque)

    def count(self, now: float) -> int:
        while self.stamps and self.stamps[0] <= now - 1.0:
            self.stamps.popleft()
        return len(self.stamps)


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    headers: dict[str, str]
    faultstring: str = ""
    errorcode: str = ""


class Limits:
    """Counters per caller identity (OAuth client id or API key) and for the tenant."""

    def __init__(self, config: SandboxConfig, clock: Callable[[], float] = time.monotonic) -> None:
        self.config = config
        self.clock = clock  # seconds; tests move it instead of waiting for windows to pass
        self.reset()

    def reset(self) -> None:
        """Forget all counts (a new minute and a new day for everyone)."""
        self._throttle: dict[str, Window] = {}
        self._quota: dict[str, Window] = {}
        self._spike: dict[str, Spike] = {}
        self._tenant_throttle = Window(MINUTE)
        self._tenant_quota = Window(DAY)
        self.rejected = {"spike": 0, "throttle": 0, "quota": 0, "tenant": 0}

    def check(self, identity: str, is_key: bool) -> Verdict:
        """Count one request for `identity` unless a limit refuses it."""
        cfg = self.config
        now = self.clock()
        per_minute = cfg.key_throttle_per_minute if is_key else cfg.throttle_per_minute
        per_day = cfg.key_quota_per_day if is_key else cfg.quota_per_day
        per_second = cfg.key_spike_per_second if is_key else cfg.spike_per_second
        throttle = self._throttle.setdefault(identity, Window(MINUTE))
        quota = self._quota.setdefault(identity, Window(DAY))
        spike = self._spike.setdefault(identity, Spike())
        for window in (throttle, quota, self._tenant_throttle, self._tenant_quota):
            window.roll(now)

        refusal: tuple[str, str, str] | None = None
        if spike.count(now) >= per_second:
            refusal = (
                "spike",
                "Spike arrest violation. Allowed rate : MessageRate{"
                f"messagesPerPeriod={per_second}, periodInMicroseconds=1000000, "
                f"maxBurstMessageCount={float(per_second)}}}",
                "policies.ratelimit.SpikeArrestViolation",
            )
        elif throttle.used >= per_minute:
            refusal = ("throttle", _quota_text(identity), "policies.ratelimit.QuotaViolation")
        elif quota.used >= per_day:
            refusal = ("quota", _quota_text(identity), "policies.ratelimit.QuotaViolation")
        elif (
            self._tenant_throttle.used >= cfg.tenant_throttle_per_minute
            or self._tenant_quota.used >= cfg.tenant_quota_per_day
        ):
            refusal = ("tenant", _quota_text(cfg.tenant_id), "policies.ratelimit.QuotaViolation")

        if refusal is not None and cfg.limits_enabled:
            self.rejected[refusal[0]] += 1
            return Verdict(
                False, self._headers(throttle, quota, per_minute, per_day), refusal[1], refusal[2]
            )
        spike.stamps.append(now)
        for window in (throttle, quota, self._tenant_throttle, self._tenant_quota):
            window.used += 1
        return Verdict(True, self._headers(throttle, quota, per_minute, per_day))

    def _headers(
        self, throttle: Window, quota: Window, per_minute: int, per_day: int
    ) -> dict[str, str]:
        cfg, tenant = self.config, self._tenant_throttle
        return {
            "x-keap-product-throttle-available": str(max(per_minute - throttle.used, 0)),
            "x-keap-product-throttle-limit": str(per_minute),
            "x-keap-product-throttle-used": str(throttle.used),
            "x-keap-product-throttle-interval": "1",
            "x-keap-product-throttle-time-unit": "minute",
            "x-keap-product-quota-available": str(max(per_day - quota.used, 0)),
            "x-keap-product-quota-limit": str(per_day),
            "x-keap-product-quota-used": str(quota.used),
            "x-keap-product-quota-interval": "1",
            "x-keap-product-quota-time-unit": "day",
            "x-keap-product-quota-expiry-time": str(quota.expiry_ms()),
            "x-keap-tenant-throttle-available": str(
                max(cfg.tenant_throttle_per_minute - tenant.used, 0)
            ),
            "x-keap-tenant-throttle-limit": str(cfg.tenant_throttle_per_minute),
            "x-keap-tenant-throttle-used": str(tenant.used),
            "x-keap-tenant-throttle-interval": "1",
            "x-keap-tenant-throttle-time-unit": "minute",
            "x-keap-tenant-id": cfg.tenant_id,
        }


def _quota_text(identifier: str) -> str:
    # Apigee's wording, double space included.
    return f"Rate limit quota violation. Quota limit  exceeded. Identifier : {identifier}"
