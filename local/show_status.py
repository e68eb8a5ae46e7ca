"""`python -m local status`: what the running local runtime has synced, over its HTTP API."""

from __future__ import annotations

import json
import time
from datetime import datetime
from typing import Any

import httpx

from local.config import LocalConfig


def _at(text: str) -> float:
    """Epoch seconds of an ISO time (0 for none)."""
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() if text else 0.0


def _finished(status: dict[str, Any], since: float | None) -> bool:
    """Every object has a finished run, started after `since` (the runtime's start)."""
    objects = status.get("objects") or {}
    runs = [o.get("last_run") or {} for o in objects.values()]
    return (
        bool(objects)
        and not status.get("lease")
        and all(r.get("finished_at") for r in runs)
        and (since is None or all(_at(r.get("started_at") or "") >= int(since) for r in runs))
    )


def runtime_started(config: LocalConfig) -> float | None:
    """When the running runtime started (from its runtime.json), if it says."""
    try:
        return float(json.loads((config.state_dir / "runtime.json").read_text())["started_at"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def show(config: LocalConfig, wait_s: float = 0) -> int:
    """Print rows per object; with `wait_s`, first wait for the first sync since the
    runtime started to finish."""
    since = runtime_started(config) if wait_s else None
    url = f"{config.url(config.sync_worker_port)}/sync/status"
    # The same token the runtime uses: ADMIN_TOKEN from the environment, else the local one.
    headers = {"Authorization": f"Bearer {config.vars['ADMIN_TOKEN']}"}
    deadline = time.monotonic() + wait_s
    while True:
        response = httpx.get(url, params={"refresh": "true"}, headers=headers, timeout=30)
        if response.status_code != 200:
            print(f"/sync/status answered {response.status_code}: {response.text[:200]}")
            return 1
        status = response.json()["status"]
        if _finished(status, since) or time.monotonic() >= deadline:
            break
        time.sleep(1)
    if not _finished(status, since):
        print("the first sync is still running; see ./dev-setup.sh status later")
    connection = (status.get("connection") or {}).get("state")
    print(f"keap account '{status.get('account')}': {connection}")
    for name, obj in (status.get("objects") or {}).items():
        last = obj.get("last_run") or {}
        rows = obj.get("rows")
        rows_text = "-" if rows is None else f"{rows:,}"
        print(f"    {name:14} {rows_text:>9} rows  last sync {last.get('finished_at') or '-'}")
    print(f"    status page    {url} (user: any, password: ADMIN_TOKEN)")
    return 0
