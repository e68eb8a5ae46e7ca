"""The Keap client as `shared.webhooks.subscriptions.HookApi`: v1 hook calls with JSON bodies."""

from __future__ import annotations

from typing import Any

import httpx

from shared.config import Settings
from shared.keap.client import KeapClient
from shared.keap.credentials import Credentials


class KeapHookApi:
    """Hook management calls through the one Keap client (its auth, pacing and retries)."""

    def __init__(
        self,
        settings: Settings,
        credentials: Credentials,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._client = KeapClient(settings, credentials, transport=transport)

    async def __aenter__(self) -> KeapHookApi:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._client.aclose()

    async def request_json(self, method: str, path: str, body: Any = None) -> Any:
        response = await self._client.request(method, path, json=body)
        return response.json() if response.text.strip() else None
