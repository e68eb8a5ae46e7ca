"""Tokens that never get lost: one refresh at a time, stored before use, revocation seen."""

from __future__ import annotations

import asyncio
import json
import logging

import httpx
import pytest

from local.bindings import LocalDurableObjectNamespace
from local.first_run import connect_via_oauth
from local.runtime import LocalRuntime
from local.serve import serve
from shared.coordinator.durable import CoordinatorObject
from shared.platform.wire import CoordinatorError
from shared.rpc.methods import GET_ACCESS, PING, REPORT_UNAUTHORIZED, Rejected
from tests.conftest import account_client, admin_headers
from tests.coordinator.conftest import object_sql
from tests.timing import wait_for


async def _connect(rt: LocalRuntime) -> None:
    async with httpx.AsyncClient(timeout=30) as client:
        assert (await connect_via_oauth(rt, client)).status_code == 200


async def test_100_concurrent_requests_across_the_expiry_refresh_exactly_once(
    runtime: LocalRuntime,
) -> None:
    # Keap's access tokens will have 301 s to live: fresh now, due for refresh a second later.
    runtime.sandbox.config.access_token_ttl = 301
    await _connect(runtime)
    client = account_client(runtime)
    first = await client.call(GET_ACCESS)
    runtime.clock.advance(1.1)  # fresh for 299.9 s more: under the 300 s margin

    accesses = await asyncio.gather(*(client.call(GET_ACCESS) for _ in range(100)))

    grants = runtime.sandbox.grant_counts
    assert grants["refresh_token"] == 1
    assert grants["invalid_grant"] == 0
    tokens = {a.token for a in accesses}
    assert len(tokens) == 1 and first.token not in tokens
    async with httpx.AsyncClient() as http:
        listed = await http.get(
            f"{runtime.urls['keap-sandbox']}/crm/rest/v2/tags", headers=accesses[0].headers()
        )
    assert listed.status_code == 200


async def test_a_401_refreshes_once_and_a_stale_401_does_not(runtime: LocalRuntime) -> None:
    await _connect(runtime)
    client = account_client(runtime)
    old = await client.call(GET_ACCESS)
    fresh = await client.call(REPORT_UNAUTHORIZED, Rejected(token=old.token))
    # A second caller with the old token:
    again = await client.call(REPORT_UNAUTHORIZED, Rejected(token=old.token))
    assert fresh.token != old.token
    assert again.token == fresh.token
    assert runtime.sandbox.grant_counts["refresh_token"] == 1


async def test_the_alarm_refreshes_before_the_access_token_expires(runtime: LocalRuntime) -> None:
    await _connect(runtime)
    # The stored access token ends in 10 s; the alarm is due half way, and time moves on.
    object_sql(runtime).exec(
        "UPDATE oauth_tokens SET access_expires_at = ?, refreshed_at = ?",
        runtime.clock() + 10,
        runtime.clock(),
    )
    runtime.clock.advance(6)
    await account_client(runtime).call(PING)  # any call re-arms the alarm
    await wait_for(lambda: runtime.sandbox.grant_counts["refresh_token"] > 0, 15, "a refresh")
    assert runtime.sandbox.grant_counts["invalid_grant"] == 0


