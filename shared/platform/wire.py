"""The wire format of calls into the SyncCoordinator: JSON text in, JSON text out.

Text crosses every boundary (Workers RPC, Durable Object RPC, in-process) without
depending on how a platform converts Python objects.
"""

from __future__ import annotations

import json
from typing import Any


class CoordinatorError(Exception):
    """A coordinator method failed; `code` is stable, `message` is safe to show."""

    def __init__(self, code: str, message: str, status: int = 500) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status


def encode_result(result: Any) -> str:
    return json.dumps({"ok": True, "result": result}, default=str)


def encode_error(error: CoordinatorError) -> str:
    return json.dumps(
        {
            "ok": False,
            "error": {"code": error.code, "message": error.message, "status": error.status},
        }
    )


def decode_reply(reply: str) -> Any:
    """The result of a call, or the CoordinatorError it raised."""
    body = json.loads(reply)
    if body.get("ok"):
        return body.get("result")
    err = body.get("error") or {}
    raise CoordinatorError(
        err.get("code", "error"), err.get("message", "coordinator error"), err.get("status", 500)
    )
