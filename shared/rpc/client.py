"""What the other workers use to talk to an account's SyncCoordinator.

Every method is one RPC into the account's Durable Object (see `durable.py` for the
other side). Errors arrive as `CoordinatorError` with a stable `code`, e.g.
`reauthorization_required`, `not_connected`, `lease_lost`.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel

from shared.keap.credentials import KeapAccess
from shared.platform.interfaces import CoordinatorTransport
from shared.platform.wire import decode_reply


class Lease(BaseModel):
    acquired: bool
    holder: str | None = None
    expires_at: float | None = None


class CoordinatorClient:
    """Typed calls over a `CoordinatorTransport` (service binding RPC, or in-process)."""

    def __init__(self, transport: CoordinatorTransport, account: str = "default") -> None:
        self._transport = transport
        self.account = account

    async def call(self, method: str, **payload: Any) -> Any:
        reply = await self._transport.call(self.account, method, json.dumps(payload))
        return decode_reply(reply)

    async def ping(self) -> dict[str, Any]:
        return await self.call("ping")

    # --- Keap credentials -------------------------------------------------------------
    async def get_access(self) -> KeapAccess:
        """A credential valid for at least a few minutes (refreshed inside the coordinator)."""
        return KeapAccess.model_validate(await self.call("get_access"))

    async def report_unauthorized(self, token: str) -> KeapAccess:
        """Keap answered 401 to `token`: refresh unless someone already did; the new access."""
        return KeapAccess.model_validate(await self.call("report_unauthorized", token=token))

    # --- the run lease: one sync run at a time per account ----------------------------
    async def acquire_lease(self, run_id: str, ttl_s: float) -> Lease:
        return Lease.model_validate(await self.call("acquire_lease", run_id=run_id, ttl_s=ttl_s))

    async def renew_lease(self, run_id: str, ttl_s: float) -> Lease:
        return Lease.model_validate(await self.call("renew_lease", run_id=run_id, ttl_s=ttl_s))

    async def release_lease(self, run_id: str) -> None:
        await self.call("release_lease", run_id=run_id)

    # --- per-stream state (cursors), checkpointed after every page --------------------
    async def get_stream_states(self) -> dict[str, dict[str, Any]]:
        """stream name -> the state last checkpointed for it (free-form JSON object)."""
        return dict(await self.call("get_stream_states"))

    async def checkpoint(
        self, run_id: str, stream: str, state: dict[str, Any], pages: int = 0, records: int = 0
    ) -> None:
        """Store a stream's state; refused (`lease_lost`) unless `run_id` holds the lease."""
        await self.call(
            "checkpoint", run_id=run_id, stream=stream, state=state, pages=pages, records=records
        )

    async def reset_stream(self, stream: str) -> None:
        """Forget a stream's state so the next run starts it from the beginning."""
        await self.call("reset_stream", stream=stream)

    # --- run history ------------------------------------------------------------------
    async def start_run(self, run_id: str, kind: str, streams: list[str]) -> None:
        await self.call("start_run", run_id=run_id, kind=kind, streams=streams)

    async def finish_run(
        self,
        run_id: str,
        status: str,
        errors: list[str] | None = None,
        stats: dict[str, Any] | None = None,
    ) -> None:
        await self.call(
            "finish_run", run_id=run_id, status=status, errors=errors or [], stats=stats or {}
        )

    async def runs(self, limit: int = 20) -> list[dict[str, Any]]:
        return list(await self.call("runs", limit=limit))

    async def status(self) -> dict[str, Any]:
        """Connection state, token expiry times (never tokens), streams, lease, last runs."""
        return dict(await self.call("status"))

    # --- hook events and subscriptions (shared/webhooks) ------------------------------
    async def enqueue_events(self, events: list[dict[str, Any]]) -> dict[str, Any]:
        """Store hook events durably: {accepted, duplicates}."""
        return dict(await self.call("enqueue_events", events=events))

    async def queue_status(self) -> dict[str, Any]:
        """Queue depth, oldest event age, backoff, totals and recently dropped ids."""
        return dict(await self.call("queue_status"))

    async def queue_configure(self, **changes: Any) -> dict[str, Any]:
        """Change the queue's batch size, work per alarm or backoff; the policy now in force."""
        return dict(await self.call("queue_configure", **changes))

    async def hooks_register(self, event_keys: list[str] | None = None) -> list[dict[str, Any]]:
        """Subscribe the webhook handler to `event_keys` (default: every synced object)."""
        return list(await self.call("hooks_register", event_keys=event_keys))

    async def hooks_list(self) -> list[dict[str, Any]]:
        return list(await self.call("hooks_list"))

    async def hooks_delete(self) -> list[dict[str, Any]]:
        return list(await self.call("hooks_delete"))

    async def hooks_reverify(self) -> list[dict[str, Any]]:
        """Revive subscriptions Keap has turned Inactive."""
        return list(await self.call("hooks_reverify"))
