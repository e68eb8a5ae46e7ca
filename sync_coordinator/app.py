"""The sync-coordinator worker's HTTP app: connecting a Keap account, and health.

Everything else the coordinator offers (tokens, sync state, the event queue) is RPC
over the service binding, which the internet cannot reach.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import Depends, Query
from fastapi.responses import HTMLResponse, JSONResponse
from pydantic import BaseModel, Field

from shared.platform.env import Env, WorkerEnv
from shared.platform.wire import CoordinatorError
from shared.rpc.client import CoordinatorClient
from shared.web.app import create_worker_app
from shared.web.auth import require_admin
from sync_coordinator.pages import OUTCOMES, page

app = create_worker_app("sync-coordinator")
Admin = Depends(require_admin)
ACCOUNT = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def coordinator(env: WorkerEnv, account: str | None) -> CoordinatorClient:
    name = account or env.settings.DEFAULT_ACCOUNT
    if not ACCOUNT.match(name):
        raise CoordinatorError("bad_account", "account names are 1-64 letters, digits, - or _", 400)
    assert env.coordinator is not None, "the coordinator worker always has its Durable Object"
    return CoordinatorClient(env.coordinator, name)


AccountParam = Annotated[str | None, Query(description="Keap account; default DEFAULT_ACCOUNT")]


@app.get("/oauth/initiate", dependencies=[Admin])
async def oauth_initiate(env: Env, account: AccountParam = None) -> JSONResponse:
    """Send the admin to Keap's consent page with a one-time, expiring state."""
    started = await coordinator(env, account).call("begin_oauth")
    return JSONResponse(started, 302, headers={"Location": started["authorize_url"]})


@app.get("/oauth/callback", response_class=HTMLResponse)
async def oauth_callback(
    env: Env, state: str = "", code: str | None = None, error: str | None = None
) -> HTMLResponse:
    """Keap's redirect back. Public by necessity; the one-time state is what protects it."""
    account, _, _ = state.partition(".")
    if not state or not ACCOUNT.match(account):
        title, message = OUTCOMES["invalid_state"]
        return HTMLResponse(page(title, message, ok=False), 400)
    try:
        result = await coordinator(env, account).call(
            "complete_oauth", state=state, code=code, error=error
        )
    except CoordinatorError as exc:
        title, message = OUTCOMES.get(exc.code, ("Connection failed", exc.message))
        return HTMLResponse(page(title, message, ok=False), exc.status if exc.status < 500 else 502)
    tenant = result.get("tenant") or "your Keap app"
    message = f"Account '{result['account']}' is connected to {tenant}. You can close this page."
    return HTMLResponse(page("Keap is connected", message, ok=True))


@app.get("/oauth/status", dependencies=[Admin])
async def oauth_status(env: Env, account: AccountParam = None) -> dict[str, Any]:
    """The account, its connection state and expiry times; never a token."""
    status = await coordinator(env, account).status()
    return {"account": status["account"], "connection": status["connection"]}


# --- Keap REST hook subscriptions (shared/webhooks/subscriptions.py) ---------------------------
class HookRegistration(BaseModel):
    event_keys: list[Annotated[str, Field(max_length=100)]] | None = Field(
        None, max_length=200, description="default: add, edit, delete of every synced object"
    )


@app.post("/hooks/register", dependencies=[Admin])
async def hooks_register(
    env: Env, account: AccountParam = None, body: HookRegistration | None = None
) -> dict[str, Any]:
    """Subscribe the webhook handler to Keap's events; safe to repeat."""
    keys = body.event_keys if body else None
    return {"hooks": await coordinator(env, account).hooks_register(keys)}


@app.get("/hooks", dependencies=[Admin])
async def hooks_list(env: Env, account: AccountParam = None) -> dict[str, Any]:
    """Our subscriptions and their status (Verified, Unverified, Inactive)."""
    return {"hooks": await coordinator(env, account).hooks_list()}


@app.delete("/hooks", dependencies=[Admin])
async def hooks_delete(env: Env, account: AccountParam = None) -> dict[str, Any]:
    """Remove every subscription that points at the webhook handler."""
    return {"hooks": await coordinator(env, account).hooks_delete()}


@app.post("/hooks/reverify", dependencies=[Admin])
async def hooks_reverify(env: Env, account: AccountParam = None) -> dict[str, Any]:
    """Revive subscriptions Keap turned Inactive (the scheduled run does this every 30 min)."""
    return {"hooks": await coordinator(env, account).hooks_reverify()}
