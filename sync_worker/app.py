"""The sync-worker's HTTP app: on-demand syncs, reconciliation and status (admin only).

- `POST /sync/full`: every object from the beginning.
- `POST /sync/reconcile`: find deletes for every object (`?objects=a,b` for some).
- `POST /sync/{object}`: one object from its cursor; `?full=true` from the beginning,
  `?reconcile=true` find its deletes instead.
- `GET /sync/status`: per object cursor, rows, last run, errors (cached; `?refresh=true`).

A run answers when it ends: 200 with its summary (status `ok`, or `partial` when its
budget ran out and the next run continues), 502 when Keap refused an object's requests
outright (`keap_refused`: the other objects still ran; the summary says which and what
Keap said), 503 when it failed otherwise (the code says why, e.g.
`reauthorization_required`), 409 when another run holds the lease.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any, TypeVar

from fastapi import Depends, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel

from shared.keap.streams import STREAM_NAMES
from shared.platform.env import Env, WorkerEnv
from shared.platform.wire import CoordinatorError
from shared.rpc.client import coordinator_client
from shared.rpc.methods import HOOKS_LIST, QUEUE_STATUS
from shared.sync import service
from shared.sync.run import KEAP_REFUSED, LeaseBusy, RunResult
from shared.sync.status import accounts_overview, get_status
from shared.web.app import AccountParam, create_worker_app
from shared.web.auth import require_admin, wants_html
from shared.web.errors import error_body
from sync_worker.status_page import render_status_page

app = create_worker_app("sync-worker", accounts=True, streams=True)
T = TypeVar("T")


class StreamSummary(BaseModel):
    status: str
    pages: int
    records: int
    written: int
    deleted: int
    fetched_missing: int
    cleaned: int
    quarantined: int
    details_read: int
    cursor: str | None
    error: str | None


class RunSummary(BaseModel):
    run_id: str
    kind: str
    status: str
    streams: dict[str, StreamSummary]
    errors: list[str]
    error_code: str | None
    stop_reason: str | None
    keap_requests: int
    subrequests: int
    elapsed_s: float


class StatusResponse(BaseModel):
    cached: bool
    status: dict[str, Any]
    queue: dict[str, Any] | None = None  # the webhook event queue, read live
    accounts: list[dict[str, Any]] | None = None  # every account, in brief, read live


def _summary(result: RunResult) -> RunSummary:
    data = result.to_json()
    streams = {
        name: StreamSummary(**{k: v for k, v in s.items() if k != "stream"})
        for name, s in data.pop("streams").items()
    }
    return RunSummary(streams=streams, **data)


async def _start(
    env: WorkerEnv, kind: str, objects: list[str] | None, account: str | None
) -> JSONResponse:
    try:
        result = await service.run(env, kind, objects, account=account)
    except LeaseBusy as busy:
        body = error_body(409, f"a sync run ({busy.holder}) is in progress", "sync_in_progress")
        return JSONResponse(body, 409)
    except RuntimeError as exc:  # a binding this worker needs is missing
        return JSONResponse(error_body(503, str(exc), "not_configured"), 503)
    summary = _summary(result).model_dump()
    if result.status == "failed":
        message = result.errors[0] if result.errors else "the run failed"
        # 502: Keap refused a request (asking again will not help); 503: try again later.
        status = 502 if result.error_code == KEAP_REFUSED else 503
        body = {**error_body(status, message, result.error_code), "run": summary}
        return JSONResponse(body, status)
    return JSONResponse(summary, 200)


def _objects(value: str | None) -> list[str] | None:
    if not value:
        return None
    names = [n.strip() for n in value.split(",") if n.strip()]
    unknown = [n for n in names if n not in STREAM_NAMES]
    if unknown:
        raise HTTPException(404, f"unknown object {unknown[0]!r}; known: {', '.join(STREAM_NAMES)}")
    return names


@app.post("/sync/full", dependencies=[Depends(require_admin)], response_model=RunSummary)
async def sync_full(env: Env, account: AccountParam = None) -> JSONResponse:
    return await _start(env, "full", None, account)


@app.post("/sync/reconcile", dependencies=[Depends(require_admin)], response_model=RunSummary)
async def sync_reconcile(
    env: Env, objects: str | None = Query(None), account: AccountParam = None
) -> JSONResponse:
    return await _start(env, "reconcile", _objects(objects), account)


@app.get("/sync/status", dependencies=[Depends(require_admin)], response_model=StatusResponse)
async def sync_status(
    request: Request, env: Env, refresh: bool = False, account: AccountParam = None
) -> Response:
    """One account in full (`?account=`, else the default one) and every account in brief;
    JSON for scripts, the status page for a browser (which asks for text/html)."""
    status, cached = await get_status(env, account, refresh=refresh)
    coordinator = coordinator_client(env, account)
    queue = await _unless_unavailable(coordinator.call(QUEUE_STATUS))  # live, never cached
    accounts = await _unless_unavailable(accounts_overview(env))
    if wants_html(request):
        hooks = await _unless_unavailable(coordinator.call(HOOKS_LIST))
        return HTMLResponse(render_status_page(status, queue, hooks, accounts))
    response = StatusResponse(cached=cached, status=status, queue=queue, accounts=accounts)
    return JSONResponse(response.model_dump())


async def _unless_unavailable(call: Awaitable[T]) -> T | None:
    """A part of the status the coordinator (or Keap behind it) cannot give right now."""
    try:
        return await call
    except CoordinatorError:
        return None


@app.post("/sync/{object_name}", dependencies=[Depends(require_admin)], response_model=RunSummary)
async def sync_object(
    object_name: str,
    env: Env,
    full: bool = False,
    reconcile: bool = False,
    account: AccountParam = None,
) -> JSONResponse:
    names = _objects(object_name)
    if full and reconcile:
        raise HTTPException(400, "choose full or reconcile, not both")
    kind = "reconcile" if reconcile else "full" if full else "incremental"
    return await _start(env, kind, names, account)
