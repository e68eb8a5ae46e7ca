"""Receiving one Keap hook request: rate limits, authentication, the account, size,
handshake, validation, enqueue.

The order matters: the client's IP is held to its rate limit first; the URL token is
checked and the account looked up in the registry before the body is read (a bad token is
a 401, an account nobody connected a 404, and neither costs a body's memory); the account
is held to its own rate limit only then (bad tokens cannot use up its share); nothing is
read past the size limit; nothing
unauthenticated is parsed; the handshake never waits on the account's coordinator (it may
be the caller, registering the hook); and a 200 goes out only after the coordinator has
stored the events (a 503 otherwise, so Keap tries again; repeats are recognised there).
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from fastapi import HTTPException, Request
from fastapi.responses import JSONResponse, Response
from pydantic import ValidationError
from starlette.requests import ClientDisconnect

from shared.platform.env import WorkerEnv
from shared.platform.limits import hold_account, hold_ip
from shared.rpc.client import ACCOUNT_PATTERN, coordinator_client, registry_client
from shared.rpc.methods import ENQUEUE_EVENTS, LOOKUP_ACCOUNT, AccountName, Events, QueuedEvent
from shared.webhooks.auth import signature_valid, token_valid
from shared.webhooks.events import route
from shared.webhooks.models import HookDelivery
from shared.webhooks.tags import affected_ids

log = logging.getLogger("keap_sync.webhooks")

MAX_BODY_BYTES = 1024 * 1024
ENQUEUE_TIMEOUT_S = 20.0  # well inside Keap's 30 s; a late enqueue is deduplicated anyway
MAX_HOOK_SECRET = 512
MAX_EVENTS = 10_000  # per delivery: 1000 objects, more only for tag applications
RETRY = {"Retry-After": "30"}


async def read_body(request: Request, limit: int = MAX_BODY_BYTES) -> bytes:
    """The raw body, refusing (413) anything over `limit` without reading it all."""
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.strip().isdigit():
            raise HTTPException(400, "Content-Length is not a number")
        if int(declared) > limit:
            raise HTTPException(413, f"request body over {limit} bytes")
    size = 0
    chunks: list[bytes] = []
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise HTTPException(413, f"request body over {limit} bytes")
            chunks.append(chunk)
    except ClientDisconnect:
        raise HTTPException(400, "the request body was cut off") from None
    return b"".join(chunks)


def _account(request: Request, env: WorkerEnv) -> str:
    account = request.query_params.get("account") or env.settings.DEFAULT_ACCOUNT
    if not ACCOUNT_PATTERN.match(account):
        raise HTTPException(401, "hook URL not recognised")
    return account


async def authenticated_body(request: Request, env: WorkerEnv) -> tuple[str, bytes]:
    """(the account, the body) of a request with a valid URL token (checked before the body
    is read) or body signature, for an account in the registry."""
    secret = env.settings.KEAP_WEBHOOK_SECRET
    if secret is None or not secret.get_secret_value():
        raise HTTPException(503, "KEAP_WEBHOOK_SECRET is not configured on this worker")
    account = _account(request, env)
    token = request.query_params.get("token")
    if token is not None:
        if not token_valid(secret, account, token):
            raise HTTPException(401, "hook URL not recognised")
        await require_account(env, account)
        await hold_account(env.account_limiter, account)
        return account, await read_body(request)
    signature = request.headers.get("x-hook-signature")
    if signature is None:
        raise HTTPException(401, "hook URL not recognised or signature invalid")
    body = await read_body(request)
    if not signature_valid(secret, body, signature):
        raise HTTPException(401, "hook URL not recognised or signature invalid")
    await require_account(env, account)
    await hold_account(env.account_limiter, account)
    return account, body


async def require_account(env: WorkerEnv, account: str) -> None:
    """A 404 for an account nobody connected (nothing of it is touched); a 503 when the
    registry cannot say, so Keap tries again."""
    try:
        known = await registry_client(env).call(LOOKUP_ACCOUNT, AccountName(account=account))
    except Exception as exc:  # whatever went wrong, Keap must try again
        log.warning("account lookup failed (%s); answering 503", getattr(exc, "code", type(exc)))
        raise HTTPException(503, "the account could not be checked; try again", RETRY) from None
    if not known:
        raise HTTPException(404, f"no account {account!r}")


def handshake(secret: str) -> Response:
    """Keap's verification: answer 200 and echo `X-Hook-Secret`."""
    if not 0 < len(secret) <= MAX_HOOK_SECRET or not secret.isprintable():
        raise HTTPException(400, "X-Hook-Secret is not a usable value")
    return JSONResponse({"verified": True}, 200, headers={"X-Hook-Secret": secret})


def parse_delivery(request: Request, body: bytes) -> HookDelivery:
    content_type = request.headers.get("content-type", "application/json").lower()
    media = content_type.split(";", 1)[0].strip()
    if media != "application/json" and not media.endswith("+json"):
        raise HTTPException(415, "deliveries must be application/json")
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):  # RecursionError: absurdly deep nesting
        raise HTTPException(415, "the body is not JSON") from None
    try:
        return HookDelivery.model_validate(data)
    except ValidationError as exc:
        problems = [
            f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}"
            for e in exc.errors(include_url=False, include_input=False)[:10]
        ]
        raise HTTPException(400, "invalid delivery: " + "; ".join(problems)) from None


def queue_events(delivery: HookDelivery) -> tuple[list[dict[str, Any]], int]:
    """(events for the queue, one per distinct event key + object id + timestamp;
    the number of objects not queued because this product does not sync them)."""
    target = route(delivery.event_key)
    if target is None:
        return [], len(delivery.object_keys)
    events: dict[str, dict[str, Any]] = {}
    for key in delivery.object_keys:
        for object_id in affected_ids(delivery.event_key, key):
            dedup = f"{delivery.event_key}|{object_id}|{key.timestamp}"
            events.setdefault(
                dedup,
                {
                    "key": dedup,
                    "event_key": delivery.event_key,
                    "stream": target.stream,
                    "action": target.action,
                    "id": object_id,
                    "ts": key.timestamp,
                },
            )
            if len(events) > MAX_EVENTS:
                raise HTTPException(400, f"invalid delivery: more than {MAX_EVENTS} events")
    return list(events.values()), 0


async def receive(request: Request, env: WorkerEnv) -> Response:
    await hold_ip(request, env.ip_limiter)
    account, body = await authenticated_body(request, env)
    secret = request.headers.get("x-hook-secret")
    if secret is not None:
        return handshake(secret)
    delivery = parse_delivery(request, body)
    events, ignored = queue_events(delivery)
    reply: dict[str, Any] = {"accepted": 0, "duplicates": 0}
    if events:
        client = coordinator_client(env, account)  # no binding: not_configured, 503
        request = Events(events=[QueuedEvent.model_validate(e) for e in events])
        try:
            stored = await asyncio.wait_for(client.call(ENQUEUE_EVENTS, request), ENQUEUE_TIMEOUT_S)
        except Exception as exc:  # whatever went wrong, Keap must try again
            log.warning("enqueue failed (%s); answering 503", type(exc).__name__)
            return JSONResponse(
                {"error": {"status": 503, "message": "events not stored; try again"}},
                503,
                headers=RETRY,
            )
        reply = stored.model_dump()
    reply["ignored"] = ignored
    return JSONResponse(reply, 200)
