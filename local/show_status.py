"""`python -m local status`: what the running local runtime has synced, over its HTTP API."""

from __future__ import annotations

import time

import httpx

from local.config import LocalConfig


def _finished(status: dict) -> bool:
    objects = status.get("objects") or {}
    return (
        bool(objects)
        and not status.get("lease")
        and all((o.get("last_run") or {}).get("finished_at") for o in objects.values())
    )


def show(config: LocalConfig, wait_s: float = 0) -> int:
    """Print rows per object; with `wait_s`, first wait for the first sync to finish."""
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
        if _finished(status) or time.monotonic() >= deadline:
            break
        time.sleep(1)
    if not _finished(status):
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
