"""The local runtime's configuration: ports, state folder, database, worker vars.

Everything has an embedded default, so a fresh checkout runs with no settings at all:
the Keap sandbox stands in for Keap and an embedded Postgres for Supabase. Any worker
var or secret can be overridden from the environment under its binding name, and
`DATABASE_URL` points the workers at an existing Postgres instead.
"""

from __future__ import annotations

import json
import os
import secrets
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from local.files import write_private
from shared.config import Settings

ROOT = Path(__file__).resolve().parent.parent
SANDBOX_CLIENT_ID = "sandbox-client"
SANDBOX_CLIENT_SECRET = "sandbox-secret"  # noqa: S105 - the sandbox's public dev credential
WORKER_DIRS = ("sync_coordinator", "sync_worker", "webhook_handler")


def wrangler_vars() -> dict[str, Any]:
    """The `[vars]` of the three workers' wrangler.toml files, as deployed (the schedule too)."""
    merged: dict[str, Any] = {}
    for folder in WORKER_DIRS:
        with (ROOT / folder / "wrangler.toml").open("rb") as f:
            merged.update(tomllib.load(f).get("vars", {}))
    return merged


class LocalConfig(BaseModel):
    host: str = "127.0.0.1"
    coordinator_port: int = 8787
    sync_worker_port: int = 8788
    webhook_port: int = 8789
    sandbox_port: int = 8790
    postgres_port: int = 54329
    state_dir: Path = ROOT / ".state"
    database_url: str | None = None
    sandbox: bool = True
    sandbox_contacts: int = 2000
    cron: bool = True
    vars: dict[str, Any] = {}
    # Per-period limits of the `ratelimit` bindings by name, instead of wrangler.toml's (a
    # benchmark of acknowledgement alone lifts them; tests lower them).
    rate_limits: dict[str, int] = {}

    @classmethod
    def from_environ(
        cls, environ: Mapping[str, str] | None = None, **overrides: object
    ) -> LocalConfig:
        environ = os.environ if environ is None else environ
        config = cls(**overrides)  # type: ignore[arg-type]
        updates: dict[str, object] = {}
        if environ.get("LOCAL_STATE_DIR"):
            updates["state_dir"] = Path(environ["LOCAL_STATE_DIR"])
        if environ.get("DATABASE_URL"):
            updates["database_url"] = environ["DATABASE_URL"]
        if environ.get("SANDBOX_CONTACTS"):
            updates["sandbox_contacts"] = int(environ["SANDBOX_CONTACTS"])
        config = config.model_copy(update=updates)
        worker_vars = config.default_vars()
        worker_vars.update({k: v for k, v in environ.items() if k in Settings.names() and v})
        worker_vars.update(config.vars)
        return config.model_copy(update={"vars": worker_vars})

    def url(self, port: int) -> str:
        return f"http://{self.host}:{port}"

    def default_vars(self) -> dict[str, Any]:
        """The workers' deployed vars, pointed at the sandbox, plus generated local secrets."""
        sandbox = self.url(self.sandbox_port)
        return {
            **wrangler_vars(),
            "KEAP_API_BASE": f"{sandbox}/crm/rest",
            "KEAP_TOKEN_URL": f"{sandbox}/token",
            "KEAP_AUTHORIZE_URL": f"{sandbox}/app/oauth/authorize",
            "KEAP_CLIENT_ID": SANDBOX_CLIENT_ID,
            "KEAP_CLIENT_SECRET": SANDBOX_CLIENT_SECRET,
            "KEAP_REDIRECT_URI": f"{self.url(self.coordinator_port)}/oauth/callback",
            "WEBHOOK_PUBLIC_URL": f"{self.url(self.webhook_port)}/webhook",
            **self.local_secrets(),
        }

    def local_secrets(self) -> dict[str, str]:
        """ADMIN_TOKEN, KEAP_WEBHOOK_SECRET and STATE_SECRET for local use, made once per
        state folder (one missing from an older folder is added)."""
        path = self.state_dir / "local-secrets.json"
        values = dict(json.loads(path.read_text())) if path.exists() else {}
        made = {
            "ADMIN_TOKEN": lambda: secrets.token_urlsafe(24),
            "KEAP_WEBHOOK_SECRET": lambda: secrets.token_urlsafe(32),
            "STATE_SECRET": lambda: secrets.token_urlsafe(32),
        }
        missing = {name: make() for name, make in made.items() if name not in values}
        if missing:
            values.update(missing)
            write_private(path, json.dumps(values, indent=2))
        return values
