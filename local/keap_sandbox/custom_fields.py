"""The tenant's custom field definitions (one of each Keap field type on contacts)."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from . import pools
from .timefmt import iso, iso_date


@dataclass(frozen=True)
class CustomFieldDef:
    id: str
    field_name: str
    label: str
    field_type: str
    record_type: str = "CONTACT"
    options: list[str] = field(default_factory=list)

    def model(self) -> dict[str, Any]:
        """As `GET /v2/contacts/model` lists it (CustomFieldMetaData)."""
        out: dict[str, Any] = {
            "id": self.id,
            "label": self.label,
            "field_name": self.field_name,
            "field_type": self.field_type,
            "record_type": self.record_type,
            "group_id": "1",
            "group_name": "Custom Fields",
        }
        if self.options:
            out["options"] = [{"id": str(n + 1), "label": o} for n, o in enumerate(self.options)]
        return out


_CHOICES = ["Gold", "Silver", "Bronze", "Ünïcode option", "Other"]
_TYPES = [
    "TEXT",
    "TEXT_AREA",
    "WHOLE_NUMBER",
    "DECIMAL_NUMBER",
    "CURRENCY",
    "PERCENT",
    "DATE",
    "DATE_TIME",
    "YES_NO",
    "DROPDOWN",
    "RADIO",
    "LIST_BOX",
    "EMAIL",
    "PHONE_NUMBER",
    "WEBSITE",
    "NAME",
    "SOCIAL_SECURITY_NUMBER",
    "STATE",
    "YEAR",
    "MONTH",
    "DAY_OF_WEEK",
    "USER",
    "USER_LIST_BOX",
    "DRILLDOWN",
]
_WITH_OPTIONS = {"DROPDOWN", "RADIO", "LIST_BOX", "DRILLDOWN"}


def _title(kind: str) -> str:
    return "".join(part.capitalize() for part in kind.lower().split("_"))


CONTACT_FIELDS: list[CustomFieldDef] = [
    CustomFieldDef(
        id=str(n + 1),
        field_name=f"{_title(t)}{n}",
        label=f"{_title(t)} field",
        field_type=t,
        options=list(_CHOICES) if t in _WITH_OPTIONS else [],
    )
    for n, t in enumerate(_TYPES)
]

# Other record types carry a few fields each; ids continue after the contact fields.
OTHER_FIELDS: dict[str, list[CustomFieldDef]] = {}
_next_id = len(CONTACT_FIELDS) + 1
for _kind, _record_type in [
    ("companies", "COMPANY"),
    ("opportunities", "OPPORTUNITY"),
    ("orders", "ORDER"),
    ("tasks", "TASK_NOTE_APPOINTMENT"),
    ("notes", "TASK_NOTE_APPOINTMENT"),
    ("subscriptions", "SUBSCRIPTION"),
]:
    OTHER_FIELDS[_kind] = [
        CustomFieldDef(str(_next_id), f"{_kind}Text0", "Text", "TEXT", _record_type),
        CustomFieldDef(
            str(_next_id + 1), f"{_kind}Number1", "Number", "WHOLE_NUMBER", _record_type
        ),
        CustomFieldDef(str(_next_id + 2), f"{_kind}Date2", "Date", "DATE", _record_type),
    ]
    _next_id += 3


def value_for(fdef: CustomFieldDef, rng: random.Random, base_ms: int) -> Any:
    """A plausible value of the field's type; sometimes None or empty, as in real data."""
    roll = rng.random()
    if roll < 0.08:
        return None
    t = fdef.field_type
    if roll < 0.12 and t in {"TEXT", "TEXT_AREA", "NAME", "EMAIL", "WEBSITE", "PHONE_NUMBER"}:
        return ""
    if t == "TEXT":
        return rng.choice(pools.WORDS).capitalize() + " " + rng.choice(pools.WORDS)
    if t == "TEXT_AREA":
        return "\n".join(" ".join(rng.choices(pools.WORDS, k=12)) for _ in range(rng.randint(1, 4)))
    if t in {"WHOLE_NUMBER", "USER", "YEAR", "MONTH", "DAY_OF_WEEK"}:
        lo, hi = {
            "USER": (1, 5),
            "YEAR": (1950, 2030),
            "MONTH": (1, 12),
            "DAY_OF_WEEK": (1, 7),
        }.get(t, (-1000, 100000))
        return rng.randint(lo, hi)
    if t in {"DECIMAL_NUMBER", "CURRENCY", "PERCENT"}:
        return round(rng.uniform(0, 10000 if t != "PERCENT" else 100), 2)
    if t == "DATE":
        return iso_date(base_ms - rng.randint(0, 3650) * 86_400_000)
    if t == "DATE_TIME":
        return iso(base_ms - rng.randint(0, 10**10))
    if t == "YES_NO":
        return rng.random() < 0.5
    if t in {"DROPDOWN", "RADIO", "DRILLDOWN"}:
        return rng.choice(fdef.options)
    if t == "LIST_BOX":
        return rng.sample(fdef.options, rng.randint(0, 3))
    if t == "USER_LIST_BOX":
        return sorted(rng.sample(range(1, 6), rng.randint(1, 3)))
    if t == "EMAIL":
        return f"alt{rng.randint(1, 99999)}@{rng.choice(pools.EMAIL_DOMAINS)}"
    if t == "PHONE_NUMBER":
        return f"+1 480-555-{rng.randint(0, 9999):04d}"
    if t == "WEBSITE":
        return f"https://www.{rng.choice(pools.EMAIL_DOMAINS)}/{rng.choice(pools.WORDS)}"
    if t == "NAME":
        return rng.choice(pools.NAMES[0][0])
    if t == "SOCIAL_SECURITY_NUMBER":
        return f"{rng.randint(100, 899)}-{rng.randint(10, 99)}-{rng.randint(1000, 9999)}"
    if t == "STATE":
        return rng.choice(["AZ", "CA", "NY", "TX", "IL"])
    return None


