"""The sync-worker's scheduled work, called by the cron trigger."""

from __future__ import annotations

import logging

from shared.platform.env import WorkerEnv

log = logging.getLogger("keap_sync.cron")


async def on_scheduled(env: WorkerEnv, cron: str) -> None:
    """Run what the cron expression `cron` is for."""
    log.info("scheduled run for %s", cron)
