"""Keap REST hook subscriptions (v1 `/hooks`) pointing at this product's webhook handler.

"Ours" means a subscription whose hookUrl is the handler's endpoint or carries our token
(see `shared.webhooks.auth.is_our_hook`); other integrations' hooks are left alone, and
Keap allows one subscription per event key, so a key another URL holds is reported, not
taken. Registering is idempotent: a key already subscribed with the current URL is kept
(and re-verified unless Verified), one with an outdated URL of ours is updated. Responses
never show the URL's token.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any, Protocol

from shared.webhooks.auth import redact_url
from shared.webhooks.events import DEFAULT_EVENT_KEYS, route

log = logging.getLogger("keap_sync.hooks")

VERIFIED = "Verified"


class HookApi(Protocol):
    """The calls this module needs from the Keap client (JSON in and out)."""

    async def request_json(self, method: str, path: str, body: Any = None) -> Any: ...


def _view(hook: dict[str, Any], result: str | None = None) -> dict[str, Any]:
    view = {
        "key": hook.get("key"),
        "eventKey": hook.get("eventKey"),
        "status": hook.get("status"),
        "hookUrl": redact_url(str(hook.get("hookUrl", ""))),
    }
    if result is not None:
        view["result"] = result
    return view


class HookSubscriptions:
    def __init__(self, keap: HookApi, hook_url: str, is_ours: Callable[[str], bool]) -> None:
        self.keap = keap
        self.hook_url = hook_url  # the authenticated URL to register
        self.is_ours = is_ours  # whether a registered hookUrl is one of ours

    async def event_keys(self) -> set[str]:
        """The event keys this Keap app offers."""
        keys = await self.keap.request_json("GET", "/v1/hooks/event_keys")
        return {str(k) for k in keys or []}

    async def registered(self) -> list[dict[str, Any]]:
        """Every subscription of this Keap app, ours or not."""
        hooks = await self.keap.request_json("GET", "/v1/hooks")
        return [h for h in hooks or [] if isinstance(h, dict)]

    async def ours(self) -> list[dict[str, Any]]:
        return [h for h in await self.registered() if self.is_ours(str(h.get("hookUrl", "")))]

    async def status(self) -> list[dict[str, Any]]:
        """Our subscriptions and their status."""
        hooks = await self.ours()
        return [_view(h) for h in sorted(hooks, key=lambda h: str(h.get("eventKey")))]

    async def register(self, event_keys: Iterable[str] | None = None) -> list[dict[str, Any]]:
        """Subscribe to `event_keys` (default: everything the sync engine keeps)."""
        wanted = list(dict.fromkeys(event_keys or DEFAULT_EVENT_KEYS))
        offered = await self.event_keys()
        ours: dict[str, list[dict[str, Any]]] = {}
        foreign: dict[str, dict[str, Any]] = {}
        for hook in await self.registered():
            event_key = str(hook.get("eventKey"))
            if self.is_ours(str(hook.get("hookUrl", ""))):
                ours.setdefault(event_key, []).append(hook)
            else:
                foreign.setdefault(event_key, hook)
        results = []
        for event_key in wanted:
            if route(event_key) is None:
                results.append({"eventKey": event_key, "result": "not_synced"})
            elif event_key not in offered:
                results.append({"eventKey": event_key, "result": "not_offered_by_keap"})
            elif event_key in foreign and event_key not in ours:
                results.append(_view(foreign[event_key], "held_by_another_url"))
            else:
                results.append(await self._ensure(event_key, ours.get(event_key, [])))
        return results

    async def _ensure(self, event_key: str, existing: list[dict[str, Any]]) -> dict[str, Any]:
        current = [h for h in existing if h.get("hookUrl") == self.hook_url]
        keep = current[0] if current else (existing[0] if existing else None)
        for extra in existing:
            if extra is not keep:
                await self.keap.request_json("DELETE", f"/v1/hooks/{extra['key']}")
        if keep is None:
            created = await self.keap.request_json(
                "POST", "/v1/hooks", {"eventKey": event_key, "hookUrl": self.hook_url}
            )
            return _view(created, "created")
        if keep.get("hookUrl") != self.hook_url:
            updated = await self.keap.request_json(
                "PUT", f"/v1/hooks/{keep['key']}", {"eventKey": event_key, "hookUrl": self.hook_url}
            )
            if updated.get("status") != VERIFIED:
                updated = await self._verify(updated)
            return _view(updated, "updated")
        if keep.get("status") != VERIFIED:
            return _view(await self._verify(keep), "reverified")
        return _view(keep, "unchanged")

    async def _verify(self, hook: dict[str, Any]) -> dict[str, Any]:
        verified = await self.keap.request_json("POST", f"/v1/hooks/{hook['key']}/verify")
        return verified if isinstance(verified, dict) and verified.get("key") else hook

    async def delete(self) -> list[dict[str, Any]]:
        """Remove every one of our subscriptions."""
        results = []
        for hook in await self.ours():
            await self.keap.request_json("DELETE", f"/v1/hooks/{hook['key']}")
            results.append(_view(hook, "deleted"))
        return results

    async def reverify(self) -> list[dict[str, Any]]:
        """Revive our subscriptions Keap has turned Inactive (or left Unverified)."""
        results = []
        for hook in await self.ours():
            if hook.get("status") == VERIFIED:
                continue
            verified = await self._verify(hook)
            log.info(
                "hook %s was %s, now %s",
                hook.get("eventKey"),
                hook.get("status"),
                verified.get("status"),
            )
            results.append(_view(verified, "reverified"))
        return results
