"""Runs as the workers start them: from a `WorkerEnv` to a finished `RunResult`."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from shared.keap.client import KeapClient
from shared.keap.pacing import Backoff
from shared.keap.streams import STREAM_NAMES, get_stream
from shared.platform.connections import Connections
from shared.platform.env import WorkerEnv
from shared.rpc.client import coordinator_client
from shared.store.journal import RunJournal
from shared.store.store import Store
from shared.sync.budget import Budget
from shared.sync.engine import sync_streams
from shared.sync.reconcile import reconcile_streams
from shared.sync.run import CountingCredentials, Run, RunResult
from shared.sync.state import DEFAULT_OVERLAP_S
from shared.sync.status import refresh_status

log = logging.getLogger("keap_sync.service")

KINDS = ("incremental", "full", "reconcile")
# Database connections a run writes through: enough that writes keep up with pages,
# few enough to leave the rest of the invocation's connections to Keap requests.
STORE_POOL = 2


def stream_names(names: Sequence[str] | None) -> list[str]:
    """The streams asked for, in sync order (all of them for None); KeyError if unknown."""
    if not names:
        return list(STREAM_NAMES)
    for name in names:
        get_stream(name)
    return [n for n in STREAM_NAMES if n in set(names)]


async def run(
    env: WorkerEnv,
    kind: str = "incremental",
    streams: Sequence[str] | None = None,
    *,
    budget: Budget | None = None,
    overlap_s: float = DEFAULT_OVERLAP_S,
    page_size: int | None = None,
    backoff: Backoff | None = None,
    account: str | None = None,
) -> RunResult:
    """One run of `kind` over `streams` under the lease; raises `LeaseBusy` if taken.

    incremental: from the stored cursors. full: from the beginning. reconcile: deletes.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown run kind {kind!r}")
    if env.database is None:
        raise RuntimeError("this worker has no HYPERDRIVE (database) binding")
    names = stream_names(streams)
    budget = budget or Budget.from_settings(env.settings)
    connections = Connections()
    coordinator = coordinator_client(env, account)
    credentials = CountingCredentials(coordinator, budget)
    retention = env.settings.RUN_RETENTION_DAYS
    # The connections open as pages come to be written (the first while the first page is
    # read from Keap).
    async with Store.open(
        env.database,
        account=coordinator.account,
        eager=False,
        pool=STORE_POOL,
        connections=connections,
    ) as store:
        journal = RunJournal(store, retention)
        async with (
            Run(
                coordinator,
                budget,
                kind,
                names,
                journal=journal,
                lease_ttl_s=env.settings.SYNC_LEASE_TTL_S,
            ) as current,
            KeapClient(
                env.settings,
                credentials,
                backoff=backoff,
                on_request=budget.spend,
                transport=env.new_transport(),
                connections=connections,
            ) as keap,
        ):
            current.keap_requests = lambda: keap.requests
            budget.spend(STORE_POOL)  # the database connections
            if kind == "reconcile":
                await reconcile_streams(current, keap, store, names)
            else:
                await sync_streams(
                    current,
                    keap,
                    store,
                    names,
                    reset=kind == "full",
                    overlap_s=overlap_s,
                    page_size=page_size,
                )
    result = current.result
    log.info(
        "run %s ended %s: %d Keap requests, %d subrequests, %.1f s",
        result.run_id,
        result.status,
        result.keap_requests,
        result.subrequests,
        result.elapsed_s,
    )
    try:
        # The tables the run's end counted are not counted again.
        await refresh_status(env, account, counted=journal.table_counts)
    except Exception as exc:  # the run itself is recorded; the cache catches up later
        log.warning("could not refresh the status cache: %s", type(exc).__name__)
    return result
