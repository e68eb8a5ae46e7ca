"""The account registry's storage: answered only by the object named `__accounts__`.

Every coordinator object has the (empty) table; the registry's is the one in use. Who may
reach an account's object is decided in front of the objects, by `shared.rpc.accounts`.
"""

from __future__ import annotations

from collections.abc import Callable

from shared.config import Settings
from shared.platform.interfaces import SqlStorage
from shared.platform.wire import CoordinatorError
from shared.rpc.client import REGISTRY, check_account
from shared.rpc.dispatch import handles
from shared.rpc.methods import (
    LIST_ACCOUNTS,
    LOOKUP_ACCOUNT,
    REGISTER_ACCOUNT,
    AccountInfo,
    AccountName,
)
from shared.timefmt import from_epoch as iso


class AccountRegistry:
    def __init__(
        self, sql: SqlStorage, settings: Settings, name: str, clock: Callable[[], float]
    ) -> None:
        self.sql = sql
        self.settings = settings
        self.name = name
        self.clock = clock

    def _only_here(self) -> None:
        if self.name != REGISTRY:
            raise CoordinatorError("not_registry", "accounts are kept by the registry object", 400)

    def _info(self, account: str) -> AccountInfo | None:
        if account == self.settings.DEFAULT_ACCOUNT:
            return AccountInfo(account=account, source="default")
        if account in self.settings.ACCOUNTS:
            return AccountInfo(account=account, source="setting")
        rows = self.sql.exec("SELECT registered_at FROM accounts WHERE name = ?", account)
        if not rows:
            return None
        return AccountInfo(
            account=account, source="registered", registered_at=iso(rows[0]["registered_at"])
        )

    @handles(REGISTER_ACCOUNT)
    def register(self, request: AccountName) -> AccountInfo:
        """Make an account exist (an admin is connecting it); safe to repeat."""
        self._only_here()
        account = check_account(request.account)
        self.sql.exec(
            "INSERT INTO accounts (name, registered_at) VALUES (?, ?) ON CONFLICT(name) DO NOTHING",
            account,
            self.clock(),
        )
        info = self._info(account)
        assert info is not None
        return info

    @handles(LOOKUP_ACCOUNT)
    def lookup(self, request: AccountName) -> bool:
        self._only_here()
        return self._info(request.account) is not None

    @handles(LIST_ACCOUNTS)
    def every_account(self) -> list[AccountInfo]:
        """Every account: the default first, then the ACCOUNTS setting's, then the registered."""
        self._only_here()
        names = [self.settings.DEFAULT_ACCOUNT, *self.settings.ACCOUNTS]
        names += [r["name"] for r in self.sql.exec("SELECT name FROM accounts ORDER BY name")]
        seen: dict[str, AccountInfo] = {}
        for name in names:
            info = self._info(name)
            if name not in seen and info is not None:
                seen[name] = info
        return list(seen.values())
