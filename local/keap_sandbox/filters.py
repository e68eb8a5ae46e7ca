"""What each `filter` field means for the records: conditions become a `Query`.

Which fields an endpoint takes, with which operators, wildcards and values, is Keap's
spec's to say (`openapi.py`, checked by `query.py`); a `FilterDef` gives one field its
meaning. Time and id conditions become ranges (cheap on generated data), the rest
predicates on the record.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from .errors import ApiError
from .openapi import FilterField
from .query import Condition
from .timefmt import parse_ms

Record = dict[str, Any]
Getter = Callable[[Record], Any]

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
    """The meaning of one filter field; `supports`: the operators it can model."""

    supports: tuple[str, ...] = ("==",)

    def apply(self, query: Query, fact: FilterField, op: str, value: str) -> None:
        raise NotImplementedError


@dataclass
class TimeBound(FilterDef):
    """`start_update_time`, `since_time`, `until_time`, ...: inclusive bound on a time."""

    clock: str  # "create" or "update"
    bound: str  # "min" or "max"

    def apply(self, query: Query, fact: FilterField, op: str, value: str) -> None:
        ms = _ms(fact.name, value)
        attr = f"{self.clock}_{self.bound}"
        current = getattr(query, attr)
        if current is None:
            setattr(query, attr, ms)
        else:
            setattr(query, attr, max(current, ms) if self.bound == "min" else min(current, ms))


@dataclass
class IdList(FilterDef):
    """`ids==1,2,3` and its per-object spellings (the spec's limit is checked before)."""

    def apply(self, query: Query, fact: FilterField, op: str, value: str) -> None:
        ids = set(_ints(fact.name, [v for v in value.split(",") if v.strip()]))
        query.ids = ids if query.ids is None else query.ids & ids


@dataclass
class IdCompare(FilterDef):
    """`id>5`, `contact_id<=100`, `id!=7`: a range on the record's own id."""

    supports: tuple[str, ...] = _CMP

    def apply(self, query: Query, fact: FilterField, op: str, value: str) -> None:
        (n,) = _ints(fact.name, [value])
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
    """Equality on a text field, case-insensitive, as the spec words the field: a trailing
    `*` is a prefix match (`wildcard`), `field==NONE` matches records without a value
    (`none_token`), a bare value matches anywhere in the text (`contains`).

    `getter` may return a list (e.g. all of a contact's emails): any element matching counts.
    """

    getter: Getter

    def apply(self, query: Query, fact: FilterField, op: str, value: str) -> None:
        getter, wanted = self.getter, value.strip()
        if fact.none_token and wanted == "NONE":
            query.predicates.append(lambda r: _blank(getter(r)))
            return
        prefix = fact.wildcard and wanted.endswith("*")
        needle, contains = wanted.rstrip("*").casefold(), fact.contains

        def test(text: Any) -> bool:
            s = str(text).casefold()
            if prefix:
                return s.startswith(needle)
            return needle in s if contains else s == needle

        query.predicates.append(lambda r: any(test(v) for v in _values(getter(r))))


@dataclass
class Compare(FilterDef):
    """A numeric comparison on a field (`billing_amount>=100`)."""

    getter: Getter
    supports: tuple[str, ...] = _CMP

    def apply(self, query: Query, fact: FilterField, op: str, value: str) -> None:
        try:
            wanted = float(value)
        except ValueError as exc:
            raise ApiError(400, f"Filter '{fact.name}' needs a number") from exc
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

    def apply(self, query: Query, fact: FilterField, op: str, value: str) -> None:
        text = value.strip().lower()
        if text not in ("true", "false", "1", "0"):
            raise ApiError(400, f"Filter '{fact.name}' needs true or false")
        wanted, getter = text in ("true", "1"), self.getter
        query.predicates.append(lambda r: bool(getter(r)) == wanted)


@dataclass
class AnyOf(FilterDef):
    """`field==a,b,c`: the record's value (or any of its values) is one of the listed ones."""

    getter: Getter

    def apply(self, query: Query, fact: FilterField, op: str, value: str) -> None:
        wanted = {v.strip() for v in value.split(",") if v.strip()}
        getter = self.getter
        query.predicates.append(lambda r: any(str(v) in wanted for v in _values(getter(r))))


@dataclass
class TimeField(FilterDef):
    """Inclusive bound on a date-time field of the listed item (e.g. a tag's applied_time)."""

    getter: Getter
    bound: str  # "min" or "max"

    def apply(self, query: Query, fact: FilterField, op: str, value: str) -> None:
        wanted = _ms(fact.name, value)
        getter, at_least = self.getter, self.bound == "min"

        def test(item: Record) -> bool:
            text = getter(item)
            if not text:
                return False
            ms = parse_ms(text)
            return ms >= wanted if at_least else ms <= wanted

        query.predicates.append(test)


def apply_conditions(
    conditions: Iterable[Condition],
    facts: dict[str, FilterField] | None,
    defs: dict[str, FilterDef],
) -> Query:
    """The query of checked conditions; a field the spec lists but the sandbox does not
    model is refused loudly, never ignored."""
    query = Query()
    for condition in conditions:
        fdef = defs.get(condition.name)
        if fdef is None or facts is None:
            raise ApiError(
                400,
                f"Filter '{condition.name}' is valid for Keap but not implemented by the sandbox",
            )
        fdef.apply(query, facts[condition.name], condition.op, condition.value)
    return query


def _ms(name: str, value: str) -> int:
    try:
        return parse_ms(value)
    except ValueError as exc:
        raise ApiError(400, f"Invalid value for filter '{name}': {exc}") from exc


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
