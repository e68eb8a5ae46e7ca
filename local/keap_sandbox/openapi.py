"""Keap's v2 OpenAPI document (`spec/keap-v2-openapi.yml`), read as facts to enforce.

For every operation: its query parameters (names, types, enums, explode), and what the
parameter descriptions say in prose: the `fields` names, the `order_by` fields and
directions, and the `filter` fields with their operators, wildcards, `NONE` tokens, value
lists, id limits and the pairs that cannot be combined.

Parsing the 1.3 MB of YAML takes about half a second with libyaml and several seconds
without, and a sandbox starts in every integration test; so the facts are cached as JSON
in `spec/__pycache__/`, keyed by the sha256 of the document and of this module (a few
milliseconds to read back), and kept in memory per process.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
from dataclasses import asdict, dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

SPEC_DIR = Path(__file__).resolve().parent / "spec"
V2_SPEC = SPEC_DIR / "keap-v2-openapi.yml"
HOOKS_SPEC = SPEC_DIR / "keap-resthooks-asyncapi.yml"
PATH_PREFIX = "/rest"  # the document's paths start at /rest/v2; the sandbox's at /v2

OPERATORS = ("==", "!=", ">=", "<=", ">", "<")
_TICKED = re.compile(r"`([A-Za-z0-9_]+)`")
_FILTER_ITEM = re.compile(r"^- \(([^)]*)\)\s*`([A-Za-z0-9_]+)`(.*)$")
_QUOTED_OPERATOR = re.compile(r"[`\"](==|!=|>=|<=|>|<)[`\"]")
_LISTED_NAMES = r":\s*([A-Za-z0-9_,\s]+)"


@dataclass(frozen=True)
class Param:
    """One query parameter of one operation, as its schema declares it."""

    name: str
    type: str  # "string", "integer", "array", ...
    required: bool = False
    explode: bool = True  # arrays: repeated parameters (True) or one comma-separated value
    enum: tuple[str, ...] | None = None  # of the value, or of each item of an array
    minimum: int | None = None
    maximum: int | None = None


@dataclass(frozen=True)
class FieldsFact:
    """The names a `fields` parameter's description (or enum) documents."""

    names: tuple[str, ...]
    legacy: tuple[str, ...] = ()  # only with Keap's legacy opportunities feature


@dataclass(frozen=True)
class OrderFact:
    fields: tuple[str, ...]
    directions: tuple[str, ...]


@dataclass(frozen=True)
class FilterField:
    """One field the `filter` description lists, and what it says about it."""

    name: str
    type: str  # as written: "String", "Number", "Set[String]", "Boolean", ...
    operators: tuple[str, ...] = ("==",)
    wildcard: bool = False  # a trailing `*` is a prefix match
    contains: bool = False  # a bare value matches anywhere in the text
    none_token: bool = False  # `field==NONE` matches records without a value
    values: tuple[str, ...] | None = None  # the only values it takes
    max_ids: int | None = None  # a list of ids, at most this many


@dataclass(frozen=True)
class Operation:
    method: str  # "GET", "POST", ...
    path: str  # as the sandbox serves it, e.g. "/v2/companies/{company_id}"
    params: dict[str, Param] = field(default_factory=dict)
    fields: FieldsFact | None = None
    order_by: OrderFact | None = None
    filters: dict[str, FilterField] | None = None
    exclusive: tuple[tuple[str, str], ...] = ()  # filter fields that cannot be combined

    @property
    def key(self) -> str:
        return f"{self.method} {self.path}"

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Operation:
        def tup(value: Any) -> Any:
            return tuple(value) if isinstance(value, list) else value

        params = {n: Param(**{k: tup(v) for k, v in p.items()}) for n, p in data["params"].items()}
        fields = data.get("fields")
        order = data.get("order_by")
        filters = data.get("filters")
        return cls(
            method=data["method"],
            path=data["path"],
            params=params,
            fields=FieldsFact(**{k: tup(v) for k, v in fields.items()}) if fields else None,
            order_by=OrderFact(**{k: tup(v) for k, v in order.items()}) if order else None,
            filters=(
                {n: FilterField(**{k: tup(v) for k, v in f.items()}) for n, f in filters.items()}
                if filters is not None
                else None
            ),
            exclusive=tuple(tuple(pair) for pair in data.get("exclusive") or ()),  # type: ignore[misc]
        )


