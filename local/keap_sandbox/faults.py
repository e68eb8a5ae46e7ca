"""Injected trouble for data requests: latency, slow answers, 5xx answers, dropped answers.

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
    action: str = "pass"  # "pass", "error" or "drop"
    status: int = 0


class Faults:
    def __init__(self, config: SandboxConfig) -> None:
        self.config = config
        self.counts: Counter[str] = Counter()
        self._rng = random.Random(config.seed ^ 0xFA17)

    def plan(self) -> Plan:
        cfg, rng = self.config, self._rng
        delay = cfg.latency_ms / 1000
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


def error_response(status: int) -> Response:
    """A 5xx as Keap's stack produces them: 500 from the service, 502/503 from the gateway."""
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
