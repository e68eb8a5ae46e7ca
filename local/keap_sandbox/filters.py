"""Keap v2 `filter` strings (`field==value;field2>5`) parsed into a `Query`.

Only the fields each endpoint's spec lists are accepted; time and id conditions become
ranges (cheap on generated data), the rest become predicates on the record.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .errors import ApiError
from .timefmt import parse_ms

Record = dict[str, Any]
Getter = Callable[[Record], Any]

_CONDITION = re.compile(r"^([A-Za-z0-9_]+)(==|!=|>=|<=|>|<)(.*)$")
_CMP = ("==", "!=", ">=", "<=", ">", "<")


@dataclass
class Query:
    """What a list request asks for, beyond ordering and paging."""

    id_min: int = 1
    id_max: int | None = None
    ids: set[int] | None = None
    excluded_ids: set[int] = field(default_factory=set)
    # Inclusive bounds in epoch ms on the record's create and update time.
    create_min: int | None = None
    create_max: int | None = None
    update_min: int | None = None
    update_max: int | None = None
    predicates: list[Callable[[Record], bool]] = field(default_factory=list)

    def matches_keys(self, record_id: int, create_ms: int, update_ms: int) -> bool:
        """The cheap part of the test: everything except predicates on the record."""
        if record_id < self.id_min or (self.id_max is not None and record_id > self.id_max):
            return False
        if self.ids is not None and record_id not in self.ids:
            return False
        if record_id in self.excluded_ids:
            return False
        if self.create_min is not None and create_ms < self.create_min:
            return False
        if self.create_max is not None and create_ms > self.create_max:
            return False
        if self.update_min is not None and update_ms < self.update_min:
            return False
        return self.update_max is None or update_ms <= self.update_max

    def matches_record(self, record: Record) -> bool:
        return all(p(record) for p in self.predicates)


class FilterDef:
    """One filterable field of one endpoint."""

    operators: tuple[str, ...] = ("==",)

    def apply(self, query: Query, name: str, op: str, value: str) -> None:
        raise NotImplementedError


@dataclass
class TimeBound(FilterDef):
    """`start_update_time`, `since_time`, `until_time`, ...: inclusive bound on a time."""

    clock: str  # "create" or "update"
    bound: str  # "min" or "max"

    def apply(self, query: Query, name: str, op: str, value: str) -> None:
        try:
            ms = parse_ms(value)
        except ValueError as exc:
            raise ApiError(400, f"Invalid value for filter '{name}': {exc}") from exc
        attr = f"{self.clock}_{self.bound}"
        current = getattr(query, attr)
        if current is None:
            setattr(query, attr, ms)
        else:
            setattr(query, attr, max(current, ms) if self.bound == "min" else min(current, ms))


@dataclass
class IdList(FilterDef):
    """`ids==1,2,3` and its per-object spellings."""

    max_ids: int | None = None

    def apply(self, query: Query, name: str, op: str, value: str) -> None:
        ids = _ints(name, [v for v in value.split(",") if v.strip()])
        if self.max_ids is not None and len(ids) > self.max_ids:
            raise ApiError(400, f"Filter '{name}' accepts at most {self.max_ids} ids")
        query.ids = set(ids) if query.ids is None else query.ids & set(ids)


@dataclass
class IdCompare(FilterDef):
    """`id>5`, `contact_id<=100`, `id!=7`: a range on the record's own id."""

    operators: tuple[str, ...] = ("==", ">", "<", ">=", "<=")

    def apply(self, query: Query, name: str, op: str, value: str) -> None:
        (n,) = _ints(name, [value])
        if op == "==":
            query.id_min, query.id_max = max(query.id_min, n), _min(query.id_max, n)
        elif op == "!=":
            query.excluded_ids.add(n)
        elif op in (">", ">="):
            query.id_min = max(query.id_min, n + (op == ">"))
        else:
            query.id_max = _min(query.id_max, n - (op == "<"))


@dataclass
class Match(FilterDef):
    """Equality on a text field, case-insensitive; a trailing `*` makes it a prefix match.

    `getter` may return a list (e.g. all of a contact's emails): any element matching counts.
    `none_token`: `field==NONE` matches records without a value.
    `contains`: a bare value matches anywhere in the text (notes' `title`).
    """

    getter: Getter
    wildcard: bool = True
    none_token: bool = False
    contains: bool = False

    def apply(self, query: Query, name: str, op: str, value: str) -> None:
        getter, wanted = self.getter, value.strip()
        if self.none_token and wanted == "NONE":
            query.predicates.append(lambda r: _blank(getter(r)))
            return
        prefix = self.wildcard and wanted.endswith("*")
        if "*" in wanted[:-1] or ("*" in wanted and not self.wildcard):
            raise ApiError(400, f"Filter '{name}' supports only a trailing wildcard")
        needle = wanted.rstrip("*").casefold()

        def test(text: Any) -> bool:
            s = str(text).casefold()
            if prefix:
                return s.startswith(needle)
            return needle in s if self.contains else s == needle

        query.predicates.append(lambda r: any(test(v) for v in _values(getter(r))))


