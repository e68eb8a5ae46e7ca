"""Keap credentials inside the coordinator: one writer, refreshed ahead of time.

Keap refresh tokens are single-use. Every refresh happens here, one at a time (an
asyncio lock, because calls into a Durable Object interleave while it waits on the
network), and the new pair is stored before any caller sees it. `invalid_grant`
puts the account in `reauthorization_required` instead of retrying forever.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

from shared.config import Settings
from shared.keap import oauth
from shared.keap.client import KeapClient
from shared.keap.credentials import MIN_ACCESS_LIFETIME_S, KeapAccess
from shared.keap.errors import KeapError
from shared.keap.pacing import Backoff
from shared.platform.interfaces import HttpTransport, SqlStorage
from shared.platform.wire import CoordinatorError
from shared.rpc.dispatch import handles
from shared.rpc.methods import GET_ACCESS, REPORT_UNAUTHORIZED, Rejected
from shared.timefmt import from_epoch

log = logging.getLogger("keap_sync.tokens")

ALARM_LEAD_S = 600  # the alarm refreshes this long before the access token expires
REFRESH_TOKEN_LIFETIME_S = 45 * 86400
REFRESH_TOKEN_RENEW_AGE_S = 30 * 86400  # refresh well before the 45-day end

CONNECTED = "connected"
REAUTHORIZATION_REQUIRED = "reauthorization_required"
NOT_CONNECTED = "not_connected"


class TokenKeeper:
    def __init__(
        self,
        sql: SqlStorage,
        settings: Settings,
        transport: HttpTransport | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.sql = sql
        self.settings = settings
        self.clock = clock  # epoch seconds
        self._transport = transport
        self._lock = asyncio.Lock()

    def token_client(self) -> KeapClient:
        """A Keap client for the OAuth token endpoint (no credentials of its own)."""
        transport = self._transport() if self._transport is not None else None
        # A few quick retries only: the caller (an alarm, a sync run) tries again later.
        backoff = Backoff(base_s=0.5, cap_s=4.0, max_attempts=3)
        return KeapClient(self.settings, transport=transport, backoff=backoff)

    def _row(self) -> dict[str, Any] | None:
        rows = self.sql.exec("SELECT * FROM oauth_tokens WHERE id = 1")
        return rows[0] if rows else None

    @property
    def state(self) -> str:
        row = self._row()
        return row["state"] if row else NOT_CONNECTED

    def store(self, tokens: oauth.TokenSet, *, connected: bool = False) -> None:
        """Keep a fresh pair (one statement, so it is stored whole or not at all)."""
        now = self.clock()
        self.sql.exec(
            """INSERT INTO oauth_tokens (id, state, access_token, refresh_token,
                   access_expires_at, refresh_expires_at, scope, tenant, reason,
                   connected_at, refreshed_at, refresh_started_at)
               VALUES (1, ?, ?, ?, ?, ?, ?, ?, NULL, ?, ?, NULL)
               ON CONFLICT(id) DO UPDATE SET state = excluded.state,
                   access_token = excluded.access_token, refresh_token = excluded.refresh_token,
                   access_expires_at = excluded.access_expires_at,
                   refresh_expires_at = excluded.refresh_expires_at, scope = excluded.scope,
                   tenant = COALESCE(excluded.tenant, oauth_tokens.tenant), reason = NULL,
                   connected_at = CASE WHEN ? THEN excluded.connected_at
                                       ELSE oauth_tokens.connected_at END,
                   refreshed_at = excluded.refreshed_at, refresh_started_at = NULL""",
            CONNECTED,
            tokens.access_token.get_secret_value(),
            tokens.refresh_token.get_secret_value(),
            tokens.access_expires_at(now),
            now + REFRESH_TOKEN_LIFETIME_S,
            tokens.scope,
            tokens.tenant,
            now,
            now,
            1 if connected else 0,
        )

    def _require_reauthorization(self, reason: str) -> None:
        self.sql.exec(
            "UPDATE oauth_tokens SET state = ?, reason = ?, access_token = NULL, "
            "refresh_token = NULL, refresh_started_at = NULL WHERE id = 1",
            REAUTHORIZATION_REQUIRED,
            reason,
        )
        log.warning("Keap refused the refresh token: the account must be re-authorized")

    @staticmethod
    def _bearer(row: dict[str, Any]) -> KeapAccess:
        return KeapAccess(
            kind="bearer", token=row["access_token"], expires_at=row["access_expires_at"]
        )

    def _fallback(self, row: dict[str, Any] | None) -> KeapAccess:
        """No usable OAuth grant: the API key if there is one, else a clear error."""
        if self.settings.KEAP_API_KEY is not None:
            return KeapAccess(kind="api_key", token=self.settings.KEAP_API_KEY.get_secret_value())
        if row is not None and row["state"] == REAUTHORIZATION_REQUIRED:
            raise CoordinatorError(
                REAUTHORIZATION_REQUIRED,
                "Keap no longer accepts this account's grant; open /oauth/initiate to reconnect",
                409,
            )
        raise CoordinatorError(
            NOT_CONNECTED,
            "no Keap account connected; open /oauth/initiate or set KEAP_API_KEY",
            409,
        )

    @handles(GET_ACCESS)
    async def get_access(self) -> KeapAccess:
        """A credential valid for at least `MIN_ACCESS_LIFETIME_S` (refreshed here if need be)."""
        row = self._row()
        if row is None or row["state"] != CONNECTED:
            return self._fallback(row)
        if row["access_expires_at"] - self.clock() > MIN_ACCESS_LIFETIME_S:
            return self._bearer(row)
        return await self._refresh(force_if_token=None)

    @handles(REPORT_UNAUTHORIZED)
    async def report_unauthorized(self, rejected: Rejected) -> KeapAccess:
        """Keap said 401 to a token. Refresh only if it is still the current one."""
        row = self._row()
        if row is None or row["state"] != CONNECTED:
            if self.settings.KEAP_API_KEY is not None:
                raise CoordinatorError(
                    "api_key_rejected", "Keap refused KEAP_API_KEY; check or replace the key", 409
                )
            return self._fallback(row)
        return await self._refresh(force_if_token=rejected.token)

    async def _refresh(self, force_if_token: str | None) -> KeapAccess:
        async with self._lock:
            row = self._row()  # again: a call we waited for may have refreshed already
            if row is None or row["state"] != CONNECTED:
                return self._fallback(row)
            still_fresh = row["access_expires_at"] - self.clock() > MIN_ACCESS_LIFETIME_S
            rejected = force_if_token is not None and force_if_token == row["access_token"]
            if still_fresh and not rejected:
                return self._bearer(row)
            self.sql.exec(
                "UPDATE oauth_tokens SET refresh_started_at = ? WHERE id = 1", self.clock()
            )
            try:
                async with self.token_client() as keap:
                    tokens = await oauth.refresh(keap, self.settings, row["refresh_token"])
            except oauth.InvalidGrant as exc:
                self._require_reauthorization(f"refresh refused by Keap: {exc.code}")
                raise CoordinatorError(
                    REAUTHORIZATION_REQUIRED,
                    "Keap refused the refresh token; open /oauth/initiate to reconnect",
                    409,
                ) from None
            except (oauth.OAuthError, KeapError) as exc:
                self.sql.exec("UPDATE oauth_tokens SET refresh_started_at = NULL WHERE id = 1")
                raise CoordinatorError(
                    "keap_unavailable", f"token refresh failed: {exc.code}", 503
                ) from None
            self.store(tokens)
            log.info("Keap tokens refreshed")
            return self._bearer(self._row() or {})

    def next_due(self) -> float | None:
        """When the alarm should next look after the tokens (epoch seconds)."""
        row = self._row()
        if row is None or row["state"] != CONNECTED:
            return None
        issued = row["refreshed_at"] or row["connected_at"] or self.clock()
        # Half the lifetime at most, so a short-lived token does not refresh in a loop.
        lead = min(ALARM_LEAD_S, (row["access_expires_at"] - issued) / 2)
        return min(row["access_expires_at"] - lead, issued + REFRESH_TOKEN_RENEW_AGE_S)

    async def maintain(self) -> None:
        """Alarm work: refresh when the access token nears its end or the refresh token ages."""
        due = self.next_due()
        if due is not None and due <= self.clock():
            row = self._row() or {}
            try:
                await self._refresh(force_if_token=row.get("access_token"))
            except CoordinatorError as exc:
                if exc.code != REAUTHORIZATION_REQUIRED:
                    raise  # transient: the platform retries the alarm
                # final until a person reconnects; retrying would change nothing

    def status(self) -> dict[str, Any]:
        row = self._row()
        api_key = self.settings.KEAP_API_KEY is not None
        if row is None:
            return {
                "state": NOT_CONNECTED,
                "auth": "api_key" if api_key else None,
                "api_key": api_key,
            }
        return {
            "state": row["state"],
            "auth": "oauth" if row["state"] == CONNECTED else ("api_key" if api_key else None),
            "api_key": api_key,
            "tenant": row["tenant"],
            "reason": row["reason"],
            "connected_at": from_epoch(row["connected_at"]),
            "refreshed_at": from_epoch(row["refreshed_at"]),
            "access_expires_at": from_epoch(row["access_expires_at"]),
            "refresh_expires_at": from_epoch(row["refresh_expires_at"]),
            "refresh_in_flight_since": from_epoch(row["refresh_started_at"]),
        }
