"""Keap credentials: what authenticates one request, and where it comes from.

The coordinator hands out OAuth access tokens that stay valid at least `MIN_ACCESS_LIFETIME_S`;
a Keap client keeps one until it has less than `REFETCH_BEFORE_EXPIRY_S` left, so a token it
holds never expires in the middle of a request.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

from pydantic import BaseModel

from shared.keap.errors import KeapAuthError

MIN_ACCESS_LIFETIME_S = 300.0  # the coordinator hands out access tokens valid this long
REFETCH_BEFORE_EXPIRY_S = 120.0  # a client asks again once its token has less than this left


class KeapAccess(BaseModel):
    """How to authenticate one Keap request right now."""

    kind: Literal["bearer", "api_key"]  # OAuth access token, or PAT / Service Account Key
    token: str
    expires_at: float | None = None  # epoch seconds; None for API keys

    def headers(self) -> dict[str, str]:
        if self.kind == "api_key":
            return {"X-Keap-API-Key": self.token}
        return {"Authorization": f"Bearer {self.token}"}

    def __repr__(self) -> str:  # never print the token
        return f"KeapAccess(kind={self.kind!r}, expires_at={self.expires_at!r})"

    __str__ = __repr__


class Credentials(Protocol):
    """Where Keap credentials come from: the coordinator in production."""

    async def get_access(self) -> KeapAccess: ...

    async def report_unauthorized(self, token: str) -> KeapAccess: ...


@dataclass
class StaticCredentials:
    """A fixed credential (a Personal Access Token), for tools and benchmarks."""

    access: KeapAccess

    async def get_access(self) -> KeapAccess:
        return self.access

    async def report_unauthorized(self, token: str) -> KeapAccess:
        raise KeapAuthError("Keap refused the API key", 401)
