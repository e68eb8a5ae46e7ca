"""What `python -m local` does after start-up so that a first sync can be seen.

Against the Keap sandbox it plays the admin: opens `/oauth/initiate` with the local
admin token, lets the sandbox's consent page approve, and lands on our callback,
exactly the requests a person's browser would make.
"""

from __future__ import annotations

import logging

import httpx

from local.runtime import LocalRuntime

log = logging.getLogger("local.first_run")


def admin_headers(rt: LocalRuntime) -> dict[str, str]:
    token = rt.settings.ADMIN_TOKEN
    if token is None:
        raise RuntimeError("ADMIN_TOKEN is not set")
    return {"Authorization": f"Bearer {token.get_secret_value()}"}


async def connect_via_oauth(
    rt: LocalRuntime, client: httpx.AsyncClient, account: str | None = None
) -> httpx.Response:
    """The whole dance over HTTP: initiate (admin), Keap's authorize page, our callback."""
    coordinator = rt.urls["sync-coordinator"]
    params = {"account": account} if account else {}
    initiated = await client.get(
        f"{coordinator}/oauth/initiate", params=params, headers=admin_headers(rt)
    )
    if initiated.status_code != 302:
        raise RuntimeError(f"/oauth/initiate answered {initiated.status_code}: {initiated.text}")
    authorize = await client.get(initiated.headers["location"])
    if authorize.status_code != 302:
        raise RuntimeError(f"the authorize page answered {authorize.status_code}")
    return await client.get(authorize.headers["location"])


async def _state(rt: LocalRuntime, client: httpx.AsyncClient) -> str:
    status = await client.get(
        f"{rt.urls['sync-coordinator']}/oauth/status", headers=admin_headers(rt)
    )
    return str(status.json()["connection"]["state"])


async def grant_works(rt: LocalRuntime, client: httpx.AsyncClient) -> tuple[bool, str]:
    """A cheap authenticated Keap call through the coordinator (listing the hook
    subscriptions), which refreshes the pair if Keap refuses the access token."""
    probe = await client.get(f"{rt.urls['sync-coordinator']}/hooks", headers=admin_headers(rt))
    if probe.status_code == 200:
        return True, ""
    error = probe.json().get("error") or {}
    return False, f"{error.get('code') or probe.status_code}: {error.get('message', '')}"


async def ensure_connected(rt: LocalRuntime) -> str:
    """Connect the default account to the sandbox unless its stored grant still works.

    "connected" in the coordinator's books is not enough: Keap (or a sandbox started
    without its state) may no longer know the grant. A grant Keap refuses is replaced
    through the real OAuth routes; any other failure is raised, not papered over.
    """
    async with httpx.AsyncClient(timeout=30) as client:
        if await _state(rt, client) == "connected":
            works, problem = await grant_works(rt, client)
            if works:
                return "connected"
            if await _state(rt, client) == "connected":
                raise RuntimeError(f"the stored Keap grant could not be checked: {problem}")
            log.warning("Keap no longer accepts the stored grant (%s); reconnecting", problem)
        done = await connect_via_oauth(rt, client)
        if done.status_code != 200:
            raise RuntimeError(f"connecting to the Keap sandbox failed: {done.status_code}")
        works, problem = await grant_works(rt, client)
        if not works:
            raise RuntimeError(f"the new Keap grant does not work: {problem}")
    return "connected"
