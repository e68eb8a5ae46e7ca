"""Records as a request sees them (field selection) and list pages as JSON bytes.

Serving speed matters here: a sync benchmark reads thousands of 1000-record pages.
Generated records carry no custom fields; when a page needs them, each record's shared,
pre-encoded custom field set is spliced into its JSON instead of being built and
encoded again for every record.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from .generator import CUSTOM_FIELD_DEFS
from .kinds import KindSpec, Projection

if TYPE_CHECKING:
    from .sandbox import Sandbox

Record = dict[str, Any]
encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), check_circular=False).encode


def wants_custom_fields(spec: KindSpec, projection: Projection) -> bool:
    return spec.name in CUSTOM_FIELD_DEFS and projection.includes("custom_fields")


def view(sb: Sandbox, record: Record, projection: Projection) -> Record:
    """The record with only the fields this request asked for."""
    out = projection.apply(record)
    if "tag_ids" in out:  # contacts: tags deleted since are gone
        live = sb.records.live_tag_ids(out["tag_ids"])
        if live is not out["tag_ids"]:
            out = {**out, "tag_ids": live}
    return out


# Properties only the per-id GET returns: (kind, object property, its property left out).
# The spec's list schemas lack them (ProductInventory_List has no inventory_count, which
# ProductInventory_Detail says "is omitted in List responses").
DETAIL_ONLY: dict[str, tuple[str, str]] = {"products": ("inventory", "inventory_count")}


def listed(spec: KindSpec, record: Record) -> Record:
    """The record as a list response shows it."""
    omitted = DETAIL_ONLY.get(spec.name)
    if omitted is None or not isinstance(record.get(omitted[0]), dict):
        return record
    outer, inner = omitted
    return {**record, outer: {k: v for k, v in record[outer].items() if k != inner}}


def list_body(
    sb: Sandbox,
    spec: KindSpec,
    records: list[Record],
    projection: Projection,
    token: str | None,
) -> bytes:
    """A v2 list response for records read with `custom_fields=False`."""
    if not wants_custom_fields(spec, projection):
        items = [listed(spec, view(sb, r, projection)) for r in records]
        return page(spec.list_key, items, token)
    gen, parts = sb.records.gen, []
    for record in records:
        text = encode(view(sb, record, projection))
        if "custom_fields" not in record:  # generated: splice in its shared set
            shared = gen.custom_fields_json(spec.name, int(record["id"]))
            text = f'{text[:-1]},"custom_fields":{shared}}}'
        parts.append(text)
    return _assemble(spec.list_key, "[" + ",".join(parts) + "]", token)


def page(list_key: str, items: list[Record], token: str | None) -> bytes:
    return _assemble(list_key, encode(items), token)


def _assemble(list_key: str, listed: str, token: str | None) -> bytes:
    # The last page carries no next_page_token at all; clients must treat a missing and
    # an empty token alike.
    tail = f',"next_page_token":{encode(token)}' if token else ""
    return to_bytes(f'{{"{list_key}":{listed}{tail}}}')


def to_bytes(text: str) -> bytes:
    """JSON text as UTF-8. Half a surrogate pair (which a request may carry, escaped,
    into a record) cannot be UTF-8: it goes out as the JSON escape it came in as."""
    return text.encode("utf-8", "backslashreplace")
