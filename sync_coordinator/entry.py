"""The sync-coordinator's Workers entrypoints: HTTP requests, RPC from the other workers,
and the `SyncCoordinator` Durable Object (one per Keap account).

The bundle's main module (tools/bundle.py copies it to src/entry.py). It and
`shared.platform.cloudflare` are the only modules that meet the Workers runtime.

Everything that crosses RPC is a string: the account, the method name and the JSON payload
in, the JSON reply out (see shared/platform/wire.py).
"""

from workers import DurableObject, WorkerEntrypoint, asgi

from shared.coordinator.durable import CoordinatorObject
from shared.platform.cloudflare import (
    CloudflareDurableStorage,
    durable_object_name,
    worker_env_from_js,
)
from shared.platform.wire import CoordinatorError, encode_error
from shared.rpc.accounts import gated
from sync_coordinator.app import app

__all__ = ["Default", "SyncCoordinator"]


class Default(WorkerEntrypoint):
    async def fetch(self, request):
        return await asgi.fetch(app, request, gated(worker_env_from_js(self.env)))

    async def call(self, account: str, method: str, payload: str) -> str:
        """RPC over the other workers' `COORDINATOR` service binding: forwarded to the
        Durable Object named `account` if the account is registered."""
        env = gated(worker_env_from_js(self.env))
        if env.durable_objects is None or env.coordinator is None:
            error = CoordinatorError("not_configured", "no SYNC_COORDINATOR binding", 503)
            return encode_error(error)
        return await env.coordinator.call(account, method, payload)


class SyncCoordinator(DurableObject):
    """One Keap account's coordinator: `CoordinatorObject` on this object's SQLite storage.

    Its name is the account: `ctx.id.name` (the name it was addressed by), else the account
    the caller passed along, else the default account.
    """

    def __init__(self, ctx, env):
        super().__init__(ctx, env)
        self._object = None

    def _coordinator(self, account: str | None = None) -> CoordinatorObject:
        if self._object is None:
            env = worker_env_from_js(self.env)
            name = durable_object_name(self.ctx) or account or env.settings.DEFAULT_ACCOUNT
            storage = CloudflareDurableStorage(self.ctx.storage)
            self._object = CoordinatorObject(storage, env, name)
        return self._object

    async def call(self, method: str, payload: str, account: str | None = None) -> str:
        return await self._coordinator(account).call(method, payload)

    async def alarm(self, alarm_info=None):
        await self._coordinator().alarm()
