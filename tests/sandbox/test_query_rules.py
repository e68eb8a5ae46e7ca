"""The sandbox accepts what Keap's spec documents for an endpoint and refuses the rest,
taking the stricter reading where the document can be read two ways."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.sandbox.conftest import keap_spec

pytestmark = pytest.mark.asyncio(loop_scope="module")


def _schema(ref: str) -> dict[str, Any]:
    return keap_spec()["components"]["schemas"][ref.rsplit("/", 1)[-1]]  # type: ignore[no-any-return]


def _operation(method: str, path: str) -> dict[str, Any]:
    return keap_spec()["paths"]["/rest" + path][method]  # type: ignore[no-any-return]


def _record_properties(method: str, path: str) -> set[str]:
    """The properties of the record an operation answers with (a list: of its items)."""
    answer = _operation(method, path)["responses"]["200"]["content"]["application/json"]
    schema = _schema(answer["schema"]["$ref"])
    if "next_page_token" in schema["properties"]:
        listed = next(p for n, p in schema["properties"].items() if n != "next_page_token")
        schema = _schema(listed["items"]["$ref"])
    return set(schema["properties"])


def _documented_fields(method: str, path: str) -> list[str]:
    """The names the `fields` parameter's description lists, read plainly from its text."""
    param = next(p for p in _operation(method, path)["parameters"] if p["name"] == "fields")
    text: str = param["description"]
    if "`" in text:
        return text.split("`")[1::2]
    listed = text.split("values:" if "values:" in text else "are:")[1]
    return [n.strip(" )\n") for n in listed.split(".")[0].split(",")]


# (path as the spec has it, a concrete URL, how `fields` repeats: explode false -> one value)
FIELDS_OPERATIONS = [
    ("/v2/companies", "/v2/companies", False),
    ("/v2/companies/{company_id}", "/v2/companies/1", False),
    ("/v2/contacts", "/v2/contacts", False),
    ("/v2/contacts/{contact_id}", "/v2/contacts/1", False),
    ("/v2/opportunities", "/v2/opportunities", True),
    ("/v2/opportunities/{opportunity_id}", "/v2/opportunities/1", True),
    ("/v2/tasks", "/v2/tasks", False),
    ("/v2/notes", "/v2/notes", False),
]


def _fields(names: list[str], repeated: bool) -> dict[str, Any]:
    return {"fields": names if repeated else ",".join(names)}


@pytest.mark.parametrize(("spec_path", "url", "repeated"), FIELDS_OPERATIONS)
async def test_fields_takes_exactly_the_names_the_endpoint_documents(
    spec_path: str, url: str, repeated: bool, module_api: httpx.AsyncClient
) -> None:
    documented = _documented_fields("get", spec_path)
    assert documented, spec_path
    everything = await module_api.get(url, params=_fields(documented, repeated))
    assert everything.status_code == 200, everything.text

    undocumented = sorted(_record_properties("get", spec_path) - set(documented) - {"id"})
    for name in undocumented:
        refused = await module_api.get(url, params=_fields([name], repeated))
        assert refused.status_code == 400, (spec_path, name, refused.text)
        assert name in refused.json()["message"]


async def test_companies_answer_with_the_optional_properties_asked_for(
    module_api: httpx.AsyncClient,
) -> None:
    plain = (await module_api.get("/v2/companies")).json()["companies"]
    assert all("update_time" not in c and "company_name" in c for c in plain)
    everything = ",".join(_documented_fields("get", "/v2/companies"))
    listed = (await module_api.get("/v2/companies", params={"fields": everything})).json()[
        "companies"
    ]
    assert all({"update_time", "create_time", "custom_fields"} <= set(c) for c in listed)
    full = next(c for c in listed if "website" in c and "notes" in c)

    # The per-id GET names website among its optional properties, and not the times.
    one_plain = (await module_api.get(f"/v2/companies/{full['id']}")).json()
    assert "website" not in one_plain and "notes" not in one_plain
    assert one_plain["update_time"] == full["update_time"]
    one = (
        await module_api.get(f"/v2/companies/{full['id']}", params={"fields": "website,notes"})
    ).json()
    assert (one["website"], one["notes"]) == (full["website"], full["notes"])


