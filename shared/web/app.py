"""The FastAPI app every worker starts from: JSON errors and `GET /health`."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.responses import JSONResponse

from shared.health import run_health, standard_checks
from shared.platform.env import Env
from shared.web.errors import install_error_handlers


def create_worker_app(title: str) -> FastAPI:
    app = FastAPI(title=title, docs_url=None, redoc_url=None, openapi_url=None)
    install_error_handlers(app)

    @app.get("/health")
    async def health(env: Env) -> JSONResponse:
        status, body = await run_health(standard_checks(env))
        return JSONResponse(body, status)

    return app
