"""Settings every worker reads from its vars and secrets.

Secrets are `SecretStr`, so a settings object printed into a log or an error shows
`**********` instead of the value.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

KEAP_API_BASE = "https://api.infusionsoft.com/crm/rest"
KEAP_TOKEN_URL = "https://api.infusionsoft.com/token"
KEAP_AUTHORIZE_URL = "https://accounts.infusionsoft.com/app/oauth/authorize"


class Settings(BaseModel):
    """Vars (plain) and secrets (SecretStr) by their binding names."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    ADMIN_TOKEN: SecretStr | None = None
    KEAP_CLIENT_ID: str | None = None
    KEAP_CLIENT_SECRET: SecretStr | None = None
    KEAP_REDIRECT_URI: str | None = None
    KEAP_API_KEY: SecretStr | None = None
    KEAP_WEBHOOK_SECRET: SecretStr | None = None
    STATE_SECRET: SecretStr | None = None  # signs OAuth states (the coordinator's)
    KEAP_API_BASE: str = KEAP_API_BASE
    KEAP_TOKEN_URL: str = KEAP_TOKEN_URL
    KEAP_AUTHORIZE_URL: str = KEAP_AUTHORIZE_URL
    DEFAULT_ACCOUNT: str = "default"
    ACCOUNTS: list[str] = []  # accounts that exist without OAuth (API-key accounts)
    WEBHOOK_PUBLIC_URL: str | None = None
    ALLOWED_ORIGIN: str | None = None  # the one web origin whose pages may call the admin API
    LOG_LEVEL: str | None = None  # e.g. INFO or DEBUG (every Keap request); default WARNING
    SYNC_SUBREQUESTS: int = 10_000  # a run's subrequest budget (the plan's per-invocation limit)
    SYNC_PAGE_MEMORY_MB: float = 12.0  # page text a run holds at once (see sync.budget)
    SCHEDULE: dict[str, str] = {}  # job -> cron, the sync worker's [vars.SCHEDULE]
    RUN_RETENTION_DAYS: int = Field(default=90, ge=1)  # rows kept in keap.sync_runs
    # A run's lease lapses this long after its last renewal (a run renews it as it goes), so
    # a run whose process died blocks the next one at most this long.
    SYNC_LEASE_TTL_S: float = Field(60.0, ge=10, le=3600)

    @field_validator("SCHEDULE", mode="before")
    @classmethod
    def _json_object(cls, value: Any) -> Any:
        """An object var arrives as an object on Workers, as JSON text from a .env file."""
        return json.loads(value) if isinstance(value, str) else value

    @field_validator("ACCOUNTS", mode="before")
    @classmethod
    def _names(cls, value: Any) -> Any:
        """A comma-separated var (`"acme,globex"`) or a list."""
        if isinstance(value, str):
            return [name.strip() for name in value.split(",") if name.strip()]
        return value

    @classmethod
    def from_mapping(cls, values: Mapping[str, object]) -> Settings:
        """Build from any name -> value mapping; unknown names and empty values are ignored."""
        known = cls.model_fields
        return cls.model_validate(
            {
                k: v if isinstance(v, dict | list) else str(v)
                for k, v in values.items()
                if k in known and v not in (None, "")
            }
        )

    @classmethod
    def names(cls) -> list[str]:
        return list(cls.model_fields)

    def secret_values(self) -> list[str]:
        """Every secret's plain value, for scrubbing text before it leaves the process."""
        out = []
        for name in type(self).model_fields:
            value = getattr(self, name)
            if isinstance(value, SecretStr) and value.get_secret_value():
                out.append(value.get_secret_value())
        return out
