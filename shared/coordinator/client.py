"""What the other workers use to talk to an account's SyncCoordinator."""

from __future__ import annotations

import json
from typing import Any

from shared.coordinator.rpc import decode_reply
from shared.platform.interfaces import CoordinatorTransport


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
