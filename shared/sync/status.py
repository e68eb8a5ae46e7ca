"""`GET /sync/status`: per object its cursor, last run, rows and errors; Keap's standing
refusals and the records in quarantine.

Building it costs a coordinator call and a count over every table, so the result is
kept in KV (`SYNC_CACHE`) for an hour and rebuilt whenever a run finishes, from the
counts the run's end took of the tables it reached (only the others are counted then).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from dataclasses import asdict
from datetime import datetime
from typing import Any

from shared import timefmt
from shared.keap.streams import STREAM_NAMES
from shared.platform.env import WorkerEnv
from shared.platform.wire import CoordinatorError
from shared.rpc.client import coordinator_client, registry_client
from shared.rpc.methods import GET_STREAM_STATES, LIST_ACCOUNTS, STATUS, AccountInfo
from shared.store.store import Store, StoreError

CACHE_TTL_S = 3600
QUARANTINE_SHOWN = 50


def cache_key(account: str) -> str:
    return f"sync-status:{account}"


def _shown(value: Any) -> Any:
    """A value as the status shows it: times in the one spelling, the rest as they are."""
    return timefmt.keap(value) if isinstance(value, datetime) else value


def _last_run_of(stream: str, runs: list[dict[str, Any]]) -> dict[str, Any] | None:
    for run in runs:
        if stream not in (run.get("streams") or []):
            continue
        stats = (run.get("stats") or {}).get(stream) or {}
        return {
            "run_id": run.get("run_id"),
            "kind": run.get("kind"),
            "status": run.get("status"),
            "started_at": run.get("started_at"),
            "finished_at": run.get("finished_at"),
            "stream_status": stats.get("status"),
            "pages": stats.get("pages"),
            "records": stats.get("records"),
            "written": stats.get("written"),
            "deleted": stats.get("deleted"),
            "cleaned": stats.get("cleaned"),
            "quarantined": stats.get("quarantined"),
            "error": stats.get("error"),
        }
    return None


def _refused(sync_state: dict[str, Any], reconcile_state: dict[str, Any]) -> dict[str, Any] | None:
    """Keap's standing refusal of the object's sync (or else its reconciliation)."""
    for kind, state in (("sync", sync_state), ("reconcile", reconcile_state)):
        refused = state.get("refused")
        if isinstance(refused, dict):
            return {"kind": kind, **refused}
    return None


def _errors(last: dict[str, Any] | None, refused: dict[str, Any] | None) -> list[str]:
    errors = []
    if refused:
        what = "sync" if refused["kind"] == "sync" else "reconciliation"
        errors.append(
            f"Keap refuses this object's {what} since {refused.get('since')}: "
            f"HTTP {refused.get('status')}: {refused.get('message')}"
        )
    if last and last.get("error") and not (refused and "keap_refused" in last["error"]):
        errors.append(last["error"])
    return errors


def progress(sync_state: dict[str, Any]) -> dict[str, Any] | None:
    """How far a pass under way has got: slices done of total (one for a pass read as a
    single chain) and records read so far; None when no pass is under way."""
    position = sync_state.get("pass")
    if not isinstance(position, dict):
        return None
    slices = position.get("slices") or []
    return {
        "slices_done": sum(1 for s in slices if s.get("done")),
        "slices": len(slices) or 1,
        "records": int(position.get("records") or 0),
    }


async def build_status(
    env: WorkerEnv, account: str, counted: Mapping[str, dict[str, Any]] | None = None
) -> dict[str, Any]:
    """The status; `counted`: tables already counted (as `Store.counts` has them), which
    are not counted again."""
    snapshot = await coordinator_client(env, account).call(STATUS)
    streams, runs = snapshot.streams, snapshot.runs
    counted = counted or {}
    counts: dict[str, dict[str, Any]] = {}
    quarantine: list[dict[str, Any]] = []
    database_error = None
    if env.database is not None:
        try:
            async with Store.open(env.database, account=account) as store:
                quarantine = [
                    {k: _shown(v) for k, v in asdict(q).items()}
                    for q in await store.quarantined(QUARANTINE_SHOWN)
                ]
                missing = [name for name in STREAM_NAMES if name not in counted]
                counts = {**counted, **await store.counts(missing)}
        except StoreError as exc:
            database_error = exc.message
    objects: dict[str, Any] = {}
    for name in STREAM_NAMES:
        sync_state = (streams.get(name) or {}).get("state") or {}
        reconcile_state = (streams.get(f"reconcile:{name}") or {}).get("state") or {}
        table = counts.get(name) or {}
        last = _last_run_of(name, runs)
        refused = _refused(sync_state, reconcile_state)
        objects[name] = {
            "cursor": sync_state.get("cursor"),
            "in_progress": "pass" in sync_state,
            "progress": progress(sync_state),  # of a pass under way: slices, records so far
            "checkpointed_at": (streams.get(name) or {}).get("checkpointed_at"),
            "rows": table.get("rows"),
            "deleted_rows": table.get("deleted"),
            "last_synced_at": _shown(table.get("last_synced_at")),
            "newest_keap_update": _shown(table.get("newest_update")),
            "reconciled_at": reconcile_state.get("completed_at"),
            "last_run": last,
            "refused": refused,  # Keap's standing refusal: status, message, since
            "quarantined": table.get("quarantined"),
            # Rows whose per-record fields (products' inventory_count) a run has yet to read.
            "details_pending": table.get("details_pending"),
            "errors": _errors(last, refused),
        }
    return {
        "account": account,
        "generated_at": timefmt.keap(timefmt.now()),
        "connection": snapshot.connection,
        "lease": snapshot.lease,
        "database_error": database_error,
        "objects": objects,
        "quarantine": quarantine,  # records Postgres refused, newest failure first
        "runs": [
            {k: r.get(k) for k in ("run_id", "kind", "status", "started_at", "finished_at")}
            | {"errors": r.get("errors") or []}
            for r in runs[:5]
        ],
    }


async def refresh_status(
    env: WorkerEnv,
    account: str | None = None,
    counted: Mapping[str, dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """Rebuild the status and store it in the cache (`counted`: see `build_status`)."""
    account = account or env.settings.DEFAULT_ACCOUNT
    status = await build_status(env, account, counted)
    if env.kv is not None:
        await env.kv.put(cache_key(account), json.dumps(status, default=str), ttl=CACHE_TTL_S)
    return status


async def get_status(
    env: WorkerEnv, account: str | None = None, *, refresh: bool = False
) -> tuple[dict[str, Any], bool]:
    """(status, served from the cache?)."""
    account = account or env.settings.DEFAULT_ACCOUNT
    if env.kv is not None and not refresh:
        cached = await env.kv.get(cache_key(account))
        if cached:
            return await _with_live_progress(env, account, json.loads(cached)), True
    return await refresh_status(env, account), False


async def _overview(env: WorkerEnv, info: AccountInfo) -> dict[str, Any]:
    entry: dict[str, Any] = {"account": info.account, "source": info.source}
    try:
        snapshot = await coordinator_client(env, info.account).call(STATUS)
    except CoordinatorError as exc:
        return {**entry, "error": exc.code}
    last = snapshot.runs[0] if snapshot.runs else None
    return {
        **entry,
        "connection": snapshot.connection.get("state"),
        "running": (snapshot.lease or {}).get("run_id"),
        "last_run": {k: last.get(k) for k in ("run_id", "kind", "status", "finished_at")}
        if last
        else None,
    }


async def accounts_overview(env: WorkerEnv) -> list[dict[str, Any]]:
    """Every account in the registry: its connection, the run under way, its last run."""
    accounts = await registry_client(env).call(LIST_ACCOUNTS)
    return list(await asyncio.gather(*(_overview(env, info) for info in accounts)))


async def _with_live_progress(
    env: WorkerEnv, account: str, status: dict[str, Any]
) -> dict[str, Any]:
    """A cached status with each object's progress as the coordinator has it now: a run
    under way checkpoints every page, while the cache is rebuilt when a run ends."""
    try:
        states = await coordinator_client(env, account).call(GET_STREAM_STATES)
    except CoordinatorError:
        return status  # what the cache knows is still worth showing
    for name, obj in (status.get("objects") or {}).items():
        sync_state = states.get(name) or {}
        obj["in_progress"] = "pass" in sync_state
        obj["progress"] = progress(sync_state)
    return status
