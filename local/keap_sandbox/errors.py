"""Error bodies in the shapes Keap answers with: v2 `Error`, v1 `{message}`, Apigee `fault`."""

from __future__ import annotations

import json
from typing import Any

from starlette.responses import Response

_STATUS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    409: "ALREADY_EXISTS",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    501: "UNIMPLEMENTED",
    502: "UNAVAILABLE",
    503: "UNAVAILABLE",
}


class ApiError(Exception):
    """Raised anywhere below a route; the app turns it into a Keap v2 `Error` response."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    # backslashreplace: half a surrogate pair goes out as its JSON escape (see render).
    return Response(
        json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode(
            "utf-8", "backslashreplace"
        ),
        status_code=status,
        media_type="application/json",
        headers=headers,
    )


def v2_error(status: int, message: str) -> Response:
    """Keap REST v2 `Error` schema: {code, message, status, details}."""
    return json_response(
        {
            "code": status,
            "message": message,
            "status": _STATUS.get(status, "UNKNOWN"),
            "details": [],
        },
        status,
    )


def v1_error(status: int, message: str) -> Response:
    return json_response({"message": message}, status)


def fault(status: int, faultstring: str, errorcode: str) -> Response:
    """Apigee gateway fault, as Keap's gateway sends for auth, limit and upstream errors."""
    return json_response(
        {"fault": {"faultstring": faultstring, "detail": {"errorcode": errorcode}}}, status
    )
