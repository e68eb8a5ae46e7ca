"""Keap's OAuth 2 endpoints: the authorize URL, code exchange and token refresh.

Token requests go through the one Keap client (`KeapClient.post_form`): its transport, pacing
and retry policy. A token POST is retried only when Keap cannot have acted on it (429, or no
connection made): a refresh Keap carried out but whose answer was lost must not be repeated
with the spent refresh token. Failures to reach Keap raise `shared.keap.errors.KeapUnavailable`
(or `KeapQuotaExhausted`); refusals raise `OAuthError`.
"""

from __future__ import annotations

import base64
import time
from urllib.parse import urlencode

from pydantic import BaseModel, SecretStr

from shared.config import Settings
from shared.keap.client import KeapClient
from shared.keap.errors import KeapUnavailable


class TokenSet(BaseModel):
    """Keap's token response. Tokens are SecretStr so they never print."""

    access_token: SecretStr
    refresh_token: SecretStr
    expires_in: int
    token_type: str = "bearer"  # noqa: S105 - a token kind, not a secret
    scope: str = ""

    @property
    def tenant(self) -> str | None:
        """The Keap app granted: `full|xy123.infusionsoft.com` gives `xy123.infusionsoft.com`."""
        _, _, app = self.scope.partition("|")
        return app or None

    def access_expires_at(self, now: float | None = None) -> float:
        return (now or time.time()) + self.expires_in


class OAuthError(Exception):
    """Keap refused a token request. `code` is the OAuth error code, safe to show."""

    def __init__(self, code: str, description: str = "", status: int = 400) -> None:
        super().__init__(f"{code}: {description}" if description else code)
        self.code = code
        self.description = description
        self.status = status


class InvalidGrant(OAuthError):
    """The code or refresh token is used, expired or revoked: a person must re-authorize."""


def authorize_url(settings: Settings, state: str) -> str:
    query = {
        "client_id": settings.KEAP_CLIENT_ID or "",
        "redirect_uri": settings.KEAP_REDIRECT_URI or "",
        "response_type": "code",
        "scope": "full",
        "state": state,
    }
    return f"{settings.KEAP_AUTHORIZE_URL}?{urlencode(query)}"


def _client_credentials(settings: Settings) -> tuple[str, str]:
    if not settings.KEAP_CLIENT_ID or settings.KEAP_CLIENT_SECRET is None:
        raise OAuthError("not_configured", "KEAP_CLIENT_ID and KEAP_CLIENT_SECRET must be set", 500)
    return settings.KEAP_CLIENT_ID, settings.KEAP_CLIENT_SECRET.get_secret_value()


async def _token_request(
    keap: KeapClient, settings: Settings, form: dict[str, str], basic: bool
) -> TokenSet:
    client_id, client_secret = _client_credentials(settings)
    headers = {"Accept": "application/json"}
    if basic:
        pair = base64.b64encode(f"{client_id}:{client_secret}".encode()).decode()
        headers["Authorization"] = f"Basic {pair}"
    else:
        form = {**form, "client_id": client_id, "client_secret": client_secret}
    response = await keap.post_form(settings.KEAP_TOKEN_URL, form, headers)
    if response.status == 429 or response.status >= 500:
        raise KeapUnavailable(f"Keap's token endpoint answered {response.status}", 503)
    try:
        body = response.json()
    except ValueError:
        body = {}
    if not isinstance(body, dict):
        body = {}
    if response.status != 200:
        code = str(body.get("error") or f"http_{response.status}")
        description = str(body.get("error_description") or "")[:200]
        error = InvalidGrant if code == "invalid_grant" else OAuthError
        raise error(code, description, response.status)
    try:
        return TokenSet.model_validate(body)
    except ValueError:
        raise OAuthError(
            "bad_response", "token response without the expected fields", 502
        ) from None


async def exchange_code(keap: KeapClient, settings: Settings, code: str) -> TokenSet:
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": settings.KEAP_REDIRECT_URI or "",
    }
    return await _token_request(keap, settings, form, basic=False)


async def refresh(keap: KeapClient, settings: Settings, refresh_token: str) -> TokenSet:
    form = {"grant_type": "refresh_token", "refresh_token": refresh_token}
    return await _token_request(keap, settings, form, basic=True)
