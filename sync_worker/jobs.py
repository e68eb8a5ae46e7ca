"""The sync-worker's scheduled work: which job runs when comes from the worker's config.

`[vars.SCHEDULE]` in sync_worker/wrangler.toml names each job's cron, and `[triggers] crons`
lists those crons for Cloudflare (tools/bundle.py refuses a config where the two differ).
When a cron fires, every job scheduled on it runs, in the order of `JOBS`.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping

from shared.platform.env import WorkerEnv
from shared.sync import service
from shared.sync.run import LeaseBusy
from shared.webhooks.maintenance import reverify_hooks

log = logging.getLogger("keap_sync.cron")

Job = Callable[[WorkerEnv], Awaitable[None]]


async def _sync(env: WorkerEnv, kind: str) -> None:
    try:
        result = await service.run(env, kind)
    except LeaseBusy as busy:
        log.info("scheduled %s run skipped: run %s holds the lease", kind, busy.holder)
        return
    if result.status == "failed":
        log.error("scheduled %s run %s failed: %s", kind, result.run_id, "; ".join(result.errors))


async def verify_hooks(env: WorkerEnv) -> None:
    """Revive Keap hook subscriptions turned Inactive (never raises; needs no lease)."""
    await reverify_hooks(env)


async def incremental(env: WorkerEnv) -> None:
    """Every object from its stored cursor."""
    await _sync(env, "incremental")


async def reconcile(env: WorkerEnv) -> None:
    """Deletes: the ids Keap lists against the tables."""
    await _sync(env, "reconcile")


JOBS: dict[str, Job] = {
    "verify_hooks": verify_hooks,  # first: it is quick, and a sync may take the whole run
    "incremental": incremental,
    "reconcile": reconcile,
}


def jobs_for(schedule: Mapping[str, str], cron: str) -> list[str]:
    """The jobs `schedule` (job -> cron) runs when `cron` fires, in `JOBS` order."""
    return [name for name in JOBS if schedule.get(name) == cron]


async def on_scheduled(env: WorkerEnv, cron: str) -> None:
    schedule = env.settings.SCHEDULE
    unknown = sorted(set(schedule) - set(JOBS))
    if unknown:
        log.warning("SCHEDULE names jobs that do not exist: %s", ", ".join(unknown))
    names = jobs_for(schedule, cron)
    if not names:
        log.warning("no scheduled work for cron %r (see SCHEDULE in wrangler.toml)", cron)
    for name in names:
        await JOBS[name](env)
