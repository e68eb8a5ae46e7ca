"""The sync-worker's scheduled work: which job runs when comes from the worker's config.

`[vars.SCHEDULE]` in sync_worker/wrangler.toml names each job's cron, and `[triggers] crons`
lists those crons for Cloudflare (tools/bundle.py refuses a config where the two differ).
When a cron fires, every job scheduled on it runs, in the order of `JOBS`, for every account
in the registry in turn: each under its own lease, with its share of what is left of the
invocation's limits, and one account's failure never stops the next.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping

from shared.platform.env import WorkerEnv
from shared.rpc.client import registry_client
from shared.rpc.methods import LIST_ACCOUNTS
from shared.sync import service
from shared.sync.budget import Budget
from shared.sync.run import LeaseBusy
from shared.webhooks.maintenance import reverify_hooks

log = logging.getLogger("keap_sync.cron")

Job = Callable[[WorkerEnv], Awaitable[None]]


async def accounts(env: WorkerEnv) -> list[str]:
    """Every account in the registry; the default one alone if the registry cannot say."""
    try:
        return [a.account for a in await registry_client(env).call(LIST_ACCOUNTS)]
    except Exception as exc:
        log.error("the account registry did not answer (%s)", getattr(exc, "code", type(exc)))
        return [env.settings.DEFAULT_ACCOUNT]


async def _sync_one(env: WorkerEnv, kind: str, account: str, budget: Budget) -> None:
    try:
        result = await service.run(env, kind, account=account, budget=budget)
    except LeaseBusy as busy:
        log.info("%s: scheduled %s run skipped: %s holds the lease", account, kind, busy.holder)
        return
    except Exception as exc:  # the next account still runs
        log.error("%s: scheduled %s run failed: %s", account, kind, getattr(exc, "code", type(exc)))
        return
    if result.status == "failed":
        errors = "; ".join(result.errors)
        log.error("%s: scheduled %s run %s failed: %s", account, kind, result.run_id, errors)


async def _sync(env: WorkerEnv, kind: str) -> None:
    names = await accounts(env)
    invocation = Budget()  # what this invocation may spend, shared by the accounts' runs
    for i, account in enumerate(names):
        left = len(names) - i
        budget = Budget(
            wall_s=(invocation.wall_s - invocation.elapsed_s) / left,
            subrequests=(invocation.subrequests - invocation.used) // left,
        )
        await _sync_one(env, kind, account, budget)
        invocation.spend(budget.used)


async def verify_hooks(env: WorkerEnv) -> None:
    """Revive Keap hook subscriptions turned Inactive, every account's (never raises;
    needs no lease)."""
    for account in await accounts(env):
        await reverify_hooks(env, account)


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
