"""Writes through the v2 API, notes under contacts, tags, and the /_sandbox controls."""

from __future__ import annotations

import httpx

from local.keap_sandbox import RunningSandbox
from tests.sandbox.conftest import items, list_all
from tests.timing import wait_for


async def test_create_read_update_delete_a_contact(api: httpx.AsyncClient) -> None:
    created = await api.post(
        "/v2/contacts",
        json={
            "given_name": "Ада",
            "family_name": "Лавлейс",
            "email_addresses": [
                {"email": "ada@example.com", "field": "EMAIL1", "opt_in_reason": "asked"}
            ],
            "phone_numbers": [{"number": "+44 20 7946 0000", "field": "PHONE1", "type": "Work"}],
            "company": {"id": "3"},
            "custom_fields": [{"id": "3", "content": 42}],
        },
        params={"fields": "id,given_name,email_addresses,company,custom_fields,update_time"},
    )
    assert created.status_code == 201, created.text
    contact = created.json()
    assert contact["email_addresses"][0]["is_opt_in"] is True
    assert contact["company"]["company_name"]
    contact_id = contact["id"]

    patched = await api.patch(
        f"/v2/contacts/{contact_id}",
        json={"given_name": "Ada", "custom_fields": [{"id": "1", "content": "x"}]},
        params={"fields": "given_name,custom_fields,update_time"},
    )
    assert patched.status_code == 200
    assert patched.json()["given_name"] == "Ada"
    assert patched.json()["update_time"] > contact["update_time"]
    assert {f["id"]: f["content"] for f in patched.json()["custom_fields"]} == {"1": "x", "3": 42}

    masked = await api.patch(
        f"/v2/contacts/{contact_id}",
        params={
            "update_mask": ["family_name", "job_title"],  # explode: true, so repeated
            "fields": "given_name,family_name,job_title",
        },
        json={"given_name": "Ignored", "job_title": "Countess"},
    )
    assert masked.json() == {"id": contact_id, "given_name": "Ada", "job_title": "Countess"}, (
        "masked fields apply; a masked field missing from the body is cleared"
    )

    assert (await api.delete(f"/v2/contacts/{contact_id}")).status_code == 204
    gone = await api.get(f"/v2/contacts/{contact_id}")
    assert gone.status_code == 404 and gone.json()["status"] == "NOT_FOUND"
    listed = items(
        await api.get("/v2/contacts", params={"filter": f"ids=={contact_id}"}), "contacts"
    )
    assert listed == []


async def test_bodies_are_checked_against_the_request_schema(api: httpx.AsyncClient) -> None:
    unknown = await api.post("/v2/contacts", json={"FirstName": "v1 style"})
    assert unknown.status_code == 400 and "FirstName" in unknown.json()["message"]
    wrong_type = await api.patch("/v2/contacts/1", json={"given_name": 5})
    assert wrong_type.status_code == 400
    too_long = await api.patch("/v2/contacts/1", json={"given_name": "x" * 41})
    assert too_long.status_code == 400
    missing = await api.post("/v2/opportunities", json={"opportunity_title": "No contact"})
    assert missing.status_code == 400 and "contact_id" in missing.json()["message"]
    bad_mask = await api.patch("/v2/contacts/1", params={"update_mask": "FirstName"}, json={})
    assert bad_mask.status_code == 400
    joined = await api.patch("/v2/contacts/1", params={"update_mask": "job_title,notes"}, json={})
    assert joined.status_code == 400 and "update_mask=a&update_mask=b" in joined.json()["message"]
    no_delete = await api.delete("/v2/subscriptions/1")
    assert no_delete.status_code == 405 and no_delete.json()["code"] == 405


async def test_duplicate_option_updates_the_existing_contact(api: httpx.AsyncClient) -> None:
    body = {
        "given_name": "Dup",
        "email_addresses": [{"email": "dup@example.com", "field": "EMAIL1"}],
    }
    first = await api.post("/v2/contacts", json=body)
    again = await api.post(
        "/v2/contacts", params={"duplicate_option": "Email"}, json={**body, "job_title": "Twice"}
    )
    assert again.status_code == 200 and again.json()["id"] == first.json()["id"]