class Operations:
    """Every operation of the document, by "METHOD /v2/path"."""

    def __init__(self, operations: dict[str, Operation], digest: str) -> None:
        self.by_key = operations
        self.digest = digest
        self._templates = [
            (op, re.compile("^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(op.path)) + "$"))
            for op in operations.values()
        ]

    def __getitem__(self, key: str) -> Operation:
        return self.by_key[key]

    def __contains__(self, key: str) -> bool:
        return key in self.by_key

    def match(self, method: str, path: str) -> Operation | None:
        """The operation serving a concrete path (`GET /v2/companies/12`), if any.

        A literal path wins over a template (`/v2/contacts/model` over `{contact_id}`)."""
        found = self.by_key.get(f"{method.upper()} {path}")
        if found is not None:
            return found
        for op, pattern in self._templates:
            if op.method == method.upper() and pattern.match(path):
                return op
        return None


# -- reading the document ---------------------------------------------------------------


def derive(document: dict[str, Any]) -> dict[str, Operation]:
    """Every operation's facts, from the parsed document."""
    out: dict[str, Operation] = {}
    for spec_path, item in (document.get("paths") or {}).items():
        path = spec_path.removeprefix(PATH_PREFIX)
        shared = [p for p in item.get("parameters") or [] if isinstance(p, dict)]
        for method, operation in item.items():
            if method not in ("get", "post", "put", "patch", "delete"):
                continue
            declared = shared + list(operation.get("parameters") or [])
            query = [p for p in declared if p.get("in") == "query"]
            op = _operation(method.upper(), path, query)
            out[op.key] = op
    return out


def _operation(method: str, path: str, query: list[dict[str, Any]]) -> Operation:
    params: dict[str, Param] = {}
    fields = order = None
    filters: dict[str, FilterField] | None = None
    exclusive: tuple[tuple[str, str], ...] = ()
    for raw in query:
        param = _param(raw)
        params[param.name] = param
        text = str(raw.get("description") or "")
        if param.name == "fields":
            fields = _fields(text, param.enum)
        elif param.name == "order_by":
            order = _order(text)
        elif param.name == "filter":
            filters, exclusive = _filters(text)
    return Operation(method, path, params, fields, order, filters, exclusive)


def _param(raw: dict[str, Any]) -> Param:
    schema = raw.get("schema") or {}
    kind = str(schema.get("type") or "string")
    enum = schema.get("enum")
    if kind == "array":
        enum = (schema.get("items") or {}).get("enum")
    style = raw.get("style", "form")
    return Param(
        name=str(raw["name"]),
        type=kind,
        required=bool(raw.get("required", False)),
        explode=bool(raw.get("explode", style == "form")),
        enum=tuple(str(v) for v in enum) if enum else None,
        minimum=schema.get("minimum"),
        maximum=schema.get("maximum"),
    )


def _listed(text: str, lead: str) -> tuple[str, ...]:
    """Names after e.g. "Allowed values:" (comma-separated, up to the sentence's end)."""
    found = re.search(re.escape(lead) + _LISTED_NAMES, text)
    if not found:
        return ()
    return tuple(n for n in re.split(r"[\s,]+", found.group(1)) if n)


def _fields(text: str, enum: tuple[str, ...] | None) -> FieldsFact:
    legacy = _listed(text, "Allowed legacy optional values")
    names = tuple(dict.fromkeys(_TICKED.findall(text)))
    for lead in ("Available fields are", "Allowed optional values", "Allowed values"):
        names = names or _listed(text, lead)
    if not names and enum:
        names = tuple(n for n in enum if n not in legacy)
    return FieldsFact(names=names, legacy=legacy)


def _order(text: str) -> OrderFact:
    fields_part, _, directions_part = text.partition("One of the following directions")
    item = re.compile(r"^\s*- `([A-Za-z0-9_]+)`", re.M)
    return OrderFact(
        fields=tuple(item.findall(fields_part)),
        directions=tuple(item.findall(directions_part)),
    )


def _filters(text: str) -> tuple[dict[str, FilterField], tuple[tuple[str, str], ...]]:
    """The listed standard fields (custom-field filtering is prose, not a list)."""
    lines = text.splitlines()
    none_names = set(re.findall(r"`([A-Za-z0-9_]+)==NONE`", text))
    for said in re.finditer(r"NONE is passed in for (.*?), it", text, re.S):
        none_names.update(_TICKED.findall(said.group(1)))
    out: dict[str, FilterField] = {}
    for n, line in enumerate(lines):
        stripped = line.strip()
        if stripped.startswith(("Custom field", "**Custom")):
            break
        item = _FILTER_ITEM.match(stripped)
        if item is None:
            continue
        kind, name, rest = item.groups()
        # An item goes on over the indented lines below it.
        for more in lines[n + 1 :]:
            if not more[:1].isspace() or _FILTER_ITEM.match(more.strip()):
                break
            rest += " " + more.strip()
        out[name] = _filter_field(kind.strip(), name, rest, name in none_names)
    exclusive = tuple(
        (a, b) for a, b in re.findall(r"`([A-Za-z0-9_]+)` and `([A-Za-z0-9_]+)` cannot be", text)
    )
    return out, exclusive


def _filter_field(kind: str, name: str, text: str, none_token: bool) -> FilterField:
    operators = {"=="} | set(_QUOTED_OPERATOR.findall(text))
    values = re.search(r"(?:one of|Allowed values:)\s*((?:`[^`]+`[\s,]*)+)", text)
    max_ids = re.search(r"maximum (\d+) IDs", text, re.I)
    lowered = text.lower()
    return FilterField(
        name=name,
        type=kind,
        operators=tuple(o for o in OPERATORS if o in operators),
        wildcard="wildcard" in lowered,
        contains="(contains)" in lowered or "matches anywhere" in lowered,
        none_token=none_token,
        values=tuple(re.findall(r"`([^`]+)`", values.group(1))) if values else None,
        max_ids=int(max_ids.group(1)) if max_ids else None,
    )


# -- loading, with the cache -------------------------------------------------------------


def _yaml(text: str) -> dict[str, Any]:
    import yaml  # only on a cache miss

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    document: dict[str, Any] = yaml.load(text, Loader=loader)  # noqa: S506 - a safe loader
    return document


def cache_key(spec_bytes: bytes) -> str:
    """The document's sha256, and this module's (a change in how facts are read)."""
    own = hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:12]
    return f"{hashlib.sha256(spec_bytes).hexdigest()}-{own}"


def _write_atomically(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


@cache
def load_operations(spec: Path = V2_SPEC, cache_dir: Path | None = None) -> Operations:
    """The operations of `spec`, from the cache when it holds this version's facts."""
    raw = spec.read_bytes()
    key = cache_key(raw)
    folder = cache_dir or spec.parent / "__pycache__"
    cached = folder / f"{spec.stem}.facts.json"
    with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
        data = json.loads(cached.read_text())
        if data["key"] == key:
            ops = {k: Operation.from_json(v) for k, v in data["operations"].items()}
            return Operations(ops, key)
    ops = derive(_yaml(raw.decode()))
    payload = {"key": key, "operations": {k: op.to_json() for k, op in ops.items()}}
    with contextlib.suppress(OSError):  # a read-only checkout just parses every time
        folder.mkdir(parents=True, exist_ok=True)
        _write_atomically(cached, json.dumps(payload, separators=(",", ":")))
    return Operations(ops, key)
