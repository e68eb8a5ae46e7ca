"""What the sandbox reads from Keap's spec, and the cache that spares it the YAML."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from local.keap_sandbox.kinds import spec_drift
from local.keap_sandbox.openapi import (
    V2_SPEC,
    Operations,
    cache_key,
    load_operations,
)
from local.keap_sandbox.query import QueryError, check_query
from tests.conftest import KEAP_FACTS
from tests.sandbox.conftest import keap_spec


def test_the_sandbox_reads_the_repositorys_copy_of_the_spec() -> None:
    assert V2_SPEC == KEAP_FACTS / "keap-v2-openapi.yml"


def _description(method: str, path: str, name: str) -> str:
    operation = keap_spec()["paths"]["/rest" + path][method]
    return str(next(p for p in operation["parameters"] if p["name"] == name)["description"])


@pytest.mark.parametrize("path", ["/v2/companies", "/v2/companies/{company_id}"])
def test_fields_names_are_the_ones_the_description_puts_in_backticks(path: str) -> None:
    ticked = _description("get", path, "fields").split("`")[1::2]
    fields = load_operations()[f"GET {path}"].fields
    assert fields is not None and list(fields.names) == ticked


def test_fields_names_listed_in_plain_words_are_read_too() -> None:
    ops = load_operations()
    opportunities = ops["GET /v2/opportunities"].fields
    assert opportunities is not None
    assert opportunities.names == ("custom_fields", "created_by", "last_updated_by", "status_id")
    assert "stage_entrance_time" in opportunities.legacy
    assert ops["GET /v2/tasks"].fields.names == ("custom_fields",)  # type: ignore[union-attr]
    contacts = ops["GET /v2/contacts"].fields
    assert contacts is not None and {"id", "custom_fields", "update_time"} <= set(contacts.names)


def test_filters_carry_what_their_lines_say() -> None:
    ops = load_operations()
    companies = ops["GET /v2/companies"].filters or {}
    assert companies["company_id"].operators == ("==", ">=", "<=", ">", "<")
    assert companies["name"].wildcard and not companies["company_name"].wildcard
    notes = ops["GET /v2/notes"]
    assert notes.filters is not None and notes.filters["title"].contains
    assert notes.exclusive == (("id", "ids"),)
    assert (ops["GET /v2/opportunities"].filters or {})["ids"].max_ids == 100
    tags = ops["GET /v2/tags"].filters or {}
    assert tags["category_id"].none_token and not tags["name"].none_token
    priority = (ops["GET /v2/tasks"].filters or {})["priority"]
    assert priority.values == ("CRITICAL", "ESSENTIAL", "NONESSENTIAL")
    assert ops["GET /v2/products"].order_by.fields == ("name", "sku", "last_updated_time")  # type: ignore[union-attr]


def test_concrete_paths_find_their_operation() -> None:
    ops = load_operations()
    assert ops.match("GET", "/v2/companies/17") is ops["GET /v2/companies/{company_id}"]
    assert ops.match("GET", "/v2/contacts/model") is ops["GET /v2/contacts/model"]
    assert ops.match("GET", "/v2/no_such_thing") is None


def test_a_model_naming_what_the_spec_does_not_is_reported() -> None:
    ops = load_operations()
    assert spec_drift(ops) == []
    companies = ops["GET /v2/companies"]
    filters = dict(companies.filters or {})
    del filters["since_time"]
    changed = dataclasses.replace(companies, filters=filters)
    drifted = Operations({**ops.by_key, companies.key: changed}, ops.digest)
    assert spec_drift(drifted) == ["GET /v2/companies: filter 'since_time' is not in Keap's spec"]


def test_a_name_the_spec_does_not_list_is_refused_with_what_it_does() -> None:
    op = load_operations()["GET /v2/companies/{company_id}"]
    try:
        check_query(op, [("fields", "update_time")])
    except QueryError as exc:
        assert "update_time" in str(exc) and "website" in str(exc)
    else:
        raise AssertionError("update_time is not among the GET's documented fields")


SMALL_SPEC = """
openapi: 3.1.0
paths:
  /rest/v2/widgets:
    get:
      parameters:
      - name: fields
        in: query
        description: 'Comma-delimited list. (Available fields are: `color`, `size`)'
        schema: {type: array, items: {type: string}}
        explode: false
      - name: order_by
        in: query
        description: |-
          One of the following fields:
          - `id`

          One of the following directions:
          - `asc`
"""


def test_facts_are_cached_by_the_documents_hash(tmp_path: Path) -> None:
    spec = tmp_path / "widgets.yml"
    spec.write_text(SMALL_SPEC)
    cache = tmp_path / "cache"

    first = load_operations(spec, cache)
    stored = json.loads((cache / "widgets.facts.json").read_text())
    assert stored["key"] == cache_key(spec.read_bytes()) == first.digest
    assert first["GET /v2/widgets"].fields.names == ("color", "size")  # type: ignore[union-attr]

    # A cached answer is read back as it was derived, without the YAML.
    stored["operations"]["GET /v2/widgets"]["fields"]["names"] = ["from_the_cache"]
    (cache / "widgets.facts.json").write_text(json.dumps(stored))
    load_operations.cache_clear()
    again = load_operations(spec, cache)
    assert again["GET /v2/widgets"].fields.names == ("from_the_cache",)  # type: ignore[union-attr]

    # Another version of the document is another key: derived afresh.
    spec.write_text(SMALL_SPEC.replace("`size`", "`weight`"))
    load_operations.cache_clear()
    changed = load_operations(spec, cache)
    assert changed["GET /v2/widgets"].fields.names == ("color", "weight")  # type: ignore[union-attr]
    assert changed.digest != first.digest
    load_operations.cache_clear()


def test_an_unwritable_cache_costs_time_not_correctness(tmp_path: Path) -> None:
    spec = tmp_path / "widgets.yml"
    spec.write_text(SMALL_SPEC)
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where the cache folder would go")
    ops = load_operations(spec, blocked)
    assert ops["GET /v2/widgets"].order_by.directions == ("asc",)  # type: ignore[union-attr]
    load_operations.cache_clear()
