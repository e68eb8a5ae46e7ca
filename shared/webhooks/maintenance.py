"""Scheduled care of hook subscriptions: revive those Keap turned Inactive."""

from __future__ import annotations

import logging

from shared.platform.env import WorkerEnv
from shared.rpc.client import coordinator_client
from shared.rpc.methods import HOOKS_REVERIFY

log = logging.getLogger("keap_sync.webhooks")


async def reverify_hooks(env: WorkerEnv, account: str | None = None) -> list[dict[str, object]]:
    """Ask the account's coordinator to re-verify Inactive subscriptions. Never raises: a
    failure here must not stop the scheduled sync, and the next run tries again."""
    try:
        revived = await coordinator_client(env, account).call(HOOKS_REVERIFY)
    except Exception as exc:
        code = getattr(exc, "code", type(exc).__name__)
        log.warning("%s: hook re-verification failed: %s", account or "default", code)
        return []
    for hook in revived:
        log.info("hook %s re-verified: %s", hook.get("eventKey"), hook.get("status"))
    return revived
