"""Hook subscriptions through the coordinator's admin routes, against the sandbox's v1 hooks."""

from __future__ import annotations

import httpx

from local.asgi import with_env
from local.runtime import LocalRuntime
from local.serve import AppServer
from shared.webhooks.auth import hook_token
from shared.webhooks.events import DEFAULT_EVENT_KEYS
from tests.conftest import admin_headers
from tests.timing import wait_for
from tests.webhooks.conftest import drained
from webhook_handler.app import app as webhook_app


def hooks_url(rt: LocalRuntime, path: str = "") -> str:
    return f"{rt.urls['sync-coordinator']}/hooks{path}"


def sandbox_hooks(rt: LocalRuntime) -> dict[str, str]:
    """eventKey -> status, as Keap has them."""
    return {h.event_key: h.status for h in rt.sandbox.hooks.hooks.values()}


async def test_registering_subscribes_every_synced_event_once(live: LocalRuntime) -> None:
    # `live` registered once already; registering again changes nothing.
    async with httpx.AsyncClient(timeout=30) as client:
        again = await client.post(hooks_url(live, "/register"), headers=admin_headers(live))
        listed = await client.get(hooks_url(live), headers=admin_headers(live))
    assert again.status_code == 200
    assert {h["result"] for h in again.json()["hooks"]} == {"unchanged"}
    assert sandbox_hooks(live) == dict.fromkeys(DEFAULT_EVENT_KEYS, "Verified")
    assert len(live.sandbox.hooks.hooks) == len(DEFAULT_EVENT_KEYS)
    assert {h["eventKey"] for h in listed.json()["hooks"]} == set(DEFAULT_EVENT_KEYS)
    secret = live.settings.KEAP_WEBHOOK_SECRET
    assert secret is not None
    assert hook_token(secret, "default") not in again.text + listed.text  # token redacted


async def test_keys_keap_lacks_or_another_url_holds_are_reported_not_forced(
    live: LocalRuntime,
) -> None:
    async with httpx.AsyncClient(timeout=30) as client:
        await client.delete(hooks_url(live), headers=admin_headers(live))
        await live.sandbox.hooks.create("contact.add", "https://elsewhere.example/hook")
        response = await client.post(
            hooks_url(live, "/register"),
            headers=admin_headers(live),
            json={"event_keys": ["contact.add", "contact.edit", "widget.add", "appointment.add"]},
        )
    results = {h["eventKey"]: h["result"] for h in response.json()["hooks"]}
    assert results == {
        "contact.add": "held_by_another_url",
        "contact.edit": "created",
        "widget.add": "not_synced",
        "appointment.add": "not_synced",
    }
    assert sandbox_hooks(live) == {"contact.add": "Unverified", "contact.edit": "Verified"}


async def test_deleting_removes_only_our_subscriptions(live: LocalRuntime) -> None:
    await live.sandbox.hooks.create("user.add", "https://elsewhere.example/hook")
    async with httpx.AsyncClient(timeout=30) as client:
        response = await client.delete(hooks_url(live), headers=admin_headers(live))
        unauthenticated = await client.delete(hooks_url(live))
    assert response.status_code == 200
    assert {h["result"] for h in response.json()["hooks"]} == {"deleted"}
    assert unauthenticated.status_code == 401
    assert list(sandbox_hooks(live)) == ["user.add"]


async def test_the_scheduled_run_revives_hooks_keap_turned_inactive(live: LocalRuntime) -> None:
    """The handler is unreachable for a while, Keap gives up on the hook after four
    failures; the next */30 run re-verifies it and deliveries flow again."""
    assert live.envs is not None
    handler = live.servers["webhook-handler"]
    port = handler.port
    await handler.stop()
    live.sandbox.update_config(hook_time_scale=0.001)  # Keap's four tries within seconds
    live.sandbox.make_changes(n_edits=1)

    async def inactive() -> bool:
        return sandbox_hooks(live)["contact.edit"] == "Inactive"

    await wait_for(inactive, 30, "Keap to give up on contact.edit")
    restarted = AppServer(with_env(webhook_app, live.envs.webhook_handler), port)
    await restarted.start()
    live.servers["webhook-handler"] = restarted

    await live.run_scheduled("*/30 * * * *")

    assert sandbox_hooks(live)["contact.edit"] == "Verified"
    edited = live.sandbox.make_changes(n_edits=1)["edited"]
    status = await drained(live)
    assert status["totals"]["applied"] >= len(edited)


async def test_hook_routes_say_when_no_keap_account_is_connected(
    handler_runtime: LocalRuntime,
) -> None:
    url = f"{handler_runtime.urls['sync-coordinator']}/hooks"
    async with httpx.AsyncClient() as client:
        listed = await client.get(url, headers=admin_headers(handler_runtime))
        anonymous = await client.get(url)
    assert listed.status_code == 409
    assert listed.json()["error"]["code"] == "not_connected"
    assert anonymous.status_code == 401
