"""Admin authentication: `Authorization: Bearer <ADMIN_TOKEN>`, compared in constant time."""

from __future__ import annotations

import hmac

from fastapi import HTTPException, Request

from shared.platform.env import Env


def constant_time_equal(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


def require_admin(request: Request, env: Env) -> None:
    """FastAPI dependency that refuses anything but the admin bearer token."""
    expected = env.settings.ADMIN_TOKEN
    if expected is None or not expected.get_secret_value():
        raise HTTPException(503, "ADMIN_TOKEN is not configured on this worker")
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not constant_time_equal(
        token.strip(), expected.get_secret_value()
    ):
        raise HTTPException(401, "admin bearer token required", {"WWW-Authenticate": "Bearer"})