async def test_a_restart_in_the_middle_of_a_refresh_ends_with_a_working_pair(
    runtime: LocalRuntime,
) -> None:
    """The coordinator dies while its refresh request is on the wire, before Keap acts."""
    runtime.sandbox.config.access_token_ttl = 301
    sandbox_token_url = f"{runtime.urls['keap-sandbox']}/token"
    arrived = asyncio.Event()

    async def slow_token_relay(scope, receive, send):  # type: ignore[no-untyped-def]
        """Stands between us and the sandbox: forwards only if the caller is still there."""
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        arrived.set()
        try:
            message = await asyncio.wait_for(receive(), 2.0)
            if message["type"] == "http.disconnect":
                return  # the caller is gone: the request never reaches Keap
        except TimeoutError:
            pass
        headers = {k.decode(): v.decode() for k, v in scope["headers"] if k != b"host"}
        async with httpx.AsyncClient() as http:
            answer = await http.post(sandbox_token_url, content=body, headers=headers)
        await send(
            {
                "type": "http.response.start",
                "status": answer.status_code,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "http.response.body", "body": answer.content})

    await _connect(runtime)
    first_refresh_token = object_sql(runtime).exec("SELECT refresh_token FROM oauth_tokens")[0]
    runtime.clock.advance(1.1)  # the access token is now due for refresh

    async with serve(slow_token_relay) as relay:
        namespace = runtime._namespace
        assert namespace is not None
        obj = namespace.get("default")
        obj.logic.tokens.settings = obj.logic.tokens.settings.model_copy(
            update={"KEAP_TOKEN_URL": f"{relay.url}/token"}
        )
        refresh = asyncio.create_task(account_client(runtime).call(GET_ACCESS))
        await asyncio.wait_for(arrived.wait(), 10)
        refresh.cancel()  # the object is killed mid-refresh ...
        with pytest.raises(asyncio.CancelledError):
            await refresh
        await namespace.close()  # ... and its storage closed, as an eviction would

    # A new instance on the same storage (the token URL is the real one again).
    assert runtime.envs is not None
    revived = LocalDurableObjectNamespace(
        runtime.config.state_dir / "durable_objects",
        lambda: runtime.envs.coordinator,  # type: ignore[union-attr]
        lambda storage, env, name: CoordinatorObject(storage, env, name, runtime.clock),
        runtime.clock,
    )
    try:
        row = revived.get("default").storage.sql.exec("SELECT * FROM oauth_tokens")[0]
        assert row["refresh_started_at"] is not None  # the interrupted refresh is on record
        assert row["refresh_token"] == first_refresh_token["refresh_token"]
        reply = json.loads(await revived.call("default", "get_access", "{}"))
        assert reply["ok"], reply
        assert runtime.sandbox.grant_counts["refresh_token"] == 1
        assert runtime.sandbox.grant_counts["invalid_grant"] == 0
        async with httpx.AsyncClient() as http:
            listed = await http.get(
                f"{runtime.urls['keap-sandbox']}/crm/rest/v2/tags",
                headers={"Authorization": f"Bearer {reply['result']['token']}"},
            )
        assert listed.status_code == 200
    finally:
        await revived.close()
        runtime._namespace = None  # already closed


async def test_a_revoked_grant_is_reported_everywhere_without_leaking_secrets(
    runtime: LocalRuntime, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    responses: list[str] = []
    await _connect(runtime)
    issued = object_sql(runtime).exec("SELECT access_token, refresh_token FROM oauth_tokens")[0]

    runtime.sandbox.auth.revoke()
    client = account_client(runtime)
    current = await client.call(GET_ACCESS)
    with pytest.raises(CoordinatorError) as refused:
        # What a sync does on a 401:
        await client.call(REPORT_UNAUTHORIZED, Rejected(token=current.token))
    assert refused.value.code == "reauthorization_required"
    with pytest.raises(CoordinatorError) as again:
        await client.call(GET_ACCESS)
    assert again.value.code == "reauthorization_required"
    assert runtime.sandbox.grant_counts["invalid_grant"] == 1  # tried once, not forever

    async with httpx.AsyncClient(timeout=30) as http:
        health = await http.get(f"{runtime.urls['sync-coordinator']}/health")
        detail = await http.get(
            f"{runtime.urls['sync-coordinator']}/health/detail", headers=admin_headers(runtime)
        )
        worker_health = await http.get(f"{runtime.urls['sync-worker']}/health")
        status = await http.get(
            f"{runtime.urls['sync-coordinator']}/oauth/status", headers=admin_headers(runtime)
        )
        responses += [health.text, detail.text, worker_health.text, status.text]
    assert health.status_code == 503
    assert health.json()["checks"]["keap"] == "fail"
    keap = detail.json()["services"]["keap"]
    assert keap["accounts"] == {"default": "reauthorization_required"}
    assert "reconnect" in keap["error"]
    assert worker_health.status_code == 503 and worker_health.json()["checks"]["keap"] == "fail"
    assert status.json()["connection"]["state"] == "reauthorization_required"

    settings = runtime.settings
    secrets = [issued["access_token"], issued["refresh_token"], *settings.secret_values()]
    logged = "\n".join(record.getMessage() for record in caplog.records)
    for secret in secrets:
        assert secret not in logged
        for text in responses:
            assert secret not in text
