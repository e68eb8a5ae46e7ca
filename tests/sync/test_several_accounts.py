"""Several Keap accounts in one deployment: the cron runs every one of them, each under its
own lease, and one account's failure never stops another's; the status shows them all."""

from __future__ import annotations

import httpx

from local.first_run import connect_via_oauth
from local.runtime import LocalRuntime
from shared.rpc.methods import RUNS
from tests.conftest import account_client, admin_headers


async def test_the_cron_runs_every_account_and_one_failing_stops_none(
    runtime: LocalRuntime,
) -> None:
    admin = admin_headers(runtime)
    coordinator = runtime.urls["sync-coordinator"]
    async with httpx.AsyncClient(timeout=60) as client:
        for account in (None, "globex"):
            done = await connect_via_oauth(runtime, client, account)
            assert done.status_code == 200, done.text
        # Created, never connected: its runs fail (and it comes before globex).
        started = await client.get(
            f"{coordinator}/oauth/initiate", params={"account": "aaa-stuck"}, headers=admin
        )
        assert started.status_code == 302

    await runtime.run_job("incremental")

    last = {}
    for account in ("default", "aaa-stuck", "globex"):
        runs = await account_client(runtime, account).call(RUNS)
        assert len(runs) == 1, (account, runs)
        last[account] = runs[0]
    assert last["default"]["status"] == "ok", last["default"]["errors"]
    assert last["globex"]["status"] == "ok", last["globex"]["errors"]
    assert last["aaa-stuck"]["status"] == "failed"
    assert "not_connected" in last["aaa-stuck"]["errors"][0]
    # One run per account, each recorded in that account's own history.
    assert len({r["run_id"] for r in last.values()}) == 3

    sync = runtime.urls["sync-worker"]
    async with httpx.AsyncClient(timeout=60) as client:
        everyone = (await client.get(f"{sync}/sync/status", headers=admin)).json()
        globex = await client.get(
            f"{sync}/sync/status", params={"account": "globex"}, headers=admin
        )
        page = await client.get(f"{sync}/sync/status", headers={**admin, "Accept": "text/html"})
    assert everyone["status"]["account"] == "default"
    brief = {a["account"]: a for a in everyone["accounts"]}
    assert list(brief) == ["default", "aaa-stuck", "globex"]
    assert brief["globex"]["connection"] == "connected"
    assert brief["globex"]["last_run"]["status"] == "ok"
    assert brief["aaa-stuck"]["connection"] == "not_connected"
    assert brief["aaa-stuck"]["last_run"]["status"] == "failed"
    assert globex.status_code == 200 and globex.json()["status"]["account"] == "globex"
    for name in ("default", "aaa-stuck", "globex"):
        assert f'href="?account={name}"' in page.text
