"""JSON errors for every app: the right status and a clear message, never a traceback."""

from __future__ import annotations

import logging

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from shared.platform.wire import CoordinatorError

log = logging.getLogger("keap_sync")


def error_body(status: int, message: str, code: str | None = None) -> dict[str, object]:
    error: dict[str, object] = {"status": status, "message": message}
    if code:
        error["code"] = code
    return {"error": error}


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: HTTPException) -> JSONResponse:
        return JSONResponse(
            error_body(exc.status_code, str(exc.detail)),
            exc.status_code,
            headers=getattr(exc, "headers", None),
        )

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        problems = [
            f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg')}" for e in exc.errors()
        ]
        return JSONResponse(error_body(400, "; ".join(problems), "invalid_request"), 400)

    @app.exception_handler(CoordinatorError)
    async def coordinator_error(_: Request, exc: CoordinatorError) -> JSONResponse:
        return JSONResponse(error_body(exc.status, exc.message, exc.code), exc.status)

    @app.exception_handler(Exception)
    async def unexpected(_: Request, exc: Exception) -> JSONResponse:
        # The type only: messages of driver errors can carry connection strings.
        log.error("unhandled %s", type(exc).__name__)
        return JSONResponse(error_body(500, "internal error", type(exc).__name__), 500)
