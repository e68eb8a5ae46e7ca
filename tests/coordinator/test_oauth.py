"""Connecting a Keap account over real HTTP against the sandbox: the whole OAuth dance."""

from __future__ import annotations

import asyncio
import secrets
import time
from pathlib import Path

import httpx
from pydantic import SecretStr

from local.first_run import connect_via_oauth, ensure_connected
from local.postgres import EmbeddedPostgres
from local.runtime import LocalRuntime, running
from shared.coordinator.oauth_state import new_state
from shared.rpc.client import registry_client
from shared.rpc.methods import GET_ACCESS, LIST_ACCOUNTS, STATUS
from tests.conftest import account_client, admin_headers, local_config
from tests.coordinator.conftest import object_sql


async def test_the_oauth_dance_connects_the_account(runtime: LocalRuntime) -> None:
    async with httpx.AsyncClient(timeout=30) as client:
        done = await connect_via_oauth(runtime, client)
        assert done.status_code == 200
        assert "Keap is connected" in done.text
        assert runtime.sandbox.config.tenant in done.text

        status = await client.get(
            f"{runtime.urls['sync-coordinator']}/oauth/status", headers=admin_headers(runtime)
        )
    assert status.status_code == 200
    connection = status.json()["connection"]
    assert connection["state"] == "connected"
    assert connection["auth"] == "oauth"
    assert connection["tenant"] == runtime.sandbox.config.tenant
    assert connection["access_expires_at"].endswith("Z")
    assert runtime.sandbox.grant_counts["authorization_code"] == 1

    access = await account_client(runtime).call(GET_ACCESS)
    assert access.kind == "bearer"
    async with httpx.AsyncClient() as client:  # the stored token works against Keap
        listed = await client.get(
            f"{runtime.urls['keap-sandbox']}/crm/rest/v2/tags", headers=access.headers()
        )
    assert listed.status_code == 200


async def test_initiate_requires_the_admin_token(runtime: LocalRuntime) -> None:
    url = f"{runtime.urls['sync-coordinator']}/oauth/initiate"
    async with httpx.AsyncClient() as client:
        anonymous = await client.get(url)
        wrong = await client.get(url, headers={"Authorization": "Bearer not-the-token"})
        status = await client.get(f"{runtime.urls['sync-coordinator']}/oauth/status")
    assert anonymous.status_code == 401
    assert wrong.status_code == 401
    assert status.status_code == 401
    assert anonymous.json()["error"]["message"] == "admin bearer token required"


async def test_a_callback_with_a_wrong_reused_or_expired_state_is_refused(
    runtime: LocalRuntime,
) -> None:
    coordinator = runtime.urls["sync-coordinator"]
    async with httpx.AsyncClient(timeout=30) as client:
        initiated = await client.get(
            f"{coordinator}/oauth/initiate", headers=admin_headers(runtime)
        )
        authorized = await client.get(initiated.headers["location"])
        callback = authorized.headers["location"]
        state = httpx.URL(callback).params["state"]
        code = httpx.URL(callback).params["code"]

        forged = await client.get(
            f"{coordinator}/oauth/callback", params={"state": "default.forged", "code": code}
        )
        assert forged.status_code == 400 and "not valid" in forged.text

        assert (await client.get(callback)).status_code == 200
        reused = await client.get(callback)
        assert reused.status_code == 400 and "already used" in reused.text

        # A second state that sits unused past its lifetime.
        again = await client.get(f"{coordinator}/oauth/initiate", headers=admin_headers(runtime))
        late = (await client.get(again.headers["location"])).headers["location"]
        object_sql(runtime).exec("UPDATE oauth_states SET expires_at = 0 WHERE state != ?", state)
        expired = await client.get(late)
        assert expired.status_code == 400 and "expired" in expired.text

        no_state = await client.get(f"{coordinator}/oauth/callback", params={"code": code})
        assert no_state.status_code == 400
    # Only the one good callback exchanged a code.
    assert runtime.sandbox.grant_counts["authorization_code"] == 1


async def test_a_denied_consent_is_reported_and_changes_nothing(runtime: LocalRuntime) -> None:
    coordinator = runtime.urls["sync-coordinator"]
    async with httpx.AsyncClient(timeout=30) as client:
        initiated = await client.get(
            f"{coordinator}/oauth/initiate", headers=admin_headers(runtime)
        )
        state = httpx.URL(initiated.headers["location"]).params["state"]
        denied = await client.get(
            f"{coordinator}/oauth/callback", params={"state": state, "error": "access_denied"}
        )
    assert denied.status_code == 400
    assert "not granted" in denied.text
    status = await account_client(runtime).call(STATUS)
    assert status.connection["state"] == "not_connected"


