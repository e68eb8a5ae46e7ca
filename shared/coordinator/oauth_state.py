"""The OAuth `state`, verifiable without storage: `<account>.<expiry>.<nonce>.<signature>`.

The signature is HMAC-SHA256 with `STATE_SECRET` (a secret of the coordinator worker) over the
first three parts, so the worker refuses a forged or expired state before it opens any Durable
Object. The account's object still accepts each state once (the nonce is consumed there).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

from pydantic import SecretStr

from shared.platform.wire import CoordinatorError
from shared.rpc.client import ACCOUNT_PATTERN

CONTEXT = b"keap-oauth-state:"  # domain separation from other uses of the secret


def _signature(secret: SecretStr, payload: str) -> str:
    key = secret.get_secret_value().encode()
    digest = hmac.new(key, CONTEXT + payload.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def _secret(secret: SecretStr | None) -> SecretStr:
    if secret is None or not secret.get_secret_value():
        raise CoordinatorError("not_configured", "STATE_SECRET is not set on the coordinator", 503)
    return secret


def new_state(secret: SecretStr | None, account: str, expires_at: float) -> str:
    """A fresh signed state for `account`, valid until `expires_at` (epoch seconds)."""
    payload = f"{account}.{int(expires_at)}.{secrets.token_urlsafe(18)}"
    return f"{payload}.{_signature(_secret(secret), payload)}"


def verify_state(secret: SecretStr | None, state: str, now: float) -> str:
    """The account a state was issued for; `invalid_state` or `expired_state` (400) else."""
    key = _secret(secret)
    parts = state.split(".")
    invalid = CoordinatorError("invalid_state", "this sign-in link is not one we issued", 400)
    if len(parts) != 4 or not ACCOUNT_PATTERN.match(parts[0]) or not parts[1].isdigit():
        raise invalid
    payload = ".".join(parts[:3])
    if not hmac.compare_digest(parts[3].encode(), _signature(key, payload).encode()):
        raise invalid
    if int(parts[1]) < now:
        raise CoordinatorError("expired_state", "this sign-in link has expired", 400)
    return parts[0]
