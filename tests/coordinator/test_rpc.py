"""The coordinator's RPC methods as both sides see them: declared once, checked at the edge."""

from __future__ import annotations

import json

import pytest

from local.runtime import LocalRuntime
from shared.platform.wire import CoordinatorError, encode_result
from shared.rpc.client import CoordinatorClient, check_account
from shared.rpc.dispatch import Dispatcher, handles
from shared.rpc.methods import PING, RUNS, NoArgs, RunsQuery
from tests.conftest import account_client


async def test_a_payload_that_does_not_fit_is_refused_at_the_edge(runtime: LocalRuntime) -> None:
    assert runtime._namespace is not None
    reply = json.loads(
        await runtime._namespace.call("default", "checkpoint", '{"stream": "contacts", "x": 1}')
    )
    assert reply["ok"] is False
    error = reply["error"]
    assert (error["code"], error["status"]) == ("bad_request", 400)
    assert "checkpoint" in error["message"]
    assert "run_id: Field required" in error["message"]
    assert "x: Extra inputs are not permitted" in error["message"]

    unknown = json.loads(await runtime._namespace.call("default", "drop_tables", "{}"))
    assert unknown["error"]["code"] == "unknown_method"


async def test_replies_arrive_as_their_declared_models(runtime: LocalRuntime) -> None:
    client = account_client(runtime)
    ping = await client.call(PING)
    assert (ping.account, ping.storage, ping.connection) == ("default", "ok", "not_connected")
    assert ping.queue["depth"] == 0
    assert await client.call(RUNS, RunsQuery(limit=5)) == []


def test_a_method_without_a_handler_stops_the_coordinator_from_starting() -> None:
    class OnlyPing:
        @handles(PING)
        def ping(self) -> None: ...

    with pytest.raises(RuntimeError, match=r"without a handler: .*get_access"):
        Dispatcher(OnlyPing())
    with pytest.raises(RuntimeError, match="'ping' has two handlers"):
        Dispatcher(OnlyPing(), OnlyPing())


async def test_a_reply_that_does_not_fit_fails_at_the_caller() -> None:
    class Confused:
        async def call(self, account: str, method: str, payload: str) -> str:
            assert json.loads(payload) == NoArgs().model_dump()
            return encode_result({"account": account})  # a ping reply missing its fields

    with pytest.raises(CoordinatorError) as failed:
        await CoordinatorClient(Confused(), "acme").call(PING)
    assert (failed.value.code, failed.value.status) == ("bad_reply", 502)
    assert "ping answered" in failed.value.message


def test_account_names_are_checked_in_one_place() -> None:
    assert check_account("acme-2") == "acme-2"
    for bad in ("", "a.b", "x" * 65, "../default"):
        with pytest.raises(CoordinatorError) as refused:
            check_account(bad)
        assert refused.value.code == "bad_account"