async def test_notes_live_under_their_contact(keap: RunningSandbox, api: httpx.AsyncClient) -> None:
    note = keap.sandbox.get("notes", 1)
    assert note is not None
    owner = note["contact_id"]
    other = "1" if owner != "1" else "2"
    assert (await api.get(f"/v2/contacts/{owner}/notes/1")).status_code == 200
    assert (await api.get(f"/v2/contacts/{other}/notes/1")).status_code == 404

    created = await api.post(
        f"/v2/contacts/{other}/notes", json={"user_id": "1", "title": "Call back", "text": "…"}
    )
    assert created.status_code == 201 and created.json()["contact_id"] == other
    theirs = await list_all(api, f"/v2/contacts/{other}/notes", "notes")
    assert created.json()["id"] in {n["id"] for n in theirs}
    assert all(n["contact_id"] == other for n in theirs)
    everyone = await list_all(api, "/v2/notes", "notes", {"filter": f"contact_id=={other}"})
    assert {n["id"] for n in everyone} == {n["id"] for n in theirs}


async def test_applying_and_removing_tags(keap: RunningSandbox, api: httpx.AsyncClient) -> None:
    before = keap.sandbox.get("contacts", 9) or {}
    tag = next(str(t) for t in range(1, 16) if str(t) not in before["tag_ids"])
    applied = await api.post(
        f"/v2/tags/{tag}/contacts:applyTags", json={"contact_ids": ["9", "999999"]}
    )
    assert applied.json() == {"results": {"9": "SUCCESS", "999999": "NOT_FOUND"}}
    again = await api.post(f"/v2/tags/{tag}/contacts:applyTags", json={"contact_ids": ["9"]})
    assert again.json() == {"results": {"9": "DUPLICATE"}}

    contact = (await api.get("/v2/contacts/9", params={"fields": "tag_ids,update_time"})).json()
    assert tag in contact["tag_ids"]
    assert contact["update_time"] == before["update_time"], "tagging leaves update_time alone"
    tagged = await list_all(
        api, f"/v2/tags/{tag}/contacts", "contacts", {"order_by": "applied_time desc"}
    )
    assert tagged[0]["id"] == "9"
    since = tagged[0]["applied_time"]
    recent = await list_all(
        api, f"/v2/tags/{tag}/contacts", "contacts", {"filter": f"since_applied_time=={since}"}
    )
    assert [c["id"] for c in recent] == ["9"]
    contact_tags = items(await api.get("/v2/contacts/9/tags"), "tags")
    assert tag in {t["tag"]["id"] for t in contact_tags}

    removed = await api.post(f"/v2/tags/{tag}/contacts:removeTags", json={"contact_ids": ["9"]})
    assert removed.status_code == 204
    assert (
        tag not in (await api.get("/v2/contacts/9", params={"fields": "tag_ids"})).json()["tag_ids"]
    )

    dropped = before["tag_ids"][0] if before["tag_ids"] else None
    if dropped:
        assert (await api.delete(f"/v2/tags/{dropped}")).status_code == 204
        after = (await api.get("/v2/contacts/9", params={"fields": "tag_ids"})).json()["tag_ids"]
        assert dropped not in after, "a deleted tag leaves every contact"


async def test_admin_controls(keap: RunningSandbox, api: httpx.AsyncClient) -> None:
    admin = f"{keap.url}/_sandbox"
    made = (
        await api.post(
            f"{admin}/changes", json={"kind": "tasks", "edits": 3, "creates": 2, "deletes": 1}
        )
    ).json()
    assert (len(made["edited"]), len(made["created"]), len(made["deleted"])) == (3, 2, 1)

    before = sum(keap.sandbox.changes.made.values())
    started = await api.post(
        f"{admin}/changes/stream", json={"rate_per_s": 200, "kinds": ["contacts", "notes"]}
    )
    assert started.json() == {"running": True}
    await wait_for(
        lambda: sum(keap.sandbox.changes.made.values()) > before + 20, 10, "20 streamed changes"
    )
    stopped = (await api.delete(f"{admin}/changes/stream")).json()
    assert stopped["running"] is False and sum(stopped["made"].values()) > before + 20
    assert not keap.sandbox.changes.running

    stats = (await api.get(f"{admin}/stats")).json()
    assert stats["records"]["tasks"]["live"] == 30 + 2 - 1
    assert stats["grant_counts"]["authorization_code"] == 1
    await api.get("/v2/tags", params={"page_size": 2})
    (entry,) = (await api.get(f"{admin}/requests", params={"limit": 5})).json()
    assert (entry["path"], entry["query"], entry["status"]) == (
        "/crm/rest/v2/tags",
        "page_size=2",
        200,
    )
    created = await api.post(f"{admin}/records/tags", json={"name": "From admin"})
    assert created.status_code == 201 and keap.sandbox.get("tags", int(created.json()["id"]))
