"""REST hook management (v1) under /crm/rest/v1/hooks."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from .errors import ApiError, json_response
from .hooks import EVENT_KEYS, Hook
from .parsing import no_query

if TYPE_CHECKING:
    from .hooks import HookManager

router = APIRouter()


def _hooks(request: Request) -> HookManager:
    manager: HookManager = request.app.state.sandbox.hooks
    # Deliveries name records by URL; use the address this sandbox was reached at.
    manager.api_base = f"{request.url.scheme}://{request.url.netloc}/crm/rest"
    no_query(request)
    return manager


def _hook(manager: HookManager, key: str) -> Hook:
    hook = manager.hooks.get(key)
    if hook is None:
        raise ApiError(404, f"Hook {key} not found")
    return hook


async def _subscription(request: Request) -> tuple[str, str]:
    try:
        body: Any = json.loads(await request.body() or b"null")
    except json.JSONDecodeError as exc:
        raise ApiError(400, "Request body is not valid JSON") from exc
    if (
        not isinstance(body, dict)
        or not isinstance(body.get("eventKey"), str)
        or not isinstance(body.get("hookUrl"), str)
    ):
        raise ApiError(400, 'Body must be {"eventKey": "...", "hookUrl": "..."}')
    if body["eventKey"] not in EVENT_KEYS:
        raise ApiError(400, f"Unknown eventKey '{body['eventKey']}'; see GET /hooks/event_keys")
    if not body["hookUrl"].startswith(("http://", "https://")):
        raise ApiError(400, "hookUrl must be an http(s) URL")
    return body["eventKey"], body["hookUrl"]


@router.get("/v1/hooks/event_keys")
async def event_keys(request: Request) -> Response:
    _hooks(request)
    return json_response(EVENT_KEYS)


@router.get("/v1/hooks")
async def list_hooks(request: Request) -> Response:
    manager = _hooks(request)
    return json_response([h.public() for h in manager.hooks.values()])


@router.post("/v1/hooks")
async def create_hook(request: Request) -> Response:
    manager = _hooks(request)
    event_key, hook_url = await _subscription(request)
    if manager.by_event(event_key) is not None:
        raise ApiError(400, f"A hook subscription for '{event_key}' already exists")
    hook = await manager.create(event_key, hook_url)
    return json_response(hook.public())


@router.get("/v1/hooks/{key}")
async def get_hook(request: Request) -> Response:
    manager = _hooks(request)
    return json_response(_hook(manager, request.path_params["key"]).public())


@router.put("/v1/hooks/{key}")
async def replace_hook(request: Request) -> Response:
    manager = _hooks(request)
    hook = _hook(manager, request.path_params["key"])
    event_key, hook_url = await _subscription(request)
    other = manager.by_event(event_key)
    if other is not None and other is not hook:
        raise ApiError(400, f"A hook subscription for '{event_key}' already exists")
    await manager.replace(hook, event_key, hook_url)
    return json_response(hook.public())


@router.delete("/v1/hooks/{key}")
async def delete_hook(request: Request) -> Response:
    manager = _hooks(request)
    manager.delete(_hook(manager, request.path_params["key"]))
    return Response(status_code=204)


@router.post("/v1/hooks/{key}/verify")
async def verify_hook(request: Request) -> Response:
    """Re-run the handshake; this is also how an Inactive hook comes back."""
    manager = _hooks(request)
    hook = _hook(manager, request.path_params["key"])
    hook.status = "Unverified"
    await manager.verify(hook)
    return json_response(hook.public())


@router.post("/v1/hooks/{key}/delayedVerify")
async def delayed_verify_hook(request: Request) -> Response:
    manager = _hooks(request)
    hook = _hook(manager, request.path_params["key"])
    if not manager.delayed_verify(hook, request.headers.get("X-Hook-Secret")):
        raise ApiError(400, "X-Hook-Secret does not match the secret sent to the hook URL")
    return json_response(hook.public())
