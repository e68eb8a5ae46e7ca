"""What the workers use to talk to an account's coordinator (a Durable Object per account).

`await coordinator_client(env, account).call(GET_ACCESS)` is one RPC (the methods are
declared in `shared.rpc.methods`). Errors arrive as `CoordinatorError` with a stable `code`,
e.g. `reauthorization_required`, `not_connected`, `lease_lost`, `not_configured`.
"""

from __future__ import annotations

import re
from typing import TypeVar

from pydantic import BaseModel

from shared.platform.env import WorkerEnv
from shared.platform.interfaces import CoordinatorTransport
from shared.platform.wire import CoordinatorError
from shared.rpc.methods import Method

Req = TypeVar("Req", bound=BaseModel)
Rep = TypeVar("Rep")

# An account names its coordinator, its hook URL and, in Postgres, its rows. A name starts
# with a letter or digit: `__accounts__`, the registry's own object, is no account.
ACCOUNT_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
REGISTRY = "__accounts__"


def check_account(name: str) -> str:
    """`name` if it can name an account, else a `bad_account` error (400)."""
    if not ACCOUNT_PATTERN.match(name):
        message = "account names are 1-64 letters, digits, - or _, starting with a letter or digit"
        raise CoordinatorError("bad_account", message, 400)
    return name


class CoordinatorClient:
    """Calls into one account's coordinator over a `CoordinatorTransport` (service binding
    RPC, or in-process locally)."""

    def __init__(self, transport: CoordinatorTransport, account: str) -> None:
        self._transport = transport
        self.account = account

    async def call(self, method: Method[Req, Rep], request: Req | None = None) -> Rep:
        payload = method.encode_request(request)
        reply = await self._transport.call(self.account, method.name, payload)
        return method.decode_reply(reply)


def coordinator_client(env: WorkerEnv, account: str | None = None) -> CoordinatorClient:
    """The coordinator of `account` (DEFAULT_ACCOUNT when None) as this worker reaches it.

    A worker without the binding gets `not_configured` (503), whatever it was about to do.
    """
    if env.coordinator is None:
        raise CoordinatorError("not_configured", "this worker has no COORDINATOR binding", 503)
    return CoordinatorClient(
        env.coordinator, check_account(account or env.settings.DEFAULT_ACCOUNT)
    )


def registry_client(env: WorkerEnv) -> CoordinatorClient:
    """The account registry (see `shared.rpc.accounts`) as this worker reaches it."""
    if env.coordinator is None:
        raise CoordinatorError("not_configured", "this worker has no COORDINATOR binding", 503)
    return CoordinatorClient(env.coordinator, REGISTRY)
