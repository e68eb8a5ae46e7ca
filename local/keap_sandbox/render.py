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


def list_body(
    sb: Sandbox,
    spec: KindSpec,
    records: list[Record],
    projection: Projection,
    token: str | None,
) -> bytes:
    """A v2 list response for records read with `custom_fields=False`."""
    if not wants_custom_fields(spec, projection):
        return page(spec.list_key, [view(sb, r, projection) for r in records], token)
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
    return f'{{"{list_key}":{listed}{tail}}}'.encode()
