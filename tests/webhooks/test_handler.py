"""The webhook handler as Keap (and an attacker) meets it: real HTTP, real coordinator."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx
import pytest

from local.asgi import with_env
from local.bindings import LocalCoordinatorService, LocalDurableObjectNamespace
from local.runtime import LocalRuntime
from local.serve import serve
from shared.platform.env import WorkerEnv
from shared.platform.wire import CoordinatorError
from shared.rpc.methods import QUEUE_STATUS
from shared.web.health import QUEUE_STUCK_AGE_S
from shared.webhooks.auth import body_signature
from tests.conftest import account_client, admin_headers
from tests.webhooks.conftest import delivery, queue_depth, url_for
from webhook_handler.app import app as webhook_app


def endpoint(rt: LocalRuntime) -> str:
    return f"{rt.urls['webhook-handler']}/webhook"


async def test_handshake_echoes_the_secret_on_the_authenticated_url(
    handler_runtime: LocalRuntime,
) -> None:
    async with httpx.AsyncClient() as client:
        ok = await client.post(url_for(handler_runtime), headers={"X-Hook-Secret": "s3cr3t-value"})
        forged = await client.post(
            f"{endpoint(handler_runtime)}?account=default&token={'0' * 64}",
            headers={"X-Hook-Secret": "s3cr3t-value"},
        )
        bare = await client.post(endpoint(handler_runtime), headers={"X-Hook-Secret": "x"})
    assert ok.status_code == 200
    assert ok.headers["X-Hook-Secret"] == "s3cr3t-value"
    assert forged.status_code == 401 and "X-Hook-Secret" not in forged.headers
    assert bare.status_code == 401


async def test_a_delivery_is_queued_once_however_often_keap_repeats_it(
    handler_runtime: LocalRuntime,
) -> None:
    body = delivery("contact.edit", [11, 12, 13, 12])  # 12 twice in one delivery
    async with httpx.AsyncClient() as client:
        first = await client.post(url_for(handler_runtime), json=body)
        again = await client.post(url_for(handler_runtime), json=body)
    assert first.status_code == 200, first.text
    assert first.json() == {"accepted": 3, "duplicates": 0, "ignored": 0}
    assert again.json() == {"accepted": 0, "duplicates": 3, "ignored": 0}
    assert await queue_depth(handler_runtime) == 3


async def test_the_same_object_changed_again_is_a_new_event(
    handler_runtime: LocalRuntime,
) -> None:
    async with httpx.AsyncClient() as client:
        await client.post(url_for(handler_runtime), json=delivery("contact.edit", [5], at=1))
        later = await client.post(
            url_for(handler_runtime), json=delivery("contact.edit", [5], at=2)
        )
        deleted = await client.post(
            url_for(handler_runtime), json=delivery("contact.delete", [5], at=2)
        )
    assert later.json()["accepted"] == 1
    assert deleted.json()["accepted"] == 1
    status = await account_client(handler_runtime).call(QUEUE_STATUS)
    assert status["depth"] == 3
    assert {(q["stream"], q["action"], q["n"]) for q in status["queued"]} == {
        ("contacts", "upsert", 2),
        ("contacts", "delete", 1),
    }


async def test_a_relay_may_sign_the_body_instead(handler_runtime: LocalRuntime) -> None:
    secret = handler_runtime.settings.KEAP_WEBHOOK_SECRET
    assert secret is not None
    raw = json.dumps(delivery("order.add", [7])).encode()
    headers = {"Content-Type": "application/json"}
    async with httpx.AsyncClient() as client:
        signed = await client.post(
            endpoint(handler_runtime),
            content=raw,
            headers={**headers, "X-Hook-Signature": body_signature(secret, raw)},
        )
        tampered = await client.post(
            endpoint(handler_runtime),
            content=raw.replace(b"7", b"8"),
            headers={**headers, "X-Hook-Signature": body_signature(secret, raw)},
        )
    assert signed.status_code == 200 and signed.json()["accepted"] == 1
    assert tampered.status_code == 401


async def test_a_token_for_one_account_does_not_open_another(
    handler_runtime: LocalRuntime,
) -> None:
    other = url_for(handler_runtime, "other").replace("account=other", "account=default")
    async with httpx.AsyncClient() as client:
        response = await client.post(other, json=delivery("contact.add", [1]))
        theirs = await client.post(
            url_for(handler_runtime, "other"), json=delivery("contact.add", [1])
        )
    assert response.status_code == 401
    assert theirs.status_code == 200
    assert await queue_depth(handler_runtime, "default") == 0
    assert await queue_depth(handler_runtime, "other") == 1


async def test_a_delete_for_an_account_nobody_connected_is_refused_unopened(
    handler_runtime: LocalRuntime,
) -> None:
    """The ghost account's URL token is right (it is derived from the secret), but no admin
    connected `ghost`: 404, nothing queued anywhere, and no object made for it."""
    objects = handler_runtime.config.state_dir / "durable_objects"
    await queue_depth(handler_runtime)  # the default account's object exists
    before = sorted(p.name for p in objects.glob("*"))
    async with httpx.AsyncClient() as client:
        ghost = await client.post(
            url_for(handler_runtime, "ghost"), json=delivery("contact.delete", [1])
        )
        handshake = await client.post(
            url_for(handler_runtime, "ghost"), headers={"X-Hook-Secret": "s3cr3t"}
        )
        status = await client.get(
            f"{handler_runtime.urls['sync-worker']}/sync/status",
            params={"account": "ghost"},
            headers=admin_headers(handler_runtime),
        )
        run = await client.post(
            f"{handler_runtime.urls['sync-worker']}/sync/full",
            params={"account": "ghost"},
            headers=admin_headers(handler_runtime),
        )
    assert ghost.status_code == 404, ghost.text
    assert ghost.json()["error"]["message"] == "no account 'ghost'"
    assert handshake.status_code == 404 and "X-Hook-Secret" not in handshake.headers
    assert status.status_code == 404 and status.json()["error"]["code"] == "unknown_account"
    assert run.status_code == 404 and run.json()["error"]["code"] == "unknown_account"
    assert await queue_depth(handler_runtime) == 0
    assert sorted(p.name for p in objects.glob("*")) == before
    with pytest.raises(CoordinatorError) as refused:
        await account_client(handler_runtime, "ghost").call(QUEUE_STATUS)
    assert refused.value.code == "unknown_account"
    assert sorted(p.name for p in objects.glob("*")) == before


async def test_a_bad_token_is_refused_before_the_body_is_read(
    handler_runtime: LocalRuntime,
) -> None:
    """A client announcing a huge body with a bad token is answered 401 at once."""
    url = f"{endpoint(handler_runtime)}?account=default&token={'0' * 64}"
    host, port = (
        handler_runtime.servers["webhook-handler"].host,
        handler_runtime.servers["webhook-handler"].port,
    )
    reader, writer = await asyncio.open_connection(host, port)
    path = url.split(str(port), 1)[1]
    writer.write(
        f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {512 * 1024}\r\n\r\n".encode()
    )
    writer.write(b"[" + b" " * 1000)  # the rest never comes
    await writer.drain()
    status_line = await asyncio.wait_for(reader.readline(), 10)
    writer.close()
    assert b" 401 " in status_line


async def test_bad_requests_get_clear_errors(handler_runtime: LocalRuntime) -> None:
    url = url_for(handler_runtime)
    async with httpx.AsyncClient() as client:
        get = await client.get(url)
        not_json = await client.post(
            url, content=b"{nope", headers={"Content-Type": "application/json"}
        )
        form = await client.post(url, data={"event_key": "contact.add"})
        missing = await client.post(
            url, json={"event_key": "contact.add", "object_type": "contact"}
        )
        bad_id = await client.post(
            url,
            json={
                "event_key": "contact.add",
                "object_type": "contact",
                "object_keys": [{"id": "abc", "timestamp": "2026-01-01T00:00:00Z"}],
            },
        )
        too_many = await client.post(url, json=delivery("contact.add", list(range(1, 1002))))
        huge = await client.post(
            url,
            content=b"[" + b" " * (2 * 1024 * 1024) + b"]",
            headers={"Content-Type": "application/json"},
        )
    assert get.status_code == 405
    assert not_json.status_code == 415
    assert form.status_code == 415
    assert missing.status_code == 400 and "object_keys" in missing.json()["error"]["message"]
    assert bad_id.status_code == 400 and "object_keys.0.id" in bad_id.json()["error"]["message"]
    assert too_many.status_code == 400
    assert huge.status_code == 413
    assert await queue_depth(handler_runtime) == 0


async def test_events_of_objects_not_synced_are_acknowledged_not_queued(
    handler_runtime: LocalRuntime,
) -> None:
    async with httpx.AsyncClient() as client:
        response = await client.post(
            url_for(handler_runtime), json=delivery("appointment.add", [1, 2])
        )
    assert response.json() == {"accepted": 0, "duplicates": 0, "ignored": 2}
    assert await queue_depth(handler_runtime) == 0


async def test_503_when_the_coordinator_cannot_store_the_events(
    handler_runtime: LocalRuntime, tmp_path: Path
) -> None:
    """A coordinator whose storage cannot be opened: Keap is told to try again, the
    handshake too (the registry cannot say whether the account exists)."""
    blocked = tmp_path / "not-a-directory"
    blocked.write_text("")
    settings = handler_runtime.settings
    broken = LocalDurableObjectNamespace(blocked / "objects", lambda: WorkerEnv(settings))
    env = WorkerEnv(settings, coordinator=LocalCoordinatorService(broken))
    async with serve(with_env(webhook_app, env)) as server, httpx.AsyncClient() as client:
        url = url_for(handler_runtime).replace(handler_runtime.urls["webhook-handler"], server.url)
        response = await client.post(url, json=delivery("contact.add", [1]))
        handshake = await client.post(url, headers={"X-Hook-Secret": "abc"})
    assert response.status_code == 503
    assert response.headers["Retry-After"]
    assert handshake.status_code == 503 and "X-Hook-Secret" not in handshake.headers


async def test_without_a_webhook_secret_nothing_is_accepted(
    handler_runtime: LocalRuntime,
) -> None:
    settings = handler_runtime.settings.model_copy(update={"KEAP_WEBHOOK_SECRET": None})
    assert handler_runtime.envs is not None
    env = WorkerEnv(settings, coordinator=handler_runtime.envs.webhook_handler.coordinator)
    async with serve(with_env(webhook_app, env)) as server, httpx.AsyncClient() as client:
        response = await client.post(f"{server.url}/webhook", json=delivery("contact.add", [1]))
    assert response.status_code == 503
    assert "KEAP_WEBHOOK_SECRET" in response.json()["error"]["message"]


async def test_one_change_spelt_several_ways_is_one_event_and_a_bare_date_is_refused(
    handler_runtime: LocalRuntime,
) -> None:
    def spelt(timestamp: str) -> dict[str, object]:
        return {
            "event_key": "contact.edit",
            "object_type": "contact",
            "object_keys": [{"id": 21, "timestamp": timestamp}],
        }

    spellings = [
        "2026-01-01T00:00:00Z",
        "2026-01-01T00:00:00.000+0000",
        "2026-01-01T01:00:00+01:00",
        "2026-01-01T00:00:00",
    ]
    async with httpx.AsyncClient() as client:
        answers = [
            (await client.post(url_for(handler_runtime), json=spelt(s))).json() for s in spellings
        ]
        bare_date = await client.post(url_for(handler_runtime), json=spelt("2026-01-01"))
    assert answers == [
        {"accepted": 1, "duplicates": 0, "ignored": 0},
        *[{"accepted": 0, "duplicates": 1, "ignored": 0}] * 3,
    ]
    assert bare_date.status_code == 400
    message = bare_date.json()["error"]["message"]
    assert "object_keys.0.timestamp" in message and "ISO 8601 date-time" in message
    assert await queue_depth(handler_runtime) == 1


async def test_health_is_degraded_while_the_webhook_queue_is_stuck(
    handler_runtime: LocalRuntime,
) -> None:
    """No Keap connection: the event cannot be applied and waits. Once it has waited past
    the threshold, the coordinator's and the sync worker's /health say so, naming nothing."""
    async with httpx.AsyncClient(timeout=30) as client:
        queued = await client.post(url_for(handler_runtime), json=delivery("contact.edit", [4]))
        assert queued.status_code == 200
        handler_runtime.clock.advance(QUEUE_STUCK_AGE_S + 60)
        health = await client.get(f"{handler_runtime.urls['sync-coordinator']}/health")
        worker = await client.get(f"{handler_runtime.urls['sync-worker']}/health")
        detail = await client.get(
            f"{handler_runtime.urls['sync-coordinator']}/health/detail",
            headers=admin_headers(handler_runtime),
        )
    assert health.status_code == 503 and health.json()["checks"]["webhook_queue"] == "fail"
    assert worker.status_code == 503 and worker.json()["checks"]["webhook_queue"] == "fail"
    assert "default" not in health.text and "default" not in worker.text
    stuck = detail.json()["services"]["webhook_queue"]
    assert stuck["error"] == "the webhook queue of default is stuck"
    assert stuck["accounts"]["default"]["depth"] == 1
