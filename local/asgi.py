"""ASGI glue of the local runtime: the env in the scope, and wrangler's scheduled route."""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qs

from shared.platform.env import WorkerEnv

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
Scheduled = Callable[[WorkerEnv, str], Awaitable[None]]

SCHEDULED_PATH = "/cdn-cgi/handler/scheduled"


async def _send_json(send: Send, status: int, body: dict[str, Any]) -> None:
    data = json.dumps(body).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": data})


def _is_loopback(scope: Scope) -> bool:
    client = scope.get("client")
    try:
        return client is not None and ipaddress.ip_address(client[0]).is_loopback
    except ValueError:
        return False


def with_env(app: ASGIApp, env: WorkerEnv, scheduled: Scheduled | None = None) -> ASGIApp:
    """Serve `app` the way Cloudflare's ASGI server does: `scope["env"]` is the worker's env.

    With `scheduled`, `GET /cdn-cgi/handler/scheduled?cron=...` runs the cron handler, as
    `wrangler dev --test-scheduled` offers; like there, it exists only in local dev, and
    here it answers only to loopback clients.
    """

    async def wrapped(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scheduled is not None and scope["path"] == SCHEDULED_PATH:
            if not _is_loopback(scope):
                await _send_json(send, 403, {"error": {"status": 403, "message": "loopback only"}})
                return
            query = parse_qs(scope.get("query_string", b"").decode())
            cron = (query.get("cron") or ["*/30 * * * *"])[0]
            await scheduled(env, cron)
            await _send_json(send, 200, {"ran": "scheduled", "cron": cron})
            return
        if scope["type"] in ("http", "websocket"):
            scope = {**scope, "env": env}
        await app(scope, receive, send)

    return wrapped