async def test_arrays_repeat_as_the_schema_says(module_api: httpx.AsyncClient) -> None:
    # explode: false takes one comma-separated value, never repeated parameters
    repeated = await module_api.get("/v2/contacts", params={"fields": ["id", "given_name"]})
    assert repeated.status_code == 400 and "comma-separated" in repeated.json()["message"]
    # explode: true (the default) takes repeated parameters; a comma is part of a value
    joined = await module_api.get("/v2/opportunities", params={"fields": "custom_fields,status_id"})
    assert joined.status_code == 400 and "fields=a&fields=b" in joined.json()["message"]
    ok = await module_api.get(
        "/v2/opportunities", params={"fields": ["custom_fields", "status_id"]}
    )
    assert ok.status_code == 200


async def test_legacy_opportunity_fields_need_a_feature_the_tenant_lacks(
    module_api: httpx.AsyncClient,
) -> None:
    refused = await module_api.get("/v2/opportunities", params={"fields": "stage_entrance_time"})
    assert refused.status_code == 400 and "legacy" in refused.json()["message"]


@pytest.mark.parametrize(
    "order_by", ["id", "id ascending", "id  asc", "id,asc", "website asc", "ID asc"]
)
async def test_order_by_is_one_listed_field_and_one_listed_direction(
    order_by: str, module_api: httpx.AsyncClient
) -> None:
    refused = await module_api.get("/v2/companies", params={"order_by": order_by})
    assert refused.status_code == 400 and "order_by" in refused.json()["message"]


@pytest.mark.parametrize(
    ("path", "condition", "accepted"),
    [
        ("/v2/companies", "company_id>=3", True),
        ("/v2/companies", "company_id!=3", False),  # not among company_id's operators
        ("/v2/notes", "id!=3", True),
        ("/v2/companies", "name==Acme*", True),
        ("/v2/companies", "company_name==Acme*", False),  # "equality only"
        ("/v2/companies", "name==*cme", False),  # a wildcard only at the end
        ("/v2/tasks", "priority==CRITICAL", True),
        ("/v2/tasks", "priority==URGENT", False),  # "one of CRITICAL, ESSENTIAL, ..."
        ("/v2/orders", "order_type==ONLINE", True),
        ("/v2/orders", "order_type==MAIL", False),
        ("/v2/opportunities", "ids==" + ",".join(map(str, range(1, 101))), True),
        ("/v2/opportunities", "ids==" + ",".join(map(str, range(1, 102))), False),  # max 100
        ("/v2/opportunities", "opportunity_id>1;ids==2", False),  # cannot be combined
        ("/v2/tags", "category_id==NONE", True),
        ("/v2/companies", "since_time==2025-01-01T00:00:00.000Z;", True),
        ("/v2/companies", "start_update_time==2025-01-01T00:00:00.000Z", False),  # contacts'
    ],
)
async def test_filters_follow_each_fields_description(
    path: str, condition: str, accepted: bool, module_api: httpx.AsyncClient
) -> None:
    response = await module_api.get(path, params={"filter": condition})
    assert response.status_code == (200 if accepted else 400), response.text


@pytest.mark.parametrize(
    ("size", "accepted"), [(0, True), (1000, True), (1001, False), (-1, False)]
)
async def test_page_size_is_within_the_specs_bounds(
    size: int, accepted: bool, module_api: httpx.AsyncClient
) -> None:
    response = await module_api.get("/v2/tags", params={"page_size": size})
    assert response.status_code == (200 if accepted else 400), response.text


async def test_single_valued_parameters_are_not_repeated(module_api: httpx.AsyncClient) -> None:
    response = await module_api.get("/v2/tags", params={"page_size": [5, 6]})
    assert response.status_code == 400 and "page_size" in response.json()["message"]


async def test_enums_are_the_specs(module_api: httpx.AsyncClient) -> None:
    response = await module_api.post(
        "/v2/contacts",
        params={"duplicate_option": "Phone"},
        json={"given_name": "Dup", "email_addresses": [{"email": "d@example.com"}]},
    )
    assert response.status_code == 400 and "duplicate_option" in response.json()["message"]
