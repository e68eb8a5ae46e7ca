"""The sync-coordinator worker's HTTP app: connecting a Keap account, and health.

Everything else the coordinator offers (tokens, sync state, the event queue) is RPC
over the service binding, which the internet cannot reach.
"""

from __future__ import annotations

import time
from typing import Any

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import ValidationError

from shared.coordinator.oauth_state import verify_state
from shared.platform.env import Env
from shared.platform.limits import hold_account, hold_ip
from shared.platform.wire import CoordinatorError
from shared.rpc.client import check_account, coordinator_client, registry_client
from shared.rpc.methods import (
    BEGIN_OAUTH,
    COMPLETE_OAUTH,
    HOOKS_DELETE,
    HOOKS_LIST,
    HOOKS_REGISTER,
    HOOKS_REVERIFY,
    REGISTER_ACCOUNT,
    STATUS,
    AccountName,
    HookKeys,
    OAuthCallback,
)
from shared.web.app import AccountParam, create_worker_app
from shared.web.auth import require_admin, wants_html
from shared.web.errors import error_body
from sync_coordinator.pages import OUTCOMES, page

app = create_worker_app("sync-coordinator", accounts=True)
Admin = Depends(require_admin)


async def ip_within_limit(request: Request, env: Env) -> None:
    """/oauth/* hold each client IP to its rate limit before anything else (admin auth too)."""
    await hold_ip(request, env.ip_limiter)


WithinLimit = Depends(ip_within_limit)


@app.get("/oauth/initiate", dependencies=[WithinLimit, Admin])
async def oauth_initiate(env: Env, account: AccountParam = None) -> JSONResponse:
    """Create the account if it is new, and send the admin to Keap's consent page with a
    one-time, signed, expiring state."""
    name = check_account(account or env.settings.DEFAULT_ACCOUNT)
    await hold_account(env.account_limiter, name)
    await registry_client(env).call(REGISTER_ACCOUNT, AccountName(account=name))
    started = await coordinator_client(env, name).call(BEGIN_OAUTH)
    return JSONResponse(started.model_dump(), 302, headers={"Location": started.authorize_url})


@app.get("/oauth/callback", response_class=HTMLResponse, dependencies=[WithinLimit])
async def oauth_callback(
    request: Request,
    env: Env,
    state: str = "",
    code: str | None = None,
    error: str | None = None,
) -> Response:
    """Keap's redirect back. Public by necessity: the signed state is checked here, before
    any Durable Object is opened, and its account's object then accepts it once."""
    try:
        account = verify_state(env.settings.STATE_SECRET, state, time.time())
        await hold_account(env.account_limiter, account)
        try:
            callback = OAuthCallback(state=state, code=code, error=error)
        except ValidationError:
            message = "the callback's values are too long"
            raise CoordinatorError("invalid_request", message, 400) from None
        result = await coordinator_client(env, account).call(COMPLETE_OAUTH, callback)
    except CoordinatorError as exc:
        return _callback_failed(request, exc)
    tenant = result.tenant or "your Keap app"
    message = f"Account '{result.account}' is connected to {tenant}. You can close this page."
    return HTMLResponse(page("Keap is connected", message, ok=True))


def _callback_failed(request: Request, exc: CoordinatorError) -> Response:
    """The page a person sees, or a JSON error for anything that is not a browser."""
    title, message = OUTCOMES.get(exc.code, ("Connection failed", exc.message))
    status = exc.status if exc.status < 500 or exc.code == "not_configured" else 502
    if wants_html(request):
        return HTMLResponse(page(title, message, ok=False), status)
    return JSONResponse(error_body(status, f"{title}: {message}", exc.code), status)


@app.get("/oauth/status", dependencies=[WithinLimit, Admin])
async def oauth_status(env: Env, account: AccountParam = None) -> dict[str, Any]:
    """The account, its connection state and expiry times; never a token."""
    status = await coordinator_client(env, account).call(STATUS)
    return {"account": status.account, "connection": status.connection}


# --- Keap REST hook subscriptions (shared/webhooks/subscriptions.py) ---------------------------
@app.post("/hooks/register", dependencies=[Admin])
async def hooks_register(
    env: Env, account: AccountParam = None, body: HookKeys | None = None
) -> dict[str, Any]:
    """Subscribe the webhook handler to Keap's events; safe to repeat."""
    keys = body or HookKeys()
    return {"hooks": await coordinator_client(env, account).call(HOOKS_REGISTER, keys)}


@app.get("/hooks", dependencies=[Admin])
async def hooks_list(env: Env, account: AccountParam = None) -> dict[str, Any]:
    """Our subscriptions and their status (Verified, Unverified, Inactive)."""
    return {"hooks": await coordinator_client(env, account).call(HOOKS_LIST)}


@app.delete("/hooks", dependencies=[Admin])
async def hooks_delete(env: Env, account: AccountParam = None) -> dict[str, Any]:
    """Remove every subscription that points at the webhook handler."""
    return {"hooks": await coordinator_client(env, account).call(HOOKS_DELETE)}


@app.post("/hooks/reverify", dependencies=[Admin])
async def hooks_reverify(env: Env, account: AccountParam = None) -> dict[str, Any]:
    """Revive subscriptions Keap turned Inactive (the scheduled run does this every 30 min)."""
    return {"hooks": await coordinator_client(env, account).call(HOOKS_REVERIFY)}
