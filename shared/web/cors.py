"""CORS for the admin API: browsers may call it from `ALLOWED_ORIGIN` only, and from nowhere
when it is unset (then no CORS header is ever sent).

An ASGI middleware rather than Starlette's, because the allowed origin is a setting of the
worker's env, which arrives with each request.
"""

from __future__ import annotations

from typing import Any

from shared.platform.env import WorkerEnv

Scope = dict[str, Any]
ALLOWED_METHODS = "GET, POST, DELETE, OPTIONS"
ALLOWED_HEADERS = "Authorization, Content-Type"
PREFLIGHT_MAX_AGE_S = 600


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers") or ():
        if key.lower() == name:
            return str(value.decode("latin-1"))
    return None


def allowed_origin(scope: Scope) -> str | None:
    """The request's Origin when it is the one `ALLOWED_ORIGIN` names, else None."""
    env = scope.get("env")
    if not isinstance(env, WorkerEnv) or not env.settings.ALLOWED_ORIGIN:
        return None
    origin = _header(scope, b"origin")
    wanted = env.settings.ALLOWED_ORIGIN.rstrip("/")
    return origin if origin is not None and origin.rstrip("/") == wanted else None


class CorsMiddleware:
    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        origin = allowed_origin(scope) if scope["type"] == "http" else None
        if origin is None:
            await self.app(scope, receive, send)
            return
        cors = [
            (b"access-control-allow-origin", origin.encode("latin-1")),
            (b"access-control-allow-credentials", b"true"),
            (b"vary", b"Origin"),
        ]
        preflight = scope["method"] == "OPTIONS" and _header(
            scope, b"access-control-request-method"
        )
        if preflight:
            headers = [
                *cors,
                (b"access-control-allow-methods", ALLOWED_METHODS.encode()),
                (b"access-control-allow-headers", ALLOWED_HEADERS.encode()),
                (b"access-control-max-age", str(PREFLIGHT_MAX_AGE_S).encode()),
            ]
            await send({"type": "http.response.start", "status": 204, "headers": headers})
            await send({"type": "http.response.body", "body": b""})
            return

        async def with_cors(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *cors]}
            await send(message)

        await self.app(scope, receive, with_cors)
