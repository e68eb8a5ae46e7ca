"""Injected trouble for data requests: latency, slow answers, 5xx answers, dropped answers,
and paths Keap refuses outright (a 4xx every time, as for a missing permission).

Each request draws from a seeded generator, so a run with the same seed and the same
request order sees the same faults.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass

from starlette.responses import Response

from .config import SandboxConfig
from .errors import fault, v2_error


@dataclass(frozen=True)
class Plan:
    """What to do to one request: wait `delay_s`, then answer normally, fail or drop."""

    delay_s: float
    action: str = "pass"  # "pass", "error", "drop" or "refuse"
    status: int = 0
    message: str = ""


@dataclass(frozen=True)
class Refusal:
    """Every request to one path (under /crm/rest, e.g. /v2/orders) answered with a 4xx."""

    path: str
    status: int
    message: str


class Faults:
    def __init__(self, config: SandboxConfig) -> None:
        self.config = config
        self.counts: Counter[str] = Counter()
        self.refusals: dict[str, Refusal] = {}
        self._rng = random.Random(config.seed ^ 0xFA17)

    def refuse(self, path: str, status: int = 403, message: str = "") -> Refusal:
        """Refuse every request to `path` with `status` until `allow`; e.g. a 403 for an
        object the connected user may not read."""
        if not path.startswith(("/v1/", "/v2/")):
            raise ValueError("path is the part after /crm/rest, e.g. /v2/orders")
        if not 400 <= status < 500 or status in (401, 429):
            raise ValueError("status must be a 4xx other than 401 and 429 (they have their own)")
        refusal = Refusal(path, status, message or _REFUSED.get(status, "Refused"))
        self.refusals[path] = refusal
        return refusal

    def allow(self, path: str | None = None) -> None:
        """Stop refusing `path` (None: every path)."""
        if path is None:
            self.refusals.clear()
        else:
            self.refusals.pop(path, None)

    def plan(self, path: str = "") -> Plan:
        cfg, rng = self.config, self._rng
        delay = cfg.latency_ms / 1000
        refusal = self.refusals.get(path)
        if refusal is not None:
            self.counts[f"refused_{refusal.status}"] += 1
            return Plan(delay, "refuse", refusal.status, refusal.message)
        if cfg.slow_rate and rng.random() < cfg.slow_rate:
            delay += cfg.slow_ms / 1000
            self.counts["slow"] += 1
        if cfg.drop_rate and rng.random() < cfg.drop_rate:
            self.counts["drop"] += 1
            return Plan(delay, "drop")
        if cfg.error_rate and rng.random() < cfg.error_rate:
            status = rng.choice((500, 502, 503))
            self.counts[f"error_{status}"] += 1
            return Plan(delay, "error", status)
        return Plan(delay)


def error_response(status: int, message: str = "") -> Response:
    """A 5xx as Keap's stack produces them (500 from the service, 502/503 from the
    gateway), or a 4xx refusal from the service (a v2 `Error` with `message`)."""
    if status < 500:
        return v2_error(status, message)
    if status == 502:
        return fault(
            502, "Unexpected EOF at target", "messaging.adaptors.http.flow.UnexpectedEOFAtTarget"
        )
    if status == 503:
        return fault(
            503,
            "The Service is temporarily unavailable",
            "messaging.adaptors.http.flow.ServiceUnavailable",
        )
    return v2_error(500, "Internal Server Error")


# Keap's words for the refusals people meet (v2 `Error.message`).
_REFUSED = {
    400: "Invalid request",
    403: "The user does not have permission to perform this operation",
    404: "Not Found",
}
