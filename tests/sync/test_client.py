"""The Keap client against the sandbox: retries, refusals, and no credential in sight."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import pytest

from local.keap_sandbox import RunningSandbox, SandboxConfig, serve_sandbox
from shared.config import Settings
from shared.keap.client import KeapClient
from shared.keap.credentials import KeapAccess, StaticCredentials
from shared.keap.errors import KeapAuthError, KeapNotFound, KeapRequestError, KeapUnavailable
from shared.keap.pacing import Backoff
from tests.sync.conftest import API_KEY

FAST = Backoff(base_s=0.01, cap_s=0.05, max_attempts=6)


@pytest.fixture
async def sandbox() -> AsyncIterator[RunningSandbox]:
    async with serve_sandbox(SandboxConfig(contacts=50)) as running:
        yield running


def client(sandbox: RunningSandbox, key: str = API_KEY) -> KeapClient:
    credentials = StaticCredentials(KeapAccess(kind="api_key", token=key))
    return KeapClient(Settings(KEAP_API_BASE=sandbox.api_base), credentials, backoff=FAST)


async def test_reads_are_retried_through_server_errors(sandbox: RunningSandbox) -> None:
    sandbox.sandbox.update_config(error_rate=0.5)
    async with client(sandbox) as keap:
        for _ in range(10):
            response = await keap.get("/v2/tags", {"page_size": 5})
            assert len(response.json()["tags"]) == 5

        assert keap.retries > 0 and keap.requests == 10 + keap.retries


async def test_a_post_is_not_repeated_after_a_server_error(sandbox: RunningSandbox) -> None:
    sandbox.sandbox.update_config(error_rate=1.0)
    async with client(sandbox) as keap:
        with pytest.raises(KeapUnavailable):
            await keap.request("POST", "/v2/tags", json={"name": "Once"})

        assert keap.requests == 1


async def test_writes_go_through_the_same_client(sandbox: RunningSandbox) -> None:
    async with client(sandbox) as keap:
        created = await keap.request("POST", "/v2/tags", json={"name": "VIP"})
        tag_id = created.json()["id"]
        fetched = await keap.get(f"/v2/tags/{tag_id}")

        assert fetched.json()["name"] == "VIP"
        with pytest.raises(KeapNotFound):
            await keap.get("/v2/tags/999999")
        with pytest.raises(KeapRequestError) as refused:
            await keap.get("/v2/tags", {"filter": "nonsense==1"})
        assert refused.value.status == 400


async def test_a_refused_key_is_a_clear_error_without_the_key(
    sandbox: RunningSandbox, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    secret = "not-the-right-key-1234"
    async with client(sandbox, secret) as keap:
        with pytest.raises(KeapAuthError) as caught:
            await keap.get("/v2/tags")

    assert secret not in str(caught.value)
    assert secret not in caplog.text
    assert secret not in repr(KeapAccess(kind="api_key", token=secret))
