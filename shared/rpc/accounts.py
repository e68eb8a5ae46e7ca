"""The gate in front of the accounts' coordinators: only accounts in the registry get in.

An account exists once an admin connects it (`/oauth/initiate?account=NAME` registers it), or
when the coordinator's `ACCOUNTS` setting lists it, and the `DEFAULT_ACCOUNT` always does. The
registry is a Durable Object of its own, named `__accounts__` (`REGISTRY`), of the coordinator's
class (`shared.coordinator.registry` answers there). Every call into an account's object goes
through `AccountGate`, which the coordinator worker puts in front of its namespace (its RPC
entrypoint and its own routes alike): a call naming an unknown account is refused with
`unknown_account` (404) before that account's object is touched, so nobody outside can make
objects by naming them.

Accounts are never removed, so a gate remembers the names it found for as long as it lives (a
worker instance); a name it has not seen costs one call to the registry.
"""

from __future__ import annotations

import dataclasses

from shared.platform.env import WorkerEnv
from shared.platform.interfaces import DurableObjectNamespace
from shared.platform.wire import CoordinatorError, encode_error
from shared.rpc.client import ACCOUNT_PATTERN, REGISTRY
from shared.rpc.methods import LOOKUP_ACCOUNT, REGISTRY_METHODS, AccountName


def unknown_account(account: str) -> CoordinatorError:
    message = f"no account {account!r}: an admin connects it at /oauth/initiate?account={account}"
    return CoordinatorError("unknown_account", message, 404)


class KnownAccounts:
    """Account names a worker instance has found in the registry."""

    def __init__(self) -> None:
        self.names: set[str] = set()


class AccountGate:
    """A `CoordinatorTransport` over the Durable Object namespace that lets through calls
    into registered accounts only; `lookup_account` sent to the registry is answered here
    from what the gate already knows."""

    def __init__(self, namespace: DurableObjectNamespace, known: KnownAccounts) -> None:
        self._namespace = namespace
        self._known = known

    async def known(self, account: str) -> bool:
        if account in self._known.names:
            return True
        if not ACCOUNT_PATTERN.match(account):
            return False
        payload = AccountName(account=account).model_dump_json()
        reply = await self._namespace.call(REGISTRY, LOOKUP_ACCOUNT.name, payload)
        found = LOOKUP_ACCOUNT.decode_reply(reply)
        if found:
            self._known.names.add(account)
        return found

    async def call(self, account: str, method: str, payload: str) -> str:
        try:
            if account == REGISTRY:
                return await self._registry(method, payload)
            if not await self.known(account):
                raise unknown_account(account)
        except CoordinatorError as exc:
            return encode_error(exc)
        return await self._namespace.call(account, method, payload)

    async def _registry(self, method: str, payload: str) -> str:
        if method == LOOKUP_ACCOUNT.name:
            request = LOOKUP_ACCOUNT.decode_request(payload)
            return LOOKUP_ACCOUNT.encode_reply(await self.known(request.account))
        if method not in REGISTRY_METHODS:
            raise CoordinatorError("unknown_method", f"the registry has no method {method!r}", 404)
        return await self._namespace.call(REGISTRY, method, payload)


def gated(env: WorkerEnv) -> WorkerEnv:
    """The coordinator worker's env with its way to the objects behind the gate (which
    remembers the names it found for as long as the worker instance lives)."""
    if env.durable_objects is None:
        return env
    known = env.instance.setdefault("known_accounts", KnownAccounts())
    return dataclasses.replace(env, coordinator=AccountGate(env.durable_objects, known))
