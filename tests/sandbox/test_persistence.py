"""A sandbox given a state folder forgets nothing on restart that Keap would keep: grants
and tokens, record changes, tag applications, hook subscriptions and the events owed to
them. Without a folder it keeps everything in memory, as before."""

from __future__ import annotations

import contextlib
import hashlib
import stat
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx

from local.keap_sandbox import RunningSandbox, SandboxConfig, serve_sandbox
from tests.sandbox.conftest import Receiver, authorize, basic, small_config

INVALID_GRANT = {"error": "invalid_grant", "error_description": "Invalid refresh token"}


async def _refresh(keap: RunningSandbox, token: str) -> httpx.Response:
    async with httpx.AsyncClient() as client:
        return await client.post(
            keap.token_url,
            data={"grant_type": "refresh_token", "refresh_token": token},
            headers={"Authorization": basic(keap.sandbox.config)},
        )


@contextlib.asynccontextmanager
async def _api(keap: RunningSandbox, access: str) -> AsyncIterator[httpx.AsyncClient]:
    headers = {"Authorization": f"Bearer {access}"}
    async with httpx.AsyncClient(base_url=keap.api_base, headers=headers, timeout=30) as client:
        yield client


def _ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json() if response.content else None


async def test_a_restarted_sandbox_honours_its_tokens_and_serves_the_changes_made_before(
    tmp_path: Path, receiver: Receiver
) -> None:
    config = small_config(state_dir=tmp_path / "keap")
    async with serve_sandbox(config) as keap:
        async with httpx.AsyncClient() as plain:
            first = await authorize(keap, plain)
        tokens = _ok(await _refresh(keap, first["refresh_token"]))
        async with _api(keap, tokens["access_token"]) as api:
            _ok(await api.patch("/v2/contacts/5", json={"given_name": "Persisted"}))
            company = _ok(await api.post("/v2/companies", json={"company_name": "Kept Co"}), 201)
            _ok(await api.delete("/v2/tasks/3"), 204)
            applied = await api.post("/v2/tags/2/contacts:applyTags", json={"contact_ids": ["11"]})
            assert _ok(applied)["results"] == {"11": "SUCCESS"}
            tags_before = _ok(await api.get("/v2/contacts/11/tags"))["tags"]
            hook = _ok(
                await api.post(
                    "/v1/hooks", json={"eventKey": "contact.edit", "hookUrl": receiver.url}
                )
            )
        made = keap.sandbox.make_changes(n_edits=2, n_creates=1, n_deletes=1, kind="notes")
        notes_before = {i: keap.sandbox.get("notes", i) for i in made["edited"] + made["created"]}
        contact_before = keap.sandbox.get("contacts", 40)

    async with serve_sandbox(config) as keap:
        # The refresh token handed out before the restart still works, once.
        again = _ok(await _refresh(keap, tokens["refresh_token"]))
        assert again["refresh_token"] != tokens["refresh_token"]
        assert (await _refresh(keap, tokens["refresh_token"])).json() == INVALID_GRANT
        assert (await _refresh(keap, first["refresh_token"])).json() == INVALID_GRANT
        async with _api(keap, tokens["access_token"]) as api:  # still within its lifetime
            assert _ok(await api.get("/v2/contacts/5"))["given_name"] == "Persisted"
            assert _ok(await api.get(f"/v2/companies/{company['id']}"))["company_name"] == "Kept Co"
            assert (await api.get("/v2/tasks/3")).status_code == 404
            assert _ok(await api.get("/v2/contacts/11/tags"))["tags"] == tags_before
            newer = _ok(await api.post("/v2/companies", json={"company_name": "Next"}), 201)
            assert int(newer["id"]) == int(company["id"]) + 1, "ids are not handed out twice"
            for note_id, note in notes_before.items():
                assert keap.sandbox.get("notes", note_id) == note
            assert keap.sandbox.get("notes", made["deleted"][0]) is None
            assert keap.sandbox.get("contacts", 40) == contact_before, "the same data set"
            # The subscription is still there, verified, and still delivers.
            listed = _ok(await api.get("/v1/hooks"))
            assert listed == [{**hook, "status": "Verified"}]
            _ok(await api.patch("/v2/contacts/6", json={"job_title": "After restart"}))
        assert await keap.sandbox.wait_hooks_idle(10)
        delivered = [d for _, d in receiver.deliveries if d["event_key"] == "contact.edit"]
        assert [k["id"] for d in delivered for k in d["object_keys"]] == [6]


async def test_the_state_files_are_private_and_hold_no_token(tmp_path: Path) -> None:
    folder = tmp_path / "keap"
    async with serve_sandbox(small_config(state_dir=folder)) as keap:
        async with httpx.AsyncClient() as plain:
            first = await authorize(keap, plain)
        tokens = _ok(await _refresh(keap, first["refresh_token"]))
        # On disk before the answer arrived, not at some later flush.
        auth = (folder / "auth.json").read_text()
        assert hashlib.sha256(tokens["refresh_token"].encode()).hexdigest() in auth

    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    files = sorted(p.name for p in folder.iterdir())
    assert files == ["auth.json", "hooks.json", "records.json"]
    for path in folder.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
        text = path.read_text()
        for secret in (first["access_token"], tokens["access_token"], tokens["refresh_token"]):
            assert secret not in text


async def test_hook_events_owed_at_a_restart_are_delivered_after_it(
    tmp_path: Path, receiver: Receiver
) -> None:
    # The first sandbox would wait 30-60 s (scaled: 3-6 s) before delivering: it stops first.
    slow = small_config(state_dir=tmp_path / "keap", hook_time_scale=0.1)
    async with serve_sandbox(slow) as keap:
        keap.sandbox.hooks.api_base = keap.api_base
        await keap.sandbox.hooks.create("contact.edit", receiver.url)
        keap.sandbox.update("contacts", 8, {"job_title": "Owed"})
        keap.sandbox.update("contacts", 9, {"job_title": "Owed too"})
    assert receiver.deliveries == []

    async with serve_sandbox(small_config(state_dir=tmp_path / "keap")) as keap:
        assert await keap.sandbox.wait_hooks_idle(10)
    ids = sorted(k["id"] for _, d in receiver.deliveries for k in d["object_keys"])
    assert ids == [8, 9]


async def test_state_made_with_another_data_set_is_set_aside(tmp_path: Path) -> None:
    folder = tmp_path / "keap"
    async with serve_sandbox(small_config(state_dir=folder)) as keap:
        keap.sandbox.update("contacts", 3, {"given_name": "Seed42"})

    other = small_config(state_dir=folder, seed=7)
    async with serve_sandbox(other) as keap:
        assert keap.sandbox.get("contacts", 3)["given_name"] != "Seed42"  # type: ignore[index]
    assert (folder / "records.json.previous").exists()


async def test_without_a_state_folder_a_restart_starts_afresh() -> None:
    config = small_config()
    assert config.state_dir is None
    async with serve_sandbox(config) as keap:
        keap.sandbox.update("contacts", 3, {"given_name": "Gone"})
        async with httpx.AsyncClient() as plain:
            tokens = await authorize(keap, plain)
    async with serve_sandbox(SandboxConfig(**config.model_dump())) as keap:
        assert keap.sandbox.get("contacts", 3)["given_name"] != "Gone"  # type: ignore[index]
        assert (await _refresh(keap, tokens["refresh_token"])).json() == INVALID_GRANT
