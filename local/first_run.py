"""What `python -m local` does after start-up so that a first sync can be seen.

Against the Keap sandbox it plays the admin: opens `/oauth/initiate` with the local
admin token, lets the sandbox's consent page approve, and lands on our callback,
exactly the requests a person's browser would make.
"""

from __future__ import annotations

import httpx

from local.runtime import LocalRuntime


def admin_headers(rt: LocalRuntime) -> dict[str, str]:
    token = rt.settings.ADMIN_TOKEN
    if token is None:
        raise RuntimeError("ADMIN_TOKEN is not set")
    return {"Authorization": f"Bearer {token.get_secret_value()}"}


async def connect_via_oauth(rt: LocalRuntime, client: httpx.AsyncClient) -> httpx.Response:
    """The whole dance over HTTP: initiate (admin), Keap's authorize page, our callback."""
    coordinator = rt.urls["sync-coordinator"]
    initiated = await client.get(f"{coordinator}/oauth/initiate", headers=admin_headers(rt))
    if initiated.status_code != 302:
        raise RuntimeError(f"/oauth/initiate answered {initiated.status_code}: {initiated.text}")
    authorize = await client.get(initiated.headers["location"])
    if authorize.status_code != 302:
        raise RuntimeError(f"the authorize page answered {authorize.status_code}")
    return await client.get(authorize.headers["location"])


async def ensure_connected(rt: LocalRuntime) -> str:
    """Connect the default account to the sandbox unless it is connected; its state."""
    async with httpx.AsyncClient(timeout=30) as client:
        status = await client.get(
            f"{rt.urls['sync-coordinator']}/oauth/status", headers=admin_headers(rt)
        )
        if status.json()["connection"]["state"] == "connected":
            return "connected"
        done = await connect_via_oauth(rt, client)
        if done.status_code != 200:
            raise RuntimeError(f"connecting to the Keap sandbox failed: {done.status_code}")
    return "connected"
