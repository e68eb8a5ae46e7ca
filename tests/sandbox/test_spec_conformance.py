"""What the sandbox serves fits Keap's own OpenAPI document (keap-v2-openapi.yml)."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from local.keap_sandbox import RunningSandbox
from tests.sandbox.conftest import (
    assert_matches_spec,
    items,
    keap_spec,
)

# One sandbox for the module: these tests only read, or add records of their own.
pytestmark = pytest.mark.asyncio(loop_scope="module")


# (list path, list key, single-record path or None)
OBJECTS: dict[str, tuple[str, str, str]] = {
    "contacts": ("/v2/contacts", "contacts", "/v2/contacts/{id}"),
    "companies": ("/v2/companies", "companies", "/v2/companies/{id}"),
    "opportunities": ("/v2/opportunities", "opportunities", "/v2/opportunities/{id}"),
    "orders": ("/v2/orders", "orders", "/v2/orders/{id}"),
    "tasks": ("/v2/tasks", "tasks", "/v2/tasks/{id}"),
    "products": ("/v2/products", "products", "/v2/products/{id}"),
    "tags": ("/v2/tags", "tags", "/v2/tags/{id}"),
    "notes": ("/v2/notes", "notes", "/v2/contacts/{contact_id}/notes/{id}"),
    "subscriptions": ("/v2/subscriptions", "subscriptions", "/v2/subscriptions/{id}"),
}
# The widest `fields` each object's list takes (to validate every property the sandbox can
# send), and where its per-id GET documents other names, those.
ALL_FIELDS: dict[str, dict[str, Any]] = {
    "contacts": {
        "fields": "id,given_name,family_name,middle_name,prefix,suffix,preferred_name,"
        "email_addresses,phone_numbers,fax_numbers,addresses,company,job_title,owner_id,"
        "leadsource_id,contact_type,source_type,score_value,time_zone,preferred_locale,"
        "spouse_name,links,utm_parameters,created_by,last_updated_by,tag_ids,birth_date,"
        "anniversary_date,website,origin,social_accounts,custom_fields,create_time,update_time"
    },
    "companies": {
        "fields": "notes,fax_number,address,email_address,phone_number,update_time,"
        "create_time,custom_fields"
    },
    # explode: true in the spec, so repeated rather than comma-separated
    "opportunities": {"fields": ["custom_fields", "created_by", "last_updated_by", "status_id"]},
    "tasks": {"fields": "custom_fields"},
    "notes": {"fields": "custom_fields"},
}
GET_FIELDS: dict[str, dict[str, Any]] = {
    **ALL_FIELDS,
    "companies": {
        "fields": "address,custom_fields,email_address,fax_number,phone_number,website,notes"
    },
}


def _spec_path(path: str) -> str:
    return "/rest" + path


def _spec_query_params(method: str, path: str) -> set[str]:
    operation = keap_spec()["paths"][_spec_path(path)][method]
    return {p["name"] for p in operation.get("parameters", []) if p["in"] == "query"}


def _allowed_from_400(response: httpx.Response) -> set[str]:
    assert response.status_code == 400, response.text
    listed = response.json()["message"].split("Allowed: ")[1]
    return set() if listed == "none" else set(listed.split(", "))


@pytest.mark.parametrize("kind", list(OBJECTS))
async def test_every_list_page_and_record_fits_the_schema(
    kind: str, module_api: httpx.AsyncClient, module_keap: RunningSandbox
) -> None:
    list_path, key, get_path = OBJECTS[kind]
    for params in ({}, ALL_FIELDS.get(kind, {})):
        token, seen = None, 0
        while True:
            query = {"page_size": 25, **params, **({"page_token": token} if token else {})}
            page = await module_api.get(list_path, params=query)
            assert_matches_spec(page)
            seen += len(items(page, key))
            token = page.json().get("next_page_token")
            if not token:
                break
        assert seen == module_keap.sandbox.records[kind].live_count()

    records = items(await module_api.get(list_path, params={"page_size": 15}), key)
    for record in records:
        path = get_path.format(id=record["id"], contact_id=record.get("contact_id"))
        got = await module_api.get(path, params=GET_FIELDS.get(kind, {}))
        assert got.status_code == 200, got.text
        assert_matches_spec(got)
        assert got.json()["id"] == record["id"]


async def test_write_responses_fit_the_schema(module_api: httpx.AsyncClient) -> None:
    created = await module_api.post(
        "/v2/contacts",
        json={
            "given_name": "Zoë",
            "family_name": "Ünal",
            "email_addresses": [{"email": "zoe@example.com", "field": "EMAIL1"}],
            "custom_fields": [{"id": "1", "content": "hello"}],
        },
    )
    assert created.status_code == 201, created.text
    assert_matches_spec(created)
    contact_id = created.json()["id"]
    patched = await module_api.patch(f"/v2/contacts/{contact_id}", json={"job_title": "CTO"})
    assert_matches_spec(patched)

    writes: list[tuple[str, str, dict[str, Any]]] = [
        ("post", "/v2/companies", {"company_name": "Sandbox Co"}),
        (
            "post",
            "/v2/opportunities",
            {"contact_id": contact_id, "opportunity_title": "Deal", "stage_id": "2"},
        ),
        (
            "post",
            "/v2/orders",
            {
                "contact_id": contact_id,
                "order_title": "Order",
                "order_time": "2025-01-02T03:04:05.000Z",
                "order_type": "ONLINE",
                "order_items": [{"product_id": "1", "quantity": 2}],
            },
        ),
        (
            "post",
            "/v2/tasks",
            {"assigned_to_user_id": "1", "title": "Call", "remind_time_mins": 15},
        ),
        ("post", "/v2/products", {"name": "Kit", "price": 1999, "short_description": "A kit"}),
        ("post", "/v2/tags", {"name": "VIP", "category": {"id": "1"}}),
        (
            "post",
            f"/v2/contacts/{contact_id}/notes",
            {"user_id": "2", "title": "Hi", "text": "Met"},
        ),
        ("post", "/v2/subscriptions", {"contact_id": contact_id, "subscription_plan_id": "31"}),
    ]
    for method, path, body in writes:
        response = await module_api.request(method, path, json=body)
        assert response.status_code == 201, (path, response.text)
        assert_matches_spec(response)
        record_path = f"{path}/{response.json()['id']}"
        patched = await module_api.patch(record_path, json=_patch_for(path))
        assert patched.status_code == 200, (record_path, patched.text)
        assert_matches_spec(patched)


def _patch_for(path: str) -> dict[str, Any]:
    if "notes" in path:
        return {"user_id": "3", "text": "Changed"}
    return {
        "companies": {"notes": "Changed"},
        "opportunities": {"opportunity_notes": "Changed"},
        "orders": {"notes": "Changed"},
        "tasks": {"completed": True},
        "products": {"price": 2500},
        "tags": {"description": "Changed"},
        "subscriptions": {"quantity": 3},
    }[path.rsplit("/", 1)[-1]]


async def test_tag_and_model_endpoints_fit_the_schema(module_api: httpx.AsyncClient) -> None:
    contacts = items(
        await module_api.get("/v2/contacts", params={"fields": "id,tag_ids"}), "contacts"
    )
    tagged = next(c for c in contacts if c["tag_ids"])
    tag_id = tagged["tag_ids"][0]
    for path in (
        f"/v2/tags/{tag_id}/contacts",
        f"/v2/contacts/{tagged['id']}/tags",
        "/v2/contacts/model",
    ):
        response = await module_api.get(path)
        assert response.status_code == 200, response.text
        assert_matches_spec(response)
    applied = await module_api.post(
        f"/v2/tags/{tag_id}/contacts:applyTags", json={"contact_ids": ["1", "2"]}
    )
    assert_matches_spec(applied)


def _operations() -> list[tuple[str, str, str]]:
    """(method, sandbox URL, spec path) of every operation the sandbox serves."""
    ops = []
    for name, (list_path, _, get_path) in OBJECTS.items():
        ops.append(("get", list_path, list_path))
        if name == "notes":
            continue
        one = f"{list_path}/{{{_ID_PARAMS[name]}}}"
        ops += [("post", list_path, list_path), ("get", get_path, one), ("patch", get_path, one)]
        if name != "subscriptions":
            ops.append(("delete", get_path, one))
    notes = "/v2/contacts/{contact_id}/notes"
    ops += [
        ("get", notes, notes),
        ("post", notes, notes),
        ("get", notes + "/{id}", notes + "/{note_id}"),
        ("patch", notes + "/{id}", notes + "/{note_id}"),
        ("delete", notes + "/{id}", notes + "/{note_id}"),
        ("get", "/v2/tags/{id}/contacts", "/v2/tags/{tag_id}/contacts"),
        ("get", "/v2/contacts/{id}/tags", "/v2/contacts/{contact_id}/tags"),
        ("post", "/v2/tags/{id}/contacts:applyTags", "/v2/tags/{tag_id}/contacts:applyTags"),
        ("post", "/v2/tags/{id}/contacts:removeTags", "/v2/tags/{tag_id}/contacts:removeTags"),
    ]
    for kind in MODEL_OBJECTS:
        model = f"/v2/{kind}/model"
        ops += [("get", model, model), ("post", model + "/customFields", model + "/customFields")]
    return ops


# The objects whose model Keap's spec documents (and the sandbox serves).
MODEL_OBJECTS = ["contacts", "companies", "opportunities", "orders", "tasks", "notes"]
MODEL_OBJECTS.append("subscriptions")


@pytest.mark.parametrize("kind", MODEL_OBJECTS)
async def test_each_model_fits_the_schema_and_describes_the_fields_records_use(
    kind: str, module_api: httpx.AsyncClient
) -> None:
    response = await module_api.get(f"/v2/{kind}/model")
    assert response.status_code == 200, response.text
    assert_matches_spec(response)
    defined = {f["id"]: f for f in response.json()["custom_fields"]}
    fields = ALL_FIELDS.get(kind, {})
    listed = items(await module_api.get(f"/v2/{kind}", params=fields), kind)
    used = {v["id"] for r in listed for v in r.get("custom_fields") or []}
    assert used and used <= set(defined), (used, set(defined))
    for field in defined.values():
        assert bool(field.get("options")) == (
            field["field_type"] in {"DROPDOWN", "RADIO", "LIST_BOX", "DRILLDOWN"}
        )


async def test_a_custom_field_is_added_as_the_spec_describes(
    module_api: httpx.AsyncClient,
) -> None:
    body = {"label": "Renewal tier", "field_type": "DROPDOWN", "options": [{"label": "A"}]}
    created = await module_api.post("/v2/companies/model/customFields", json=body)
    assert created.status_code == 201, created.text
    assert_matches_spec(created)
    field = created.json()
    assert (field["label"], field["field_type"], field["record_type"]) == (
        "Renewal tier",
        "DROPDOWN",
        "COMPANY",
    )
    model = (await module_api.get("/v2/companies/model")).json()["custom_fields"]
    assert field in model
    again = await module_api.post("/v2/companies/model/customFields", json=body)
    assert again.status_code == 409
    wrong = {"label": "Nope", "field_type": "COLOR"}
    refused = await module_api.post("/v2/companies/model/customFields", json=wrong)
    assert refused.status_code == 400 and "field_type" in refused.json()["message"]


_ID_PARAMS = {
    "contacts": "contact_id",
    "companies": "company_id",
    "opportunities": "opportunity_id",
    "orders": "order_id",
    "tasks": "task_id",
    "products": "product_id",
    "tags": "tag_id",
    "subscriptions": "subscription_id",
}


@pytest.mark.parametrize(("method", "path", "spec_path"), _operations())
async def test_query_parameters_are_exactly_the_specs(
    method: str, path: str, spec_path: str, module_api: httpx.AsyncClient
) -> None:
    """Asked with an unknown parameter, the sandbox names what it accepts: the spec's set."""
    url = path.replace("{contact_id}", "1").replace("{id}", "1")
    response = await module_api.request(method, url, params={"no_such_param": "1"}, json={})
    assert _allowed_from_400(response) == _spec_query_params(method, spec_path)


