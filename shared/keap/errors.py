"""What can go wrong talking to Keap, as exceptions whose messages are safe to show."""

from __future__ import annotations


class KeapError(Exception):
    """A Keap call failed. `code` is stable; the message never holds a credential."""

    code = "keap_error"

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


class KeapUnavailable(KeapError):
    """Keap kept failing (5xx, 429 or the network) after every retry."""

    code = "keap_unavailable"


class KeapAuthError(KeapError):
    """Keap refused the credential even after a refresh."""

    code = "keap_unauthorized"


class KeapRequestError(KeapError):
    """Keap refused the request itself (4xx other than 401/404/429)."""

    code = "keap_bad_request"


class KeapNotFound(KeapError):
    code = "keap_not_found"


class KeapQuotaExhausted(KeapError):
    """A daily quota is spent; retrying before it resets only wastes what is left."""

    code = "keap_quota_exhausted"
