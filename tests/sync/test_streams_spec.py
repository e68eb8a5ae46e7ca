"""Every name the sync sends to Keap or reads from it, checked against Keap's v2 spec."""

from __future__ import annotations

import re
from functools import cache
from typing import Any

import pytest
import yaml

from shared.keap.streams import STREAMS, StreamSpec
from shared.store.tables import TABLES
from tests.conftest import KEAP_FACTS

PREFIX = "/rest"  # the spec's paths start at /rest/v2; ours are relative to .../crm/rest


@cache
def spec_doc() -> dict[str, Any]:
    return yaml.safe_load((KEAP_FACTS / "keap-v2-openapi.yml").read_text())


def schema(ref: str) -> dict[str, Any]:
    return spec_doc()["components"]["schemas"][ref.rsplit("/", 1)[-1]]


def operation(path: str) -> dict[str, Any]:
    return spec_doc()["paths"][PREFIX + path]["get"]


def param(op: dict[str, Any], name: str) -> dict[str, Any]:
    return next(p for p in op["parameters"] if p["name"] == name)


def item_schema(stream: StreamSpec) -> dict[str, Any]:
    op = operation(stream.path)
    listing = schema(op["responses"]["200"]["content"]["application/json"]["schema"]["$ref"])
    items = listing["properties"][stream.items_key]
    return schema(items["items"]["$ref"])


def in_backticks(text: str) -> set[str]:
    return set(re.findall(r"`([A-Za-z_]+)`", text))


@pytest.mark.parametrize("name", list(STREAMS))
def test_list_request_names_exist_in_the_spec(name: str) -> None:
    stream = STREAMS[name]
    op = operation(stream.path)
    params = {p["name"] for p in op["parameters"]}
    assert {"page_size", "page_token", "order_by", "filter"} <= params
    assert param(op, "page_size")["schema"]["maximum"] >= stream.page_size
    orders = in_backticks(param(op, "order_by")["description"])
    assert stream.order_by in orders
    if stream.id_order:
        assert stream.id_order in orders
    filters = in_backticks(param(op, "filter")["description"])
    for field in (stream.since_filter, stream.id_compare, stream.ids_filter):
        if field:
            assert field in filters, field
    if stream.mode == "desc":
        assert stream.since_filter is None
    if stream.fields or stream.id_fields:
        # Either named in the parameter's description or a property of the record.
        allowed = set(re.findall(r"[a-z_]+", param(op, "fields")["description"]))
        allowed |= set(item_schema(stream)["properties"])
        assert set(stream.fields) | set(stream.id_fields or ()) <= allowed
    if stream.get_path:
        # The spec names the path parameter after the object (`{company_id}`, `{product_id}`).
        pattern = re.escape(PREFIX + stream.get_path).replace(r"\{id\}", r"\{\w+\}")
        assert any(re.fullmatch(pattern, path) for path in spec_doc()["paths"]), stream.get_path


@pytest.mark.parametrize("name", list(STREAMS))
def test_record_fields_read_exist_in_the_spec(name: str) -> None:
    stream = STREAMS[name]
    properties = item_schema(stream)["properties"]
    assert stream.id_field in properties
    assert stream.cursor_field in properties
    sql = " ".join(
        [expr for _, expr in TABLES[name].columns]
        + [expr for _, expr in TABLES[name].lets]
        + [TABLES[name].created, TABLES[name].updated]
    )
    top_level = set(re.findall(r"r #>>? '\{(\w+)", sql)) | set(re.findall(r"\$\.(\w+)", sql))
    assert top_level <= set(properties), top_level - set(properties)