@pytest.mark.parametrize("param", ["limit", "offset", "since", "order"])
async def test_v1_style_parameters_are_refused(param: str, module_api: httpx.AsyncClient) -> None:
    response = await module_api.get("/v2/contacts", params={param: "10"})
    assert response.status_code == 400
    assert param in response.json()["message"]


def _spec_list_choices(list_path: str, param: str) -> list[str]:
    """Filter field or order_by names a list operation's description gives."""
    operation = keap_spec()["paths"][_spec_path(list_path)]["get"]
    text = next(p["description"] for p in operation["parameters"] if p["name"] == param)
    if param == "filter":
        text = text.split("Custom field")[0].split("**Custom fields")[0]
        return re.findall(r"^- \([^)]*\)\s*`([A-Za-z0-9_]+)`", text, flags=re.M)
    fields = text.split("One of the following directions")[0]
    return re.findall(r"^- `([A-Za-z0-9_]+)`", fields, flags=re.M)


@pytest.mark.parametrize("kind", list(OBJECTS))
async def test_every_filter_field_and_ordering_in_the_spec_is_known(
    kind: str, module_api: httpx.AsyncClient
) -> None:
    list_path, key, _ = OBJECTS[kind]
    names = _spec_list_choices(list_path, "filter")
    assert names, "the spec lists filter fields for every object"
    for name in names:
        response = await module_api.get(list_path, params={"filter": f"{name}==1"})
        if response.status_code == 400:
            message = response.json()["message"]
            assert "Invalid filter field" not in message, (name, message)
    for name in _spec_list_choices(list_path, "order_by"):
        for direction in ("asc", "desc"):
            response = await module_api.get(
                list_path, params={"order_by": f"{name} {direction}", "page_size": 5}
            )
            assert response.status_code == 200, (name, response.text)
    unknown = await module_api.get(list_path, params={"filter": "no_such_field==1"})
    assert unknown.status_code == 400
    assert items(await module_api.get(list_path, params={"page_size": 1}), key)
