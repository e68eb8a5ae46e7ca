"""Authenticating hook deliveries. Keap cannot sign, so the hook URL carries the proof.

The hook URL is `WEBHOOK_PUBLIC_URL?account=<name>&token=<hex HMAC-SHA256(secret,
"keap-hook:" + account)>`: unguessable without `KEAP_WEBHOOK_SECRET`, stable across
deploys (so registered subscriptions keep working), and different per account. A relay
that can sign may instead send `X-Hook-Signature: <hex HMAC-SHA256(secret, raw body)>`.
"""

from __future__ import annotations

import hashlib
import hmac
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from pydantic import SecretStr

from shared.config import Settings
from shared.rpc.client import ACCOUNT_PATTERN

TOKEN_CONTEXT = "keap-hook:"  # noqa: S105 - a domain-separation prefix, not a secret


class HookUrlError(ValueError):
    """The settings cannot produce an authenticated hook URL."""


def _hex_hmac(secret: SecretStr, message: bytes) -> str:
    key = secret.get_secret_value().encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def hook_token(secret: SecretStr, account: str) -> str:
    """The URL token that proves a delivery for `account` comes from a hook we registered."""
    return _hex_hmac(secret, (TOKEN_CONTEXT + account).encode())


def body_signature(secret: SecretStr, body: bytes) -> str:
    """`X-Hook-Signature` for a relay that signs the raw body."""
    return _hex_hmac(secret, body)


def _equal(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.strip().lower().encode(), expected.encode())


def token_valid(secret: SecretStr, account: str, token: str) -> bool:
    return _equal(token, hook_token(secret, account))


def signature_valid(secret: SecretStr, body: bytes, signature: str) -> bool:
    value = signature.strip()
    if value.lower().startswith("sha256="):  # the common relay spelling
        value = value[7:]
    return _equal(value, body_signature(secret, body))


def hook_url(settings: Settings, account: str) -> str:
    """The authenticated URL to register with Keap for `account`."""
    if not settings.WEBHOOK_PUBLIC_URL:
        raise HookUrlError("WEBHOOK_PUBLIC_URL is not set")
    if settings.KEAP_WEBHOOK_SECRET is None or not settings.KEAP_WEBHOOK_SECRET.get_secret_value():
        raise HookUrlError("KEAP_WEBHOOK_SECRET is not set")
    if not ACCOUNT_PATTERN.match(account):
        raise HookUrlError("account names are 1-64 letters, digits, - or _")
    parts = urlsplit(settings.WEBHOOK_PUBLIC_URL)
    query = [(k, v) for k, v in parse_qsl(parts.query) if k not in ("account", "token")]
    query += [("account", account), ("token", hook_token(settings.KEAP_WEBHOOK_SECRET, account))]
    return urlunsplit(parts._replace(query=urlencode(query)))


def is_our_hook(url: str, settings: Settings, account: str) -> bool:
    """Whether `url` (a registered hookUrl) is one of ours: our endpoint whatever its query,
    or any address carrying our token (the handler moved to a new domain)."""
    parts = urlsplit(url)
    if settings.WEBHOOK_PUBLIC_URL:
        ours = urlsplit(settings.WEBHOOK_PUBLIC_URL)
        if (parts.scheme, parts.netloc.lower(), parts.path.rstrip("/")) == (
            ours.scheme,
            ours.netloc.lower(),
            ours.path.rstrip("/"),
        ):
            return True
    secret = settings.KEAP_WEBHOOK_SECRET
    tokens = [v for k, v in parse_qsl(parts.query) if k == "token"]
    return secret is not None and any(token_valid(secret, account, t) for t in tokens)


def redact_url(url: str) -> str:
    """`url` for responses and logs: every query value but the account hidden (ours hold
    the token; another integration's may hold its own secrets)."""
    parts = urlsplit(url)
    query = [(k, v if k == "account" else "***") for k, v in parse_qsl(parts.query)]
    return urlunsplit(parts._replace(query=urlencode(query, safe="*")))
