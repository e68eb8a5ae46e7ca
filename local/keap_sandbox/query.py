"""A request's query string checked against its operation in Keap's spec.

`check_query` is what the sandbox answers 400 from, and what the tests hold the sync's
own requests to: parameter names, repetition as the schema's `explode` says, types,
bounds and enums, and the prose rules of `fields`, `order_by` and `filter`. Where the
document can be read two ways, this takes the stricter reading (see the sandbox README).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from .openapi import FilterField, Operation, Param

_CONDITION = re.compile(r"^([A-Za-z0-9_]+)(==|!=|>=|<=|>|<)(.*)$")


class QueryError(ValueError):
    """The request does not fit the spec; the message says how."""


@dataclass(frozen=True)
class Condition:
    name: str
    op: str
    value: str


@dataclass
class CheckedQuery:
    """A query string that fits its operation, taken apart."""

    values: dict[str, list[str]] = field(default_factory=dict)  # items, after the style
    page_size: int | None = None
    order: tuple[str, bool] | None = None  # (field, descending)
    fields: tuple[str, ...] | None = None
    conditions: tuple[Condition, ...] = ()

    def first(self, name: str) -> str | None:
        found = self.values.get(name)
        return found[0] if found else None


def check_query(op: Operation, items: Iterable[tuple[str, str]]) -> CheckedQuery:
    """Take the query apart, or raise `QueryError` saying what the spec does not allow."""
    given: dict[str, list[str]] = {}
    for name, value in items:
        given.setdefault(name, []).append(value)
    unknown = sorted(n for n in given if n not in op.params)
    if unknown:
        listed = ", ".join(sorted(op.params)) or "none"
        raise QueryError(f"Unknown query parameter(s): {', '.join(unknown)}. Allowed: {listed}")
    missing = sorted(n for n, p in op.params.items() if p.required and n not in given)
    if missing:
        raise QueryError(f"Missing required query parameter(s): {', '.join(missing)}")
    out = CheckedQuery()
    for name, raw in given.items():
        param = op.params[name]
        values = out.values[name] = _items(param, raw)
        if name == "fields" and op.fields is not None:
            out.fields = _fields(op, values)
        elif param.enum is not None:
            _in_enum(param, values)
        if param.type == "integer":
            number = _integer(param, values[0])
            if name == "page_size":
                out.page_size = number
        elif name == "order_by" and op.order_by is not None:
            out.order = _order(op, values[0])
        elif name == "filter" and op.filters is not None:
            out.conditions = _conditions(op, values[0])
    return out


def _items(param: Param, raw: list[str]) -> list[str]:
    """The values as the schema reads them: an array is one comma-separated value
    (`explode: false`) or repeated parameters (`explode: true`); anything else is one."""
    if param.type == "array" and param.explode:
        return raw
    if len(raw) > 1:
        how = "one comma-separated value" if param.type == "array" else "one value"
        raise QueryError(f"'{param.name}' takes {how}, not repeated parameters")
    if param.type == "array":
        return [v.strip() for v in raw[0].split(",") if v.strip()]
    return raw


def _in_enum(param: Param, values: list[str]) -> None:
    assert param.enum is not None
    bad = [v for v in values if v not in param.enum]
    if bad:
        hint = ""
        if param.explode and any("," in v for v in bad):
            hint = f" (give each as its own parameter: {param.name}=a&{param.name}=b)"
        raise QueryError(
            f"Invalid {param.name} value(s): {', '.join(bad)}{hint}. "
            f"Allowed: {', '.join(param.enum)}"
        )


def _integer(param: Param, value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise QueryError(f"{param.name} must be an integer") from None
    low = param.minimum if param.minimum is not None else number
    high = param.maximum if param.maximum is not None else number
    if not low <= number <= high:
        raise QueryError(f"{param.name} must be between {low} and {high}")
    return number


def _fields(op: Operation, names: list[str]) -> tuple[str, ...]:
    assert op.fields is not None
    legacy = [n for n in names if n in op.fields.legacy]
    if legacy:
        raise QueryError(
            f"Invalid fields: {', '.join(legacy)} (legacy names, served only with Keap's "
            "legacy opportunities feature, which this tenant does not have)"
        )
    _in_enum(_fields_param(op), names)
    return tuple(dict.fromkeys(names))


def _fields_param(op: Operation) -> Param:
    """`fields` with the documented names as its enum (for one error message)."""
    assert op.fields is not None
    param = op.params["fields"]
    return Param(param.name, param.type, explode=param.explode, enum=op.fields.names)


def _order(op: Operation, value: str) -> tuple[str, bool]:
    assert op.order_by is not None
    facts = op.order_by
    parts = value.split(" ")
    if len(parts) != 2 or parts[0] not in facts.fields or parts[1] not in facts.directions:
        raise QueryError(
            f"Invalid order_by '{value}': give '<field> <direction>'. "
            f"Fields: {', '.join(facts.fields)}; directions: {', '.join(facts.directions)}"
        )
    return parts[0], parts[1] == "desc"


def _conditions(op: Operation, text: str) -> tuple[Condition, ...]:
    assert op.filters is not None
    out: list[Condition] = []
    for part in text.split(";"):
        condition = part.strip()
        if not condition:
            continue  # Keap's own examples end with a `;`
        found = _CONDITION.match(condition)
        if not found:
            raise QueryError(f"Invalid filter condition '{condition}'")
        name, operator, value = found.groups()
        fact = op.filters.get(name)
        if fact is None:
            allowed = ", ".join(op.filters) or "none"
            raise QueryError(f"Invalid filter field '{name}'. Allowed: {allowed}")
        _check_condition(fact, operator, value)
        out.append(Condition(name, operator, value))
    names = {c.name for c in out}
    for a, b in op.exclusive:
        if a in names and b in names:
            raise QueryError(f"Filters '{a}' and '{b}' cannot be combined")
    return tuple(out)


def _check_condition(fact: FilterField, operator: str, value: str) -> None:
    name = fact.name
    if operator not in fact.operators:
        raise QueryError(f"Operator '{operator}' is not supported for filter '{name}'")
    if "*" in value:
        if not fact.wildcard:
            raise QueryError(f"Filter '{name}' takes no wildcard")
        if "*" in value[:-1]:
            raise QueryError(f"Filter '{name}' supports only a trailing wildcard")
    if fact.values is not None and value not in fact.values:
        raise QueryError(
            f"Invalid value for filter '{name}': '{value}'. Allowed: {', '.join(fact.values)}"
        )
    if fact.max_ids is not None and len([v for v in value.split(",") if v.strip()]) > fact.max_ids:
        raise QueryError(f"Filter '{name}' accepts at most {fact.max_ids} ids")
