"""OAuth 2 state: authorization codes, grants, rotating refresh tokens, access tokens.

A grant is one authorization (one consent); each refresh replaces its refresh token,
and the old one stops working at once. Revoking a grant kills all its tokens. Codes and
tokens are kept by their sha256 only, as a service that stores them should.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from collections import Counter
from dataclasses import asdict, dataclass
from typing import Any

from .config import SandboxConfig


class OAuthError(Exception):
    """An RFC 6749 error answer from the token endpoint."""

    def __init__(self, status: int, error: str, description: str) -> None:
        super().__init__(f"{error}: {description}")
        self.status = status
        self.error = error
        self.description = description

    def body(self) -> dict[str, str]:
        return {"error": self.error, "error_description": self.description}


@dataclass
class _Code:
    client_id: str
    redirect_uri: str
    expires_at: float
    used: bool = False


@dataclass
class _Token:
    grant_id: str
    expires_at: float
    used: bool = False  # refresh tokens only


@dataclass
class Grant:
    id: str
    client_id: str
    created_at: float
    revoked: bool = False
    refreshes: int = 0


def _hashed(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class Auth:
    """Issues and checks tokens; counts grants by type for tests to assert on."""

    def __init__(self, config: SandboxConfig) -> None:
        self.config = config
        self.grants: dict[str, Grant] = {}
        # authorization_code, refresh_token, invalid_grant, invalid_client, ...
        self.grant_counts: Counter[str] = Counter()
        self._codes: dict[str, _Code] = {}
        self._access: dict[str, _Token] = {}
        self._refresh: dict[str, _Token] = {}

    # -- authorize and token endpoints -------------------------------------------------

    def known_client(self, client_id: str | None) -> bool:
        return client_id == self.config.client_id

    def issue_code(self, client_id: str, redirect_uri: str) -> str:
        code = secrets.token_urlsafe(18)
        expires_at = time.time() + self.config.auth_code_ttl
        self._codes[_hashed(code)] = _Code(client_id, redirect_uri, expires_at)
        return code

    def client_from(self, form: dict[str, str], authorization: str | None, basic_only: bool) -> str:
        """The authenticated client id, from Basic auth (or form fields unless basic_only)."""
        client_id = secret = None
        if authorization and authorization.lower().startswith("basic "):
            try:
                decoded = base64.b64decode(authorization[6:].strip()).decode()
                client_id, _, secret = decoded.partition(":")
            except ValueError:
                client_id = secret = None
        elif not basic_only:
            client_id, secret = form.get("client_id"), form.get("client_secret")
        if (
            client_id != self.config.client_id
            or secret is None
            or not secrets.compare_digest(secret, self.config.client_secret)
        ):
            self.grant_counts["invalid_client"] += 1
            raise OAuthError(401, "invalid_client", "Invalid client credentials")
        return client_id

    def exchange_code(
        self, client_id: str, code: str | None, redirect_uri: str | None
    ) -> dict[str, Any]:
        found = self._codes.get(_hashed(code or ""))
        if (
            found is None
            or found.used
            or found.expires_at < time.time()
            or found.client_id != client_id
        ):
            self.grant_counts["invalid_grant"] += 1
            raise OAuthError(400, "invalid_grant", "Invalid authorization code")
        if redirect_uri != found.redirect_uri:
            self.grant_counts["invalid_grant"] += 1
            raise OAuthError(400, "invalid_grant", "Redirect URI mismatch")
        found.used = True
        grant = Grant(id=secrets.token_hex(8), client_id=client_id, created_at=time.time())
        self.grants[grant.id] = grant
        self.grant_counts["authorization_code"] += 1
        return self._issue(grant)

    def refresh(self, client_id: str, refresh_token: str | None) -> dict[str, Any]:
        found = self._refresh.get(_hashed(refresh_token or ""))
        grant = self.grants.get(found.grant_id) if found else None
        if (
            found is None
            or grant is None
            or found.used
            or grant.revoked
            or found.expires_at < time.time()
            or grant.client_id != client_id
        ):
            self.grant_counts["invalid_grant"] += 1
            raise OAuthError(400, "invalid_grant", "Invalid refresh token")
        found.used = True
        grant.refreshes += 1
        self.grant_counts["refresh_token"] += 1
        return self._issue(grant)

    def _issue(self, grant: Grant) -> dict[str, Any]:
        now, cfg = time.time(), self.config
        access, refresh = secrets.token_urlsafe(21), secrets.token_urlsafe(24)
        self._access[_hashed(access)] = _Token(grant.id, now + cfg.access_token_ttl)
        self._refresh[_hashed(refresh)] = _Token(grant.id, now + cfg.refresh_token_ttl)
        return {
            "access_token": access,
            "refresh_token": refresh,
            "expires_in": cfg.access_token_ttl,
            "token_type": "bearer",
            "scope": f"full|{cfg.tenant}",
        }

    # -- checking callers --------------------------------------------------------------

    def check_bearer(self, token: str) -> tuple[str | None, str]:
        """(client id, "") for a valid access token, else (None, "invalid"|"expired")."""
        found = self._access.get(_hashed(token))
        if found is None:
            return None, "invalid"
        grant = self.grants.get(found.grant_id)
        if grant is None or grant.revoked:
            return None, "invalid"
        if found.expires_at <= time.time():
            return None, "expired"
        return grant.client_id, ""

    def check_key(self, key: str) -> bool:
        return any(secrets.compare_digest(key, k) for k in self.config.api_keys)

    # -- admin -------------------------------------------------------------------------

    def revoke(self, grant_id: str | None = None) -> int:
        """Revoke one grant (or all): its access and refresh tokens stop working."""
        count = 0
        for grant in self.grants.values():
            if (grant_id is None or grant.id == grant_id) and not grant.revoked:
                grant.revoked = True
                count += 1
        return count

    def expire_tokens(self, refresh: bool = False) -> int:
        """Make every access token (and optionally refresh token) expired right now."""
        now = time.time() - 1
        tokens = list(self._access.values()) + (list(self._refresh.values()) if refresh else [])
        for token in tokens:
            token.expires_at = min(token.expires_at, now)
        return len(tokens)

    def grant_for_refresh_token(self, refresh_token: str) -> str | None:
        found = self._refresh.get(_hashed(refresh_token))
        return found.grant_id if found else None

    def summary(self) -> dict[str, Any]:
        return {
            "grant_counts": dict(self.grant_counts),
            "grants": [
                {
                    "id": g.id,
                    "client_id": g.client_id,
                    "revoked": g.revoked,
                    "refreshes": g.refreshes,
                }
                for g in self.grants.values()
            ],
        }

    # -- kept across restarts (persistence.py) -----------------------------------------

    def snapshot(self) -> dict[str, Any]:
        """Grants, codes and tokens (by hash) with their expiry; not the counters."""
        return {
            "grants": [asdict(g) for g in self.grants.values()],
            "codes": {h: asdict(c) for h, c in self._codes.items()},
            "access": {h: asdict(t) for h, t in self._access.items()},
            "refresh": {h: asdict(t) for h, t in self._refresh.items()},
        }

    def restore(self, data: dict[str, Any]) -> None:
        self.grants = {g["id"]: Grant(**g) for g in data.get("grants", [])}
        self._codes = {h: _Code(**c) for h, c in data.get("codes", {}).items()}
        self._access = {h: _Token(**t) for h, t in data.get("access", {}).items()}
        self._refresh = {h: _Token(**t) for h, t in data.get("refresh", {}).items()}
