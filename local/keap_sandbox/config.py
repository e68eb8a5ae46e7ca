"""Everything that shapes one sandbox: data set size, credentials, limits, faults, hook timing."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

# Settings that may change while the sandbox runs (PATCH /_sandbox/config). The rest
# (seed, counts, base_time, credentials, state_dir) define the data set and the tenant,
# so they are fixed for the lifetime of a sandbox.
RUNTIME_FIELDS = frozenset(
    {
        "access_token_ttl",
        "refresh_token_ttl",
        "auth_code_ttl",
        "auto_approve",
        "latency_ms",
        "error_rate",
        "drop_rate",
        "drop_mode",
        "hang_s",
        "slow_rate",
        "slow_ms",
        "limits_enabled",
        "throttle_per_minute",
        "quota_per_day",
        "spike_per_second",
        "tenant_throttle_per_minute",
        "tenant_quota_per_day",
        "key_throttle_per_minute",
        "key_spike_per_second",
        "key_quota_per_day",
        "hook_delay_s",
        "hook_group_delay_s",
        "hook_timeout_s",
        "hook_min_timeout_s",
        "hook_time_scale",
    }
)


class SandboxConfig(BaseModel):
    """One sandbox's settings. Defaults mirror Keap where Keap documents a number."""

    model_config = ConfigDict(validate_assignment=True, extra="forbid")

    # Data set: record i of each kind is generated from (seed, kind, i).
    seed: int = 42
    contacts: int = Field(500, ge=0)
    companies: int = Field(50, ge=0)
    opportunities: int = Field(100, ge=0)
    orders: int = Field(100, ge=0)
    tasks: int = Field(100, ge=0)
    products: int = Field(30, ge=0)
    tags: int = Field(40, ge=0)
    notes: int = Field(200, ge=0)
    subscriptions: int = Field(50, ge=0)
    # Base update times are spread over the year before this instant (default: the
    # start of the current UTC day, so the data set is the same all day long).
    base_time: datetime | None = None
    # Where the sandbox keeps what a restart of Keap would not forget (grants, record
    # changes, hook subscriptions); None keeps everything in memory only.
    state_dir: Path | None = None

    # Tenant and credentials.
    tenant: str = "sandbox123.infusionsoft.com"
    client_id: str = "sandbox-client"
    client_secret: str = "sandbox-secret"  # noqa: S105 - the sandbox's public dev credential
    api_keys: list[str] = Field(default_factory=lambda: ["sandbox-api-key"])
    access_token_ttl: int = Field(86400, gt=0)
    refresh_token_ttl: int = Field(45 * 86400, gt=0)
    auth_code_ttl: int = Field(600, gt=0)
    auto_approve: bool = True

    # Faults, applied to /crm/rest requests after authentication and limits.
    latency_ms: float = Field(0.0, ge=0)
    error_rate: float = Field(0.0, ge=0, le=1)
    drop_rate: float = Field(0.0, ge=0, le=1)
    drop_mode: Literal["close", "hang"] = "close"
    hang_s: float = Field(120.0, ge=0)
    slow_rate: float = Field(0.0, ge=0, le=1)
    slow_ms: float = Field(5000.0, ge=0)

    # Limits (Keap: OAuth apps 1500/min, 150000/day, ~25/s; keys 240/min, 10/s,
    # 30000/day; per tenant 10000/min, 250000/day).
    limits_enabled: bool = True
    throttle_per_minute: int = Field(1500, ge=0)
    quota_per_day: int = Field(150_000, ge=0)
    spike_per_second: int = Field(25, ge=0)
    tenant_throttle_per_minute: int = Field(10_000, ge=0)
    tenant_quota_per_day: int = Field(250_000, ge=0)
    key_throttle_per_minute: int = Field(240, ge=0)
    key_spike_per_second: int = Field(10, ge=0)
    key_quota_per_day: int = Field(30_000, ge=0)

    # REST hooks. First delivery after delay..2*delay (Keap: 30-60 s; 5-10 min for
    # contactGroup.applied/delete); retries after 30-60 s, 5 min, 30 min. Every delay,
    # wait and timeout is multiplied by hook_time_scale.
    hook_delay_s: float = Field(30.0, ge=0)
    hook_group_delay_s: float = Field(300.0, ge=0)
    hook_timeout_s: float = Field(30.0, gt=0)
    # A scaled timeout never drops below this, so a tiny scale does not turn a
    # healthy local receiver into a failing one.
    hook_min_timeout_s: float = Field(0.25, ge=0)
    hook_time_scale: float = Field(1.0, gt=0)

    # List pages kept serialized, for reads of an unchanged page again (retries; the
    # benchmarks render every page once beforehand, so that the sandbox's own rendering
    # does not take CPU from what they measure: Keap's time is `latency_ms`).
    page_cache_pages: int = Field(32, ge=0)

    @property
    def tenant_id(self) -> str:
        """The app name Keap reports in `x-keap-tenant-id` (the host's first label)."""
        return self.tenant.split(".", 1)[0]

    def count(self, kind: str) -> int:
        return int(getattr(self, kind))