@dataclass
class Compare(FilterDef):
    """A numeric comparison on a field (`billing_amount>=100`)."""

    getter: Getter
    operators: tuple[str, ...] = _CMP

    def apply(self, query: Query, name: str, op: str, value: str) -> None:
        try:
            wanted = float(value)
        except ValueError as exc:
            raise ApiError(400, f"Filter '{name}' needs a number") from exc
        ops: dict[str, Callable[[float, float], bool]] = {
            "==": float.__eq__,
            "!=": float.__ne__,
            ">": float.__gt__,
            "<": float.__lt__,
            ">=": float.__ge__,
            "<=": float.__le__,
        }
        compare, getter = ops[op], self.getter
        query.predicates.append(
            lambda r: getter(r) is not None and compare(float(getter(r)), wanted)
        )


@dataclass
class Flag(FilterDef):
    """`field==true|false` on a boolean derived from the record."""

    getter: Getter

    def apply(self, query: Query, name: str, op: str, value: str) -> None:
        text = value.strip().lower()
        if text not in ("true", "false", "1", "0"):
            raise ApiError(400, f"Filter '{name}' needs true or false")
        wanted, getter = text in ("true", "1"), self.getter
        query.predicates.append(lambda r: bool(getter(r)) == wanted)


@dataclass
class Unsupported(FilterDef):
    """Listed by Keap's spec but not modelled by the sandbox: refused loudly, not ignored."""

    def apply(self, query: Query, name: str, op: str, value: str) -> None:
        raise ApiError(400, f"Filter '{name}' is valid for Keap but not implemented by the sandbox")


def parse(text: str | None, defs: dict[str, FilterDef]) -> Query:
    """Parse a `filter` value against the endpoint's filterable fields."""
    query = Query()
    if not text:
        return query
    for part in text.split(";"):
        condition = part.strip()
        if not condition:
            continue  # Keap's own examples end with a `;`
        m = _CONDITION.match(condition)
        if not m:
            raise ApiError(400, f"Invalid filter condition '{condition}'")
        name, op, value = m.groups()
        fdef = defs.get(name)
        if fdef is None:
            allowed = ", ".join(sorted(defs)) or "none"
            raise ApiError(400, f"Invalid filter field '{name}'. Allowed: {allowed}")
        if op not in fdef.operators:
            raise ApiError(400, f"Operator '{op}' is not supported for filter '{name}'")
        fdef.apply(query, name, op, value)
    return query


def _ints(name: str, values: list[str]) -> list[int]:
    try:
        return [int(v.strip()) for v in values]
    except ValueError as exc:
        raise ApiError(400, f"Filter '{name}' needs numeric ids") from exc


def _min(a: int | None, b: int) -> int:
    return b if a is None else min(a, b)


def _values(value: Any) -> list[Any]:
    if value is None:
        return []
    return [v for v in value if v is not None] if isinstance(value, list) else [value]


def _blank(value: Any) -> bool:
    return value is None or value == "" or value == [] or value == {}


@dataclass
class AnyOf(FilterDef):
    """`field==a,b,c`: the record's value (or any of its values) is one of the listed ones."""

    getter: Getter

    def apply(self, query: Query, name: str, op: str, value: str) -> None:
        wanted = {v.strip() for v in value.split(",") if v.strip()}
        getter = self.getter
        query.predicates.append(lambda r: any(str(v) in wanted for v in _values(getter(r))))


@dataclass
class TimeField(FilterDef):
    """Inclusive bound on a date-time field of the listed item (e.g. a tag's applied_time)."""

    getter: Getter
    bound: str  # "min" or "max"

    def apply(self, query: Query, name: str, op: str, value: str) -> None:
        try:
            wanted = parse_ms(value)
        except ValueError as exc:
            raise ApiError(400, f"Invalid value for filter '{name}': {exc}") from exc
        getter, at_least = self.getter, self.bound == "min"

        def test(item: Record) -> bool:
            text = getter(item)
            if not text:
                return False
            ms = parse_ms(text)
            return ms >= wanted if at_least else ms <= wanted

        query.predicates.append(test)


def field_names(text: str | None) -> set[str]:
    """The field names a filter string mentions (for "cannot be combined" rules)."""
    names = set()
    for part in (text or "").split(";"):
        m = _CONDITION.match(part.strip())
        if m:
            names.add(m.group(1))
    return names
