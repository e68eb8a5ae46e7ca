"""Connecting a Keap account: one-time, expiring `state` values and the code exchange."""

from __future__ import annotations

from shared.config import Settings
from shared.coordinator.oauth_state import new_state
from shared.coordinator.tokens import TokenKeeper
from shared.keap import oauth
from shared.keap.errors import KeapError
from shared.platform.interfaces import SqlStorage
from shared.platform.wire import CoordinatorError
from shared.rpc.dispatch import handles
from shared.rpc.methods import BEGIN_OAUTH, COMPLETE_OAUTH, OAuthCallback, OAuthDone, OAuthStart

STATE_TTL_S = 600


class OAuthFlow:
    def __init__(
        self, sql: SqlStorage, settings: Settings, tokens: TokenKeeper, account: str
    ) -> None:
        self.sql = sql
        self.settings = settings
        self.tokens = tokens
        self.account = account
        self.clock = tokens.clock  # one clock for the whole account

    @handles(BEGIN_OAUTH)
    def begin(self) -> OAuthStart:
        """A fresh signed state naming this account (see `oauth_state`), kept to be used once."""
        if not self.settings.KEAP_CLIENT_ID or not self.settings.KEAP_REDIRECT_URI:
            raise CoordinatorError(
                "not_configured", "KEAP_CLIENT_ID and KEAP_REDIRECT_URI must be set for OAuth", 500
            )
        now = self.clock()
        self.sql.exec("DELETE FROM oauth_states WHERE expires_at < ?", now - 86400)
        state = new_state(self.settings.STATE_SECRET, self.account, now + STATE_TTL_S)
        self.sql.exec(
            "INSERT INTO oauth_states (state, expires_at) VALUES (?, ?)", state, now + STATE_TTL_S
        )
        return OAuthStart(
            authorize_url=oauth.authorize_url(self.settings, state), state_expires_in=STATE_TTL_S
        )

    def _consume(self, state: str) -> None:
        """Accept a state once, within its lifetime; refuse everything else."""
        rows = self.sql.exec("SELECT expires_at, used_at FROM oauth_states WHERE state = ?", state)
        if not rows:
            raise CoordinatorError("invalid_state", "this sign-in link is not one we issued", 400)
        if rows[0]["used_at"] is not None:
            raise CoordinatorError("reused_state", "this sign-in link was already used", 400)
        self.sql.exec("UPDATE oauth_states SET used_at = ? WHERE state = ?", self.clock(), state)
        if rows[0]["expires_at"] < self.clock():
            raise CoordinatorError("expired_state", "this sign-in link has expired", 400)

    @handles(COMPLETE_OAUTH)
    async def complete(self, callback: OAuthCallback) -> OAuthDone:
        """Keap's redirect back: the state checked once, the code exchanged, the pair kept."""
        self._consume(callback.state)
        if callback.error:
            message = f"Keap did not grant access ({callback.error[:60]})"
            raise CoordinatorError("denied", message, 400)
        code = callback.code
        if not code:
            raise CoordinatorError("invalid_request", "the callback carried no code", 400)
        try:
            async with self.tokens.token_client() as keap:
                tokens = await oauth.exchange_code(keap, self.settings, code)
        except oauth.OAuthError as exc:
            raise CoordinatorError(
                "keap_error", f"Keap refused the code exchange ({exc.code})", 502
            ) from None
        except KeapError as exc:
            raise CoordinatorError(
                "keap_unavailable", f"Keap did not answer the code exchange ({exc.code})", 503
            ) from None
        self.tokens.store(tokens, connected=True)
        return OAuthDone(account=self.account, tenant=tokens.tenant)
