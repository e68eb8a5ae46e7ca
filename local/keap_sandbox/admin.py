"""Test controls under /_sandbox/: settings, counters, changes, token trouble, hook log.

No auth: the sandbox only ever binds 127.0.0.1. None of this exists in Keap.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter
from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import Response

from .errors import ApiError, json_response
from .kinds import KINDS

if TYPE_CHECKING:
    from .sandbox import Sandbox

router = APIRouter(prefix="/_sandbox")


def _sb(request: Request) -> Sandbox:
    return request.app.state.sandbox  # type: ignore[no-any-return]


async def _json(request: Request) -> dict[str, Any]:
    raw = await request.body()
    try:
        body = json.loads(raw) if raw else {}
    except json.JSONDecodeError as exc:
        raise ApiError(400, "body is not JSON") from exc
    if not isinstance(body, dict):
        raise ApiError(400, "body must be a JSON object")
    return body


def _kind(name: str) -> str:
    if name not in KINDS:
        raise ApiError(404, f"unknown kind '{name}'; one of {', '.join(KINDS)}")
    return name


@router.get("/config")
async def get_config(request: Request) -> Response:
    return json_response(_sb(request).config.model_dump(mode="json"))


@router.patch("/config")
async def patch_config(request: Request) -> Response:
    """Change run-time settings, e.g. {"error_rate": 0.2, "latency_ms": 50}."""
    try:
        config = _sb(request).update_config(**await _json(request))
    except (ValueError, ValidationError) as exc:
        raise ApiError(400, str(exc)) from exc
    return json_response(config.model_dump(mode="json"))


@router.get("/stats")
async def stats(request: Request) -> Response:
    return json_response(_sb(request).stats())


@router.get("/requests")
async def requests(request: Request) -> Response:
    """The most recent /crm/rest requests (newest last); `?limit=N`, default 100."""
    limit = int(request.query_params.get("limit", "100"))
    log = list(_sb(request).request_log)
    return json_response(log[-limit:] if limit > 0 else [])


@router.post("/changes")
async def changes(request: Request) -> Response:
    """Make changes now: {"kind": "contacts", "edits": 10, "creates": 2, "deletes": 1}."""
    body = await _json(request)
    kind = _kind(body.get("kind", "contacts"))
    made = _sb(request).make_changes(
        int(body.get("edits", 0)), int(body.get("creates", 0)), int(body.get("deletes", 0)), kind
    )
    return json_response(made)


@router.post("/changes/stream")
async def start_stream(request: Request) -> Response:
    """Start background changes.

    Body: {"rate_per_s": 20, "kinds": ["contacts"], "weights": [edits, creates, deletes]}.
    """
    body = await _json(request)
    kinds = tuple(_kind(k) for k in body.get("kinds", ["contacts"]))
    weights = tuple(float(w) for w in body.get("weights", [0.8, 0.15, 0.05]))
    if len(weights) != 3:
        raise ApiError(400, "weights are [edits, creates, deletes]")
    try:
        _sb(request).start_changes(float(body.get("rate_per_s", 10)), kinds, weights)  # type: ignore[arg-type]
    except RuntimeError as exc:
        raise ApiError(409, str(exc)) from exc
    return json_response({"running": True})


@router.delete("/changes/stream")
async def stop_stream(request: Request) -> Response:
    await _sb(request).stop_changes()
    return json_response({"running": False, "made": _sb(request).changes.made})


@router.post("/records/{kind}")
async def create_record(request: Request) -> Response:
    record = _sb(request).create(_kind(request.path_params["kind"]), await _json(request))
    return json_response(record, 201)


@router.patch("/records/{kind}/{record_id}")
async def update_record(request: Request) -> Response:
    kind, record_id = _kind(request.path_params["kind"]), int(request.path_params["record_id"])
    return json_response(_sb(request).update(kind, record_id, await _json(request)))


@router.delete("/records/{kind}/{record_id}")
async def delete_record(request: Request) -> Response:
    _sb(request).delete(_kind(request.path_params["kind"]), int(request.path_params["record_id"]))
    return Response(status_code=204)


@router.get("/refusals")
async def refusals(request: Request) -> Response:
    return json_response([asdict(r) for r in _sb(request).faults.refusals.values()])


@router.post("/refusals")
async def refuse(request: Request) -> Response:
    """Refuse a path for good: {"path": "/v2/orders", "status": 403, "message": "..."}."""
    body = await _json(request)
    try:
        refusal = _sb(request).faults.refuse(
            str(body.get("path", "")), int(body.get("status", 403)), str(body.get("message", ""))
        )
    except (TypeError, ValueError) as exc:
        raise ApiError(400, str(exc)) from exc
    return json_response(asdict(refusal), 201)


@router.delete("/refusals")
async def allow(request: Request) -> Response:
    """Stop refusing `?path=/v2/orders` (without `path`: every path)."""
    _sb(request).faults.allow(request.query_params.get("path"))
    return Response(status_code=204)


@router.get("/grants")
async def grants(request: Request) -> Response:
    return json_response(_sb(request).auth.summary())


@router.post("/revoke")
async def revoke(request: Request) -> Response:
    """Revoke a grant: {"grant_id": ...} or {"refresh_token": ...}; {} revokes every grant."""
    body = await _json(request)
    auth = _sb(request).auth
    grant_id = body.get("grant_id")
    if "refresh_token" in body:
        grant_id = auth.grant_for_refresh_token(body["refresh_token"])
        if grant_id is None:
            raise ApiError(404, "unknown refresh token")
    return json_response({"revoked": auth.revoke(grant_id)})


@router.post("/expire-tokens")
async def expire_tokens(request: Request) -> Response:
    """Expire all access tokens now ({"refresh": true} expires refresh tokens too)."""
    body = await _json(request)
    return json_response(
        {"expired": _sb(request).auth.expire_tokens(bool(body.get("refresh", False)))}
    )


@router.post("/limits/reset")
async def reset_limits(request: Request) -> Response:
    _sb(request).limits.reset()
    return json_response({"reset": True})


@router.get("/hooks/attempts")
async def hook_attempts(request: Request) -> Response:
    return json_response([a.as_dict() for a in _sb(request).hooks.attempts])


@router.post("/hooks/wait-idle")
async def hooks_wait_idle(request: Request) -> Response:
    """Block until no hook delivery is pending (or `timeout` seconds pass)."""
    body = await _json(request)
    idle = await _sb(request).wait_hooks_idle(float(body.get("timeout", 30)))
    return json_response({"idle": idle})
