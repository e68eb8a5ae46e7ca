"""The FastAPI app every worker starts from: JSON errors and `GET /health`."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, FastAPI, Query
from fastapi.responses import JSONResponse

from shared.platform.env import Env, WorkerEnv
from shared.web.auth import require_admin
from shared.web.cors import CorsMiddleware
from shared.web.errors import install_error_handlers
from shared.web.health import CachedHealth, public, worker_checks

AccountParam = Annotated[str | None, Query(description="Keap account; default DEFAULT_ACCOUNT")]
"""A route's `?account=` (an account nobody connected is a 404 `unknown_account`)."""


def create_worker_app(title: str, *, accounts: bool = False, streams: bool = False) -> FastAPI:
    """`accounts`, `streams`: what this worker's health looks at beside its bindings (see
    `shared.web.health.worker_checks`)."""
    app = FastAPI(title=title, docs_url=None, redoc_url=None, openapi_url=None)
    install_error_handlers(app)
    app.add_middleware(CorsMiddleware)

    async def round_of_checks(env: WorkerEnv) -> tuple[int, dict[str, Any]]:
        cached = env.instance.setdefault(f"health:{title}", CachedHealth())
        return await cached.get(lambda: worker_checks(env, accounts=accounts, streams=streams))

    @app.get("/health")
    async def health(env: Env) -> JSONResponse:
        """Public: healthy or degraded, and each check's name with ok or fail."""
        status, body = await round_of_checks(env)
        return JSONResponse(public(body), status)

    @app.get("/health/detail", dependencies=[Depends(require_admin)])
    async def health_detail(env: Env) -> JSONResponse:
        """Admin: the same round in full (errors, latencies, each account)."""
        status, body = await round_of_checks(env)
        return JSONResponse(body, status)

    return app
