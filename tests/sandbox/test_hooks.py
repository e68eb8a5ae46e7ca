"""REST hooks: the X-Hook-Secret handshake, batched deliveries and Keap's retry policy,
run on a clock 1000 times faster (hook_time_scale=0.001)."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import jsonschema
import pytest

from local.keap_sandbox import RunningSandbox, serve_sandbox
from tests.sandbox.conftest import Receiver, hook_envelope_schema, small_config
from tests.timing import wait_for

SCALE = 0.001
SLACK = 0.25  # scheduling and HTTP time allowed on top of a scaled wait


async def _subscribe(api: httpx.AsyncClient, event_key: str, url: str) -> dict[str, Any]:
    response = await api.post("/v1/hooks", json={"eventKey": event_key, "hookUrl": url})
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


async def test_handshake_verifies_only_a_receiver_that_echoes_the_secret(
    api: httpx.AsyncClient, receiver: Receiver
) -> None:
    hook = await _subscribe(api, "contact.edit", receiver.url)
    assert set(hook) == {"key", "eventKey", "hookUrl", "status"}
    assert hook["status"] == "Verified"
    assert len(receiver.handshakes) == 1 and len(receiver.handshakes[0]) >= 32

    receiver.echo = False
    silent = await _subscribe(api, "contact.add", receiver.url)
    assert silent["status"] == "Unverified"
    assert receiver.handshakes[1] != receiver.handshakes[0], "each handshake has its own secret"


async def test_delayed_verify_takes_the_secret_back(
    api: httpx.AsyncClient, receiver: Receiver
) -> None:
    receiver.echo = False
    hook = await _subscribe(api, "contact.edit", receiver.url)
    wrong = await api.post(
        f"/v1/hooks/{hook['key']}/delayedVerify", headers={"X-Hook-Secret": "guess"}
    )
    assert wrong.status_code == 400
    right = await api.post(
        f"/v1/hooks/{hook['key']}/delayedVerify", headers={"X-Hook-Secret": receiver.handshakes[-1]}
    )
    assert right.json()["status"] == "Verified"


async def test_changes_are_delivered_in_one_batch_per_event_key(
    keap: RunningSandbox, api: httpx.AsyncClient, receiver: Receiver
) -> None:
    await _subscribe(api, "contact.edit", receiver.url)
    await _subscribe(api, "contact.add", receiver.url)
    await _subscribe(api, "contact.delete", receiver.url)
    sandbox = keap.sandbox
    made = sandbox.make_changes(n_edits=5, n_creates=2, n_deletes=1)
    patched = await api.patch("/v2/contacts/12", json={"given_name": "Ada"})
    assert patched.status_code == 200
    assert await sandbox.wait_hooks_idle(10)

    by_key = {body["event_key"]: body for _, body in receiver.deliveries}
    assert len(receiver.deliveries) == 3
    for _, body in receiver.deliveries:
        jsonschema.validate(body, hook_envelope_schema(), format_checker=jsonschema.FormatChecker())
    edits = by_key["contact.edit"]
    assert edits["object_type"] == "contact"
    assert {k["id"] for k in edits["object_keys"]} == set(made["edited"]) | {12}
    key = next(k for k in edits["object_keys"] if k["id"] == 12)
    assert key["apiUrl"] == f"{keap.api_base}/v2/contacts/12"
    assert key["timestamp"] == patched.json()["update_time"]
    assert {k["id"] for k in by_key["contact.add"]["object_keys"]} == set(made["created"])
    deleted = by_key["contact.delete"]["object_keys"]
    assert [k["id"] for k in deleted] == made["deleted"]
    assert "apiUrl" not in deleted[0], "a deleted record has no URL to fetch"


async def test_a_batch_holds_at_most_1000_objects(receiver: Receiver) -> None:
    async with serve_sandbox(small_config(contacts=1200)) as keap:
        hooks = keap.sandbox.hooks
        hooks.api_base = keap.api_base
        await hooks.create("contact.edit", receiver.url)
        for contact_id in range(1, 1201):
            keap.sandbox.update("contacts", contact_id, {"job_title": "Batch"})
        assert await keap.sandbox.wait_hooks_idle(10)
    sizes = sorted(len(body["object_keys"]) for _, body in receiver.deliveries)
    assert sizes == [200, 1000]


async def test_failed_deliveries_follow_keaps_schedule_then_the_hook_goes_inactive(
    keap: RunningSandbox, api: httpx.AsyncClient, receiver: Receiver
) -> None:
    receiver.statuses = [500]
    hook = await _subscribe(api, "contact.edit", receiver.url)
    keap.sandbox.make_changes(n_edits=1)
    assert await keap.sandbox.wait_hooks_idle(10)

    attempts = keap.sandbox.hooks.attempts
    assert [a.number for a in attempts] == [1, 2, 3, 4]
    assert all(a.status == 500 for a in attempts)
    first_change = keap.sandbox.hooks.change_times[attempts[0].delivery]
    _assert_between(attempts[0].started - first_change, 30 * SCALE, 60 * SCALE)
    waits = [(30, 60), (300, 300), (1800, 1800)]  # seconds after a failed attempt, unscaled
    for before, after, (low, high) in zip(attempts[:-1], attempts[1:], waits, strict=True):
        _assert_between(after.started - before.finished, low * SCALE, high * SCALE)
    assert (await api.get(f"/v1/hooks/{hook['key']}")).json()["status"] == "Inactive"

    # Inactive: nothing more is sent, until /verify brings the hook back.
    keap.sandbox.make_changes(n_edits=1)
    assert await keap.sandbox.wait_hooks_idle(10)
    assert len(receiver.deliveries) == 4
    receiver.statuses = [200]
    revived = await api.post(f"/v1/hooks/{hook['key']}/verify")
    assert revived.json()["status"] == "Verified"
    keap.sandbox.make_changes(n_edits=1)
    assert await keap.sandbox.wait_hooks_idle(10)
    assert len(receiver.deliveries) == 5


def _assert_between(value: float, low: float, high: float) -> None:
    assert low - 0.005 <= value <= high + SLACK, (value, low, high)


async def test_a_410_makes_the_hook_inactive_at_once(
    keap: RunningSandbox, api: httpx.AsyncClient, receiver: Receiver
) -> None:
    receiver.statuses = [410]
    hook = await _subscribe(api, "contact.edit", receiver.url)
    keap.sandbox.make_changes(n_edits=2)
    assert await keap.sandbox.wait_hooks_idle(10)
    assert len(keap.sandbox.hooks.attempts) == 1
    assert (await api.get(f"/v1/hooks/{hook['key']}")).json()["status"] == "Inactive"


async def test_a_failure_then_success_keeps_the_hook_verified(
    keap: RunningSandbox, api: httpx.AsyncClient, receiver: Receiver
) -> None:
    receiver.statuses = [503, 204]
    hook = await _subscribe(api, "contact.edit", receiver.url)
    keap.sandbox.make_changes(n_edits=1)
    assert await keap.sandbox.wait_hooks_idle(10)
    assert [a.status for a in keap.sandbox.hooks.attempts] == [503, 204]
    assert (await api.get(f"/v1/hooks/{hook['key']}")).json()["status"] == "Verified"


async def test_no_answer_in_time_counts_as_a_failure(
    keap: RunningSandbox, api: httpx.AsyncClient, receiver: Receiver
) -> None:
    await _subscribe(api, "contact.edit", receiver.url)
    receiver.hold = asyncio.Event()  # no answer until released
    keap.sandbox.make_changes(n_edits=1)
    attempts = keap.sandbox.hooks.attempts
    # The scaled 30 s timeout is 0.25 s (hook_min_timeout_s).
    await wait_for(lambda: bool(attempts) and attempts[0].finished > 0, 10, "the first timeout")
    receiver.hold.set()
    assert await keap.sandbox.wait_hooks_idle(10)
    attempts = keap.sandbox.hooks.attempts
    assert attempts[0].error == "timeout" and attempts[0].status is None
    assert attempts[1].status == 200


async def test_unverified_hooks_get_nothing(
    keap: RunningSandbox, api: httpx.AsyncClient, receiver: Receiver
) -> None:
    receiver.echo = False
    await _subscribe(api, "contact.edit", receiver.url)
    keap.sandbox.make_changes(n_edits=3)
    assert await keap.sandbox.wait_hooks_idle(5)
    assert receiver.deliveries == []


async def test_tag_applications_arrive_as_contact_group_events_after_the_longer_delay(
    keap: RunningSandbox, api: httpx.AsyncClient, receiver: Receiver
) -> None:
    await _subscribe(api, "contactGroup.applied", receiver.url)
    started = asyncio.get_running_loop().time()
    applied = await api.post("/v2/tags/3/contacts:applyTags", json={"contact_ids": ["5", "6"]})
    assert applied.status_code == 200
    assert await keap.sandbox.wait_hooks_idle(10)
    (at, body), *_ = receiver.deliveries
    assert body["event_key"] == "contactGroup.applied" and body["object_type"] == "contactGroup"
    assert {k["id"] for k in body["object_keys"]} <= {5, 6}
    assert at - started >= 300 * SCALE, "contactGroup.applied waits 5-10 minutes (scaled)"


async def test_managing_subscriptions(api: httpx.AsyncClient, receiver: Receiver) -> None:
    keys = (await api.get("/v1/hooks/event_keys")).json()
    assert {
        "contact.add",
        "contact.edit",
        "contact.delete",
        "contactGroup.applied",
        "order.add",
    } <= set(keys)
    hook = await _subscribe(api, "contact.add", receiver.url)
    assert (
        await api.post("/v1/hooks", json={"eventKey": "contact.add", "hookUrl": receiver.url})
    ).status_code == 400
    assert (
        await api.post("/v1/hooks", json={"eventKey": "contact.nope", "hookUrl": receiver.url})
    ).status_code == 400
    assert [h["key"] for h in (await api.get("/v1/hooks")).json()] == [hook["key"]]
    moved = await api.put(
        f"/v1/hooks/{hook['key']}",
        json={"eventKey": "contact.add", "hookUrl": receiver.url + "?v=2"},
    )
    assert moved.json()["hookUrl"].endswith("?v=2") and moved.json()["status"] == "Verified"
    assert len(receiver.handshakes) == 2, "a changed subscription is verified again"
    assert (await api.delete(f"/v1/hooks/{hook['key']}")).status_code == 204
    missing = await api.get(f"/v1/hooks/{hook['key']}")
    assert missing.status_code == 404 and "message" in missing.json()


@pytest.mark.parametrize("status", [302, 400, 404])
async def test_statuses_outside_2xx_3xx_count_as_failures(
    status: int, keap: RunningSandbox, api: httpx.AsyncClient, receiver: Receiver
) -> None:
    receiver.statuses = [status, 200]
    await _subscribe(api, "contact.edit", receiver.url)
    keap.sandbox.make_changes(n_edits=1)
    assert await keap.sandbox.wait_hooks_idle(10)
    expected = [status] if 200 <= status < 400 else [status, 200]
    assert [a.status for a in keap.sandbox.hooks.attempts] == expected
