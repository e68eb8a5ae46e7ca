"""`create_sandbox_app`: the ASGI app serving one `Sandbox`."""

from __future__ import annotations

from fastapi import FastAPI
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from . import admin, routes_hooks, routes_model, routes_oauth, routes_tags, routes_v2
from .config import SandboxConfig
from .errors import ApiError, json_response, v1_error, v2_error
from .gateway import REST_PREFIX, Gateway
from .persistence import FlushBeforeAnswer
from .sandbox import Sandbox


def _error(request: Request, status: int, message: str) -> Response:
    path = request.url.path
    if path.startswith(REST_PREFIX + "/v1/"):
        return v1_error(status, message)
    if path.startswith(REST_PREFIX + "/"):
        return v2_error(status, message)
    return json_response({"error": message}, status)


def create_sandbox_app(
    config: SandboxConfig | None = None, sandbox: Sandbox | None = None
) -> FastAPI:
    """A Keap stand-in: REST at /crm/rest, POST /token, GET /app/oauth/authorize, /_sandbox/.

    The state lives in `app.state.sandbox` (a `Sandbox`), for tests to reach in-process.
    """
    sb = sandbox or Sandbox(config)
    app = FastAPI(title="Keap sandbox", openapi_url=None, docs_url=None, redoc_url=None)
    app.state.sandbox = sb
    # First: /v2/{object}/model must win over routes_v2's /v2/{object}/{id}.
    app.include_router(routes_model.router, prefix=REST_PREFIX)
    app.include_router(routes_tags.router, prefix=REST_PREFIX)
    app.include_router(routes_v2.router, prefix=REST_PREFIX)
    app.include_router(routes_hooks.router, prefix=REST_PREFIX)
    app.include_router(routes_oauth.router)
    app.include_router(admin.router)

    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> Response:
        return _error(request, exc.status, exc.message)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> Response:
        message = {404: "Not Found", 405: "Method Not Allowed"}.get(
            exc.status_code, str(exc.detail)
        )
        return _error(request, exc.status_code, message)

    app.add_middleware(Gateway, sandbox=sb)
    if sb.state is not None:
        app.add_middleware(FlushBeforeAnswer, flush=sb.flush_state)
    return app
