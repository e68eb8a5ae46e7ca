"""Keap as people meet it: text Postgres cannot store, fields only the per-id GET has,
and an object Keap refuses for good."""

from __future__ import annotations

import json

import httpx

from local.keap_sandbox import RunningSandbox
from tests.sandbox.conftest import assert_matches_spec, items, list_all


async def test_nul_and_half_surrogates_come_back_as_the_escapes_they_were_sent_as(
    keap: RunningSandbox, api: httpx.AsyncClient
) -> None:
    body = b'{"given_name": "Ann\\u0000e", "family_name": "Bo\\ud800b"}'
    created = await api.post(
        "/v2/contacts", content=body, headers={"Content-Type": "application/json"}
    )
    assert created.status_code == 201, created.text
    contact_id = created.json()["id"]
    tag = await api.post(
        "/v2/tags",
        content=json.dumps({"name": "VIP\x00", "description": "\udc00 half"}),  # escaped
        headers={"Content-Type": "application/json"},
    )
    assert tag.status_code == 201, tag.text

    got = await api.get(f"/v2/contacts/{contact_id}", params={"fields": "given_name,family_name"})
    assert b'"Ann\\u0000e"' in got.content and b'"Bo\\ud800b"' in got.content
    assert got.json()["family_name"] == "Bo\ud800b"  # what a JSON parser makes of it
    listed = await api.get("/v2/tags", params={"filter": f"tag_ids=={tag.json()['id']}"})
    assert listed.status_code == 200
    assert b'"VIP\\u0000"' in listed.content and b'"\\udc00 half"' in listed.content
    assert items(listed, "tags")[0]["name"] == "VIP\x00"


async def test_list_responses_leave_out_the_inventory_count_the_per_id_get_has(
    api: httpx.AsyncClient,
) -> None:
    products = await list_all(api, "/v2/products", "products")

    assert products and all("inventory_count" not in p["inventory"] for p in products)
    for product in products[:5]:
        got = await api.get(f"/v2/products/{product['id']}")
        assert_matches_spec(got)
        inventory = got.json()["inventory"]
        assert isinstance(inventory["inventory_count"], int)
        assert {**inventory, "inventory_count": None} == {
            **product["inventory"],
            "inventory_count": None,
        }


async def test_a_path_refused_for_good_answers_the_same_4xx_until_allowed(
    keap: RunningSandbox, api: httpx.AsyncClient
) -> None:
    controls = keap.api_base.replace("/crm/rest", "/_sandbox")
    async with httpx.AsyncClient(base_url=controls) as admin:
        made = await admin.post("/refusals", json={"path": "/v2/orders", "status": 403})
        assert made.status_code == 201, made.text
        wrong = await admin.post("/refusals", json={"path": "/v2/orders", "status": 503})
        assert wrong.status_code == 400

        for _ in range(3):
            refused = await api.get("/v2/orders")
            assert refused.status_code == 403
            assert refused.json() == {
                "code": 403,
                "message": "The user does not have permission to perform this operation",
                "status": "PERMISSION_DENIED",
                "details": [],
            }
        assert (await api.get("/v2/orders/1")).status_code == 200  # that path is not refused
        assert (await admin.get("/refusals")).json()[0]["path"] == "/v2/orders"

        assert (await admin.delete("/refusals", params={"path": "/v2/orders"})).status_code == 204
        assert (await api.get("/v2/orders")).status_code == 200
