"""What Keap's API gateway does before a request reaches the service, as ASGI middleware.

For every `/crm/rest` request: authenticate (bearer token or X-Keap-API-Key), apply the
rate limits, add the limit headers to the answer, inject configured faults, and record
the request. Other paths (OAuth, admin) pass straight through.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import TYPE_CHECKING, Any

from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .errors import fault
from .faults import error_response

if TYPE_CHECKING:
    from .sandbox import Sandbox

REST_PREFIX = "/crm/rest"


class Gateway:
    def __init__(self, app: ASGIApp, sandbox: Sandbox) -> None:
        self.app = app
        self.sandbox = sandbox

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        sb = self.sandbox
        if not sb.started:
            sb.start()  # served some way that did not start it
        if scope["type"] != "http" or not scope["path"].startswith(REST_PREFIX + "/"):
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status_box = [0]
        identity = "-"

        async def send_logged(message: Message) -> None:
            if message["type"] == "http.response.start":
                status_box[0] = message["status"]
            await send(message)

        try:
            headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
            identity, is_key, problem = self._authenticate(headers)
            if problem is not None:
                await problem(scope, receive, send_logged)
                return
            verdict = sb.limits.check(identity, is_key)
            if not verdict.allowed:
                refusal = fault(429, verdict.faultstring, verdict.errorcode)
                refusal.headers.update(verdict.headers)
                await refusal(scope, receive, send_logged)
                return
            plan = sb.faults.plan(scope["path"][len(REST_PREFIX) :])
            if plan.delay_s:
                await sb.sleep(plan.delay_s)
            if plan.action == "drop":
                await self._drop(receive, send_logged)
                return
            if plan.action in ("error", "refuse"):
                failure = error_response(plan.status, plan.message)
                failure.headers.update(verdict.headers)
                await failure(scope, receive, send_logged)
                return

            extra = [(k.encode(), v.encode()) for k, v in verdict.headers.items()]

            async def send_with_headers(message: Message) -> None:
                if message["type"] == "http.response.start":
                    message = {**message, "headers": [*message.get("headers", []), *extra]}
                await send_logged(message)

            scope.setdefault("state", {})["identity"] = identity
            await self.app(scope, receive, send_with_headers)
        finally:
            sb.log_request(scope, status_box[0], identity, (time.perf_counter() - started) * 1000)

    def _authenticate(self, headers: dict[str, str]) -> tuple[str, bool, Response | None]:
        """(identity, is_api_key, refusal or None)."""
        auth = self.sandbox.auth
        key = headers.get("x-keap-api-key")
        if key is not None:
            if auth.check_key(key):
                return f"key:{key[:6]}", True, None
            return "-", True, fault(401, "Invalid ApiKey", "oauth.v2.InvalidApiKey")
        bearer = headers.get("authorization", "")
        if bearer[:7].lower() == "bearer ":
            client_id, reason = auth.check_bearer(bearer[7:].strip())
            if client_id is not None:
                return client_id, False, None
            if reason == "expired":
                return (
                    "-",
                    False,
                    fault(
                        401, "Access Token expired", "keymanagement.service.access_token_expired"
                    ),
                )
        return (
            "-",
            False,
            fault(401, "Invalid Access Token", "keymanagement.service.invalid_access_token"),
        )

    async def _drop(self, receive: Receive, send: Send) -> None:
        """Answer nothing useful: start a response, then cut the connection.

        In "hang" mode first wait (for the client to give up, `hang_s`, or the sandbox
        to stop). uvicorn closes the connection when the app returns mid-response.
        """
        sb = self.sandbox
        if sb.config.drop_mode == "hang":
            waiter = asyncio.ensure_future(_disconnected(receive))
            try:
                await sb.sleep(sb.config.hang_s, until=waiter)
            finally:
                waiter.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await waiter
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-length", b"1024")],
            }
        )


async def _disconnected(receive: Receive) -> None:
    while True:
        message: dict[str, Any] = dict(await receive())
        if message["type"] == "http.disconnect":
            return
