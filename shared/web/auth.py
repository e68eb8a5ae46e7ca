"""Admin authentication, compared in constant time.

Scripts send `Authorization: Bearer <ADMIN_TOKEN>`. A browser opening the status page
gets a Basic challenge and the admin types the token as the password (any user name),
so the token never has to sit in a URL.
"""

from __future__ import annotations

import base64
import binascii
import hmac

from fastapi import HTTPException, Request

from shared.platform.env import Env


def constant_time_equal(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


def _presented_token(header: str) -> str | None:
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer":
        return value.strip()
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(value.strip(), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            return None
        return decoded.partition(":")[2]
    return None


def wants_html(request: Request) -> bool:
    return "text/html" in request.headers.get("accept", "")


async def require_admin(request: Request, env: Env) -> None:
    """FastAPI dependency that refuses anything but the admin token."""
    expected = env.settings.ADMIN_TOKEN
    if expected is None or not expected.get_secret_value():
        raise HTTPException(503, "ADMIN_TOKEN is not configured on this worker")
    token = _presented_token(request.headers.get("authorization", ""))
    if token is None or not constant_time_equal(token, expected.get_secret_value()):
        challenge = 'Basic realm="keap-supabase-sync"' if wants_html(request) else "Bearer"
        raise HTTPException(401, "admin bearer token required", {"WWW-Authenticate": challenge})
