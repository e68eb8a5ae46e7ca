"""The FastAPI app every worker starts from: JSON errors and `GET /health`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import FastAPI, Query
from fastapi.responses import JSONResponse

from shared.platform.env import Env, WorkerEnv
from shared.web.cors import CorsMiddleware
from shared.web.errors import install_error_handlers
from shared.web.health import Check, run_health, standard_checks

AccountParam = Annotated[str | None, Query(description="Keap account; default DEFAULT_ACCOUNT")]
"""A route's `?account=` (an account nobody connected is a 404 `unknown_account`)."""


def create_worker_app(
    title: str, checks: Callable[[WorkerEnv], dict[str, Check]] | None = None
) -> FastAPI:
    """`checks`: the worker's own health checks, beside the standard ones."""
    app = FastAPI(title=title, docs_url=None, redoc_url=None, openapi_url=None)
    install_error_handlers(app)
    app.add_middleware(CorsMiddleware)

    @app.get("/health")
    async def health(env: Env) -> JSONResponse:
        own = checks(env) if checks is not None else {}
        status, body = await run_health({**standard_checks(env), **own})
        return JSONResponse(body, status)

    return app
