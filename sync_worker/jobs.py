"""The sync-worker's scheduled work, called by the cron triggers in wrangler.toml."""

from __future__ import annotations

import logging

from shared.platform.env import WorkerEnv
from shared.sync import service
from shared.sync.run import LeaseBusy
from shared.webhooks.maintenance import REVERIFY_CRON, reverify_hooks

log = logging.getLogger("keap_sync.cron")

INCREMENTAL_CRON = "*/30 * * * *"
RECONCILE_CRON = "17 3 * * *"
KIND_BY_CRON = {INCREMENTAL_CRON: "incremental", RECONCILE_CRON: "reconcile"}


async def on_scheduled(env: WorkerEnv, cron: str) -> None:
    """Every 30 minutes: every object from its cursor. Daily: reconciliation of deletes."""
    # --- webhooks (shared/webhooks): revive Keap hook subscriptions turned Inactive ---
    if cron == REVERIFY_CRON:
        await reverify_hooks(env)  # never raises; independent of the sync lease
    # ------------------------------------------------------------------------------------
    kind = KIND_BY_CRON.get(cron)
    if kind is None:
        log.warning("no scheduled work for cron %r", cron)
        return
    try:
        result = await service.run(env, kind)
    except LeaseBusy as busy:
        log.info("scheduled %s run skipped: run %s holds the lease", kind, busy.holder)
        return
    if result.status == "failed":
        log.error("scheduled %s run %s failed: %s", kind, result.run_id, "; ".join(result.errors))