async def test_start_up_keeps_a_grant_that_works_and_replaces_one_keap_refuses(
    runtime: LocalRuntime,
) -> None:
    assert await ensure_connected(runtime) == "connected"
    assert await ensure_connected(runtime) == "connected"
    assert runtime.sandbox.grant_counts["authorization_code"] == 1, "a working grant is kept"

    runtime.sandbox.auth.revoke()  # Keap no longer honours the stored pair

    assert await ensure_connected(runtime) == "connected"
    assert runtime.sandbox.grant_counts["invalid_grant"] == 1
    assert runtime.sandbox.grant_counts["authorization_code"] == 2, "reconnected over OAuth"
    access = await account_client(runtime).call(GET_ACCESS)
    async with httpx.AsyncClient() as client:
        listed = await client.get(
            f"{runtime.urls['keap-sandbox']}/crm/rest/v2/tags", headers=access.headers()
        )
    assert listed.status_code == 200


async def test_a_restarted_runtime_is_still_connected_with_the_same_grant(
    tmp_path: Path, postgres: EmbeddedPostgres
) -> None:
    config = local_config(tmp_path, postgres.dsn)
    async with running(config) as first:
        assert await ensure_connected(first) == "connected"
        before = await account_client(first).call(GET_ACCESS)

    async with running(config) as again:  # the same state folder, as start-all does
        assert await ensure_connected(again) == "connected"
        assert again.sandbox.grant_counts["authorization_code"] == 0, "no second consent"
        assert [g["refreshes"] for g in again.sandbox.auth.summary()["grants"]] == [0]
        access = await account_client(again).call(GET_ACCESS)
        assert access.token == before.token
        async with httpx.AsyncClient() as client:
            listed = await client.get(
                f"{again.urls['keap-sandbox']}/crm/rest/v2/tags", headers=access.headers()
            )
        assert listed.status_code == 200


async def test_forged_and_expired_states_open_no_durable_object(runtime: LocalRuntime) -> None:
    """Each state names another account, as an attacker would to make objects by the
    hundred: none is opened, none is stored."""
    secret = runtime.settings.STATE_SECRET
    other_secret = SecretStr("not-the-deployment-secret")
    now = time.time()
    states = []
    for i in range(500):
        account = f"victim{i}"
        kind = i % 5
        if kind == 0:  # the old shape: an account and a nonce
            states.append(f"{account}.{secrets.token_urlsafe(24)}")
        elif kind == 1:  # signed with another key
            states.append(new_state(other_secret, account, now + 600))
        elif kind == 2:  # the signature of another state
            good = new_state(secret, "default", now + 600)
            states.append(f"{account}.{good.split('.', 1)[1]}")
        elif kind == 3:  # ours, but expired
            states.append(new_state(secret, account, now - 1))
        else:
            states.append(secrets.token_urlsafe(40))
    objects = runtime.config.state_dir / "durable_objects"
    before = sorted(p.name for p in objects.glob("*"))
    callback = f"{runtime.urls['sync-coordinator']}/oauth/callback"
    limit = asyncio.Semaphore(50)

    async def attempt(client: httpx.AsyncClient, n: int, state: str) -> httpx.Response:
        # From 250 addresses: one would be held to its rate limit long before 500.
        address = {"CF-Connecting-IP": f"198.51.100.{n % 250}"}
        async with limit:
            return await client.get(callback, params={"state": state, "code": "x"}, headers=address)

    async with httpx.AsyncClient(timeout=60) as client:
        answers = await asyncio.gather(*(attempt(client, n, s) for n, s in enumerate(states)))
    assert {a.status_code for a in answers} == {400}
    codes = [a.json()["error"]["code"] for a in answers]
    assert codes.count("expired_state") == 100
    assert codes.count("invalid_state") == 400
    assert sorted(p.name for p in objects.glob("*")) == before


async def test_an_account_exists_once_an_admin_initiates_it(runtime: LocalRuntime) -> None:
    coordinator = runtime.urls["sync-coordinator"]
    admin = admin_headers(runtime)
    async with httpx.AsyncClient(timeout=30) as client:
        before = await client.get(
            f"{coordinator}/oauth/status", params={"account": "acme"}, headers=admin
        )
        anonymous = await client.get(f"{coordinator}/oauth/initiate", params={"account": "acme"})
        reserved = await client.get(
            f"{coordinator}/oauth/initiate", params={"account": "__accounts__"}, headers=admin
        )
        initiated = await client.get(
            f"{coordinator}/oauth/initiate", params={"account": "acme"}, headers=admin
        )
        after = await client.get(
            f"{coordinator}/oauth/status", params={"account": "acme"}, headers=admin
        )
        done = await client.get(
            (await client.get(initiated.headers["location"])).headers["location"]
        )
    assert before.status_code == 404 and before.json()["error"]["code"] == "unknown_account"
    assert anonymous.status_code == 401
    assert reserved.status_code == 400 and reserved.json()["error"]["code"] == "bad_account"
    assert initiated.status_code == 302
    assert after.status_code == 200 and after.json()["connection"]["state"] == "not_connected"
    assert done.status_code == 200 and "Account &#x27;acme&#x27; is connected" in done.text
    assert runtime.envs is not None
    accounts = await registry_client(runtime.envs.coordinator).call(LIST_ACCOUNTS)
    assert [(a.account, a.source) for a in accounts] == [
        ("default", "default"),
        ("acme", "registered"),
    ]
