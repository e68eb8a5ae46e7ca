"""Keap credentials for code running inside the coordinator: straight from its TokenKeeper.

Elsewhere the Keap client asks the coordinator over RPC; inside it, that call would wait
on the very object that makes it, so this adapter calls the TokenKeeper directly.
"""

from __future__ import annotations

from shared.coordinator.tokens import TokenKeeper
from shared.keap.credentials import KeapAccess
from shared.rpc.methods import Rejected


class KeeperCredentials:
    """`shared.keap.client.Credentials` backed by the coordinator's own TokenKeeper."""

    def __init__(self, tokens: TokenKeeper) -> None:
        self._tokens = tokens

    async def get_access(self) -> KeapAccess:
        return await self._tokens.get_access()

    async def report_unauthorized(self, token: str) -> KeapAccess:
        return await self._tokens.report_unauthorized(Rejected(token=token))