def values(defs: list[CustomFieldDef], rng: random.Random, base_ms: int) -> list[dict[str, Any]]:
    """Values for a record: most fields present, some absent altogether."""
    return [
        {"id": d.id, "content": value_for(d, rng, base_ms)} for d in defs if rng.random() < 0.85
    ]


# The objects Keap documents a model for, and the record type of their fields.
RECORD_TYPES = {
    "contacts": "CONTACT",
    "companies": "COMPANY",
    "opportunities": "OPPORTUNITY",
    "orders": "ORDER",
    "tasks": "TASK_NOTE_APPOINTMENT",
    "notes": "TASK_NOTE_APPOINTMENT",
    "subscriptions": "SUBSCRIPTION",
}


class CustomFieldModels:
    """One tenant's custom field definitions per object: those its generated records use,
    and the ones added with `POST /v2/{object}/model/customFields` (kept per sandbox)."""

    def __init__(self, generated: dict[str, list[CustomFieldDef]]) -> None:
        self._generated = generated
        self._added: dict[str, list[CustomFieldDef]] = {kind: [] for kind in RECORD_TYPES}

    def of(self, kind: str) -> list[CustomFieldDef]:
        return [*self._generated.get(kind, []), *self._added[kind]]

    def ids(self, kind: str) -> set[str]:
        return {d.id for d in self.of(kind)}

    def add(self, kind: str, label: str, field_type: str, options: list[str]) -> CustomFieldDef:
        taken = [
            int(d.id) for defs in (*self._generated.values(), *self._added.values()) for d in defs
        ]
        number = max(taken, default=0) + 1
        fdef = CustomFieldDef(
            id=str(number),
            field_name=f"{_title(field_type)}{number}",
            label=label,
            field_type=field_type,
            record_type=RECORD_TYPES[kind],
            options=options,
        )
        self._added[kind].append(fdef)
        return fdef
