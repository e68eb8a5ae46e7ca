"""The status page as a person reads it: headless Chromium against the local runtime."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
from pathlib import Path

import asyncpg
import httpx
import pytest

from local.first_run import admin_headers, ensure_connected
from local.runtime import LocalRuntime


def _chromium() -> str:
    for name in (os.environ.get("CHROMIUM", ""), "chromium", "chromium-browser", "google-chrome"):
        if name and shutil.which(name):
            return str(shutil.which(name))
    pytest.fail("Chromium is needed for this test: ./dev-setup.sh test-all installs it")


async def _browse(url: str, profile: Path, screenshot: Path | None = None) -> str:
    """The page's DOM after Chromium loaded it (and a screenshot, if asked)."""
    flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile}",
    ]
    if screenshot is not None:
        shot = await asyncio.create_subprocess_exec(
            _chromium(),
            *flags,
            f"--screenshot={screenshot}",
            "--window-size=1280,1600",
            url,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        await asyncio.wait_for(shot.wait(), 60)
    proc = await asyncio.create_subprocess_exec(
        _chromium(),
        *flags,
        "--dump-dom",
        url,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    out, _ = await asyncio.wait_for(proc.communicate(), 60)
    return out.decode()


def _text(dom: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", dom))


async def test_status_page_shows_what_a_person_needs_after_a_sync(
    runtime: LocalRuntime, tmp_path: Path
) -> None:
    await ensure_connected(runtime)
    async with httpx.AsyncClient(timeout=120) as http:
        synced = await http.post(
            f"{runtime.urls['sync-worker']}/sync/full", headers=admin_headers(runtime)
        )
        assert synced.status_code == 200, synced.text
        hooks = await http.post(
            f"{runtime.urls['sync-coordinator']}/hooks/register", headers=admin_headers(runtime)
        )
        assert hooks.status_code == 200, hooks.text
        as_json = await http.get(
            f"{runtime.urls['sync-worker']}/sync/status", headers=admin_headers(runtime)
        )
        assert as_json.json()["queue"]["depth"] == 0  # the webhook queue, read live
        # A browser without the token is challenged for it, not shown anything.
        anonymous = await http.get(
            f"{runtime.urls['sync-worker']}/sync/status", headers={"Accept": "text/html"}
        )
    assert anonymous.status_code == 401
    assert anonymous.headers["www-authenticate"].startswith("Basic")

    assert runtime.dsn is not None
    conn = await asyncpg.connect(runtime.dsn)
    try:
        contacts = await conn.fetchval(
            "SELECT count(*) FROM keap.contacts WHERE deleted_at IS NULL"
        )
    finally:
        await conn.close()
    assert contacts == runtime.sandbox.config.contacts

    token = admin_headers(runtime)["Authorization"].removeprefix("Bearer ")
    port = runtime.urls["sync-worker"].rsplit(":", 1)[1]
    url = f"http://admin:{token}@127.0.0.1:{port}/sync/status?refresh=true"
    screenshot = tmp_path / "status.png"
    text = _text(await _browse(url, tmp_path / "profile", screenshot))

    assert "Keap sync status" in text
    assert "connected" in text and runtime.sandbox.config.tenant in text
    row = re.search(r"contacts ([\d,]+) ", text)
    assert row is not None, text[:2000]
    assert int(row.group(1).replace(",", "")) == contacts
    for name in ("companies", "opportunities", "orders", "tasks", "products", "tags", "notes"):
        assert name in text
    assert "Webhook queue" in text and "Waiting events" in text
    assert "contact.add" in text and "Verified" in text
    assert "Recent runs" in text and " full ok " in text
    assert token not in text
    assert screenshot.exists() and screenshot.stat().st_size > 10_000
