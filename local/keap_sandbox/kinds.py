"""How the sandbox models each object: its records' keys, and what each filter and
ordering of Keap's spec means for them.

Which names an endpoint takes (parameters, filter fields and their operators, orderings,
`fields`) is Keap's spec's to say (`openapi.py`); this module only gives those names a
meaning. A name the spec lists that has no meaning here is refused with a 400 that says
so; a name modelled here that the spec does not list is reported by `spec_drift`, and a
sandbox refuses to start with one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any

from .filters import (
    AnyOf,
    Compare,
    FilterDef,
    Flag,
    IdCompare,
    IdList,
    Match,
    TimeBound,
    TimeField,
)
from .openapi import FieldsFact, Operations

Record = dict[str, Any]


@dataclass(frozen=True)
class OrderKey:
    """How `order_by=<name>` sorts: by id, by the create/update clock, or by a field value."""

    by: str  # "id", "create", "update" or "field"
    get: Callable[[Record], Any] | None = None


@dataclass(frozen=True)
class Projection:
    """The properties an answer carries: only `keep` (in field order), or all but `hide`."""

    keep: frozenset[str] | None = None
    hide: frozenset[str] = frozenset()

    def includes(self, name: str) -> bool:
        return name in self.keep if self.keep is not None else name not in self.hide

    def apply(self, record: Record) -> Record:
        if self.keep is None:
            if not self.hide.intersection(record):
                return record
            return {k: v for k, v in record.items() if k not in self.hide}
        if self.keep.issuperset(record):
            return record
        return {k: record[k] for k in _in_field_order(self.keep) if k in record}


EVERYTHING = Projection()


@dataclass(frozen=True)
class KindSpec:
    name: str  # URL segment and config count, e.g. "contacts"
    item: str  # hook noun, e.g. "contact"
    list_key: str
    create_field: str | None
    update_field: str
    order_by: dict[str, OrderKey]
    filters: dict[str, FilterDef]
    # `fields` is the whole selection, and without it these come back (contacts); for
    # the other objects `fields` adds the optional properties its description names.
    default_fields: frozenset[str] | None = None
    deletable: bool = True

    def projection(self, fields: FieldsFact | None, asked: tuple[str, ...] | None) -> Projection:
        """What an operation documenting `fields` answers when asked for `asked`."""
        return _projection(self.default_fields, fields, asked)


@cache
def _projection(
    default: frozenset[str] | None, fields: FieldsFact | None, asked: tuple[str, ...] | None
) -> Projection:
    if fields is None:
        return EVERYTHING  # an operation without `fields` answers with the whole record
    if default is not None:
        return Projection(keep=default if asked is None else frozenset(asked) | {"id"})
    optional = frozenset(fields.names) | frozenset(fields.legacy)
    return Projection(hide=optional - frozenset(asked or ()))


_ORDERED: dict[frozenset[str], tuple[str, ...]] = {}


def _in_field_order(names: frozenset[str]) -> tuple[str, ...]:
    """The names in the spec's field order (stable JSON key order whatever the set order)."""
    ordered = _ORDERED.get(names)
    if ordered is None:
        ordered = _ORDERED[names] = tuple(
            sorted(names, key=lambda n: _FIELD_RANK.get(n, len(_FIELD_RANK)))
        )
    return ordered


def _get(*path: str) -> Callable[[Record], Any]:
    def getter(record: Record) -> Any:
        value: Any = record
        for key in path:
            if not isinstance(value, dict):
                return None
            value = value.get(key)
        return value

    return getter


def _emails(record: Record) -> list[str]:
    return [e.get("email", "") for e in record.get("email_addresses") or []]


def _first_email(record: Record) -> str:
    emails = _emails(record)
    return emails[0] if emails else ""


def _localities(record: Record) -> list[str]:
    return [a.get("locality", "") for a in record.get("addresses") or []]


def _contact_name(record: Record) -> str:
    contact = record.get("contact") or {}
    return f"{contact.get('first_name', '')} {contact.get('last_name', '')}".strip()


def _str_or_empty(getter: Callable[[Record], Any]) -> Callable[[Record], str]:
    return lambda r: str(getter(r) or "")


def _int_or_zero(getter: Callable[[Record], Any]) -> Callable[[Record], int]:
    return lambda r: int(getter(r) or 0)


def _ordered_words(text: str) -> list[str]:
    return text.split()


def _words(text: str) -> frozenset[str]:
    return frozenset(_ordered_words(text))


_ID = OrderKey("id")
_CREATE = OrderKey("create")
_UPDATE = OrderKey("update")

# Without `fields`, contacts come back with this deliberately small set. Keap's own default
# is not documented precisely; a client that names what it needs works against both.
CONTACT_DEFAULT_FIELDS = _words(
    "id given_name family_name email_addresses phone_numbers addresses company "
    "create_time update_time"
)
# Contact fields in the order generated records carry them.
_FIELD_RANK = {
    name: n
    for n, name in enumerate(
        _ordered_words(
            "id given_name family_name middle_name prefix suffix preferred_name email_addresses "
            "phone_numbers fax_numbers addresses company job_title owner_id leadsource_id "
            "contact_type source_type score_value time_zone preferred_locale spouse_name links "
            "utm_parameters created_by last_updated_by tag_ids birth_date anniversary_date website "
            "origin social_accounts custom_fields create_time update_time"
        )
    )
}

KINDS: dict[str, KindSpec] = {
    "contacts": KindSpec(
        name="contacts",
        item="contact",
        list_key="contacts",
        create_field="create_time",
        update_field="update_time",
        order_by={
            "id": _ID,
            "create_time": _CREATE,
            "email": OrderKey("field", _first_email),
            "update_time": _UPDATE,
        },
        filters={
            "email": Match(_emails),
            "given_name": Match(_get("given_name")),
            "family_name": Match(_get("family_name")),
            "middle_name": Match(_get("middle_name")),
            "company_id": Match(_get("company", "id")),
            "contact_ids": IdList(),
            "ids": IdList(),
            "start_update_time": TimeBound("update", "min"),
            "end_update_time": TimeBound("update", "max"),
            "city": Match(_localities),
            "website": Match(_get("website")),
            "contact_id": IdCompare(),
        },
        default_fields=CONTACT_DEFAULT_FIELDS,
    ),
    "companies": KindSpec(
        name="companies",
        item="company",
        list_key="companies",
        create_field="create_time",
        update_field="update_time",
        order_by={
            "id": _ID,
            "create_time": _CREATE,
            "name": OrderKey("field", _str_or_empty(_get("company_name"))),
            "email": OrderKey("field", _str_or_empty(_get("email_address", "email"))),
        },
        filters={
            "company_name": Match(_get("company_name")),
            "name": Match(_get("company_name")),
            "email": Match(_get("email_address", "email")),
            "city": Match(_get("address", "locality")),
            "since_time": TimeBound("update", "min"),
            "until_time": TimeBound("update", "max"),
            "company_id": IdCompare(),
        },
    ),
    "opportunities": KindSpec(
        name="opportunities",
        item="opportunity",
        list_key="opportunities",
        create_field="created_time",
        update_field="last_updated_time",
        order_by={
            "next_action_time": OrderKey("field", _str_or_empty(_get("next_action_time"))),
            "contact_name": OrderKey("field", _contact_name),
            "opportunity_title": OrderKey("field", _str_or_empty(_get("opportunity_title"))),
            "created_time": _CREATE,
            "update_time": _UPDATE,
        },
        filters={
            "stage_id": Match(_get("stage", "id")),
            "user_id": Match(_get("user", "id")),
            "contact_id": Match(_get("contact", "id")),
            "opportunity_title": Match(_get("opportunity_title")),
            "affiliate_id": Match(_get("affiliate_id")),
            "opportunity_id": IdCompare(),
            "ids": IdList(),
            "projected_revenue_high": Compare(_get("projected_revenue_high")),
            "projected_revenue_low": Compare(_get("projected_revenue_low")),
        },
    ),
    "orders": KindSpec(
        name="orders",
        item="order",
        list_key="orders",
        create_field="creation_time",
        update_field="modification_time",
        order_by={
            "id": _ID,
            "order_time": OrderKey("field", _str_or_empty(_get("order_time"))),
            "modification_time": _UPDATE,
        },
        filters={
            "id": IdCompare(),
            "ids": IdList(),
            "product_id": Match(
                lambda r: [(i.get("product") or {}).get("id") for i in r.get("order_items") or []]
            ),
            "contact_id": Match(_get("contact", "id")),
            "invoice_id": Match(_get("invoice_id")),
            "paid": Flag(lambda r: r.get("status") == "PAID"),
            "created_since_time": TimeBound("create", "min"),
            "created_until_time": TimeBound("create", "max"),
            "modified_since_time": TimeBound("update", "min"),
            "modified_until_time": TimeBound("update", "max"),
            "title": Match(_get("title")),
            "order_type": Match(_get("order_type")),
        },
    ),
    "tasks": KindSpec(
        name="tasks",
        item="task",
        list_key="tasks",
        create_field="create_time",
        update_field="modification_time",
        order_by={
            "id": _ID,
            "create_time": _CREATE,
            "due_time": OrderKey("field", _str_or_empty(_get("due_time"))),
            "update_time": _UPDATE,
        },
        filters={
            "contact_id": Match(_get("contact_id")),
            "has_due_date": Flag(lambda r: bool(r.get("due_time"))),
            "is_completed": Flag(_get("completed")),
            "user_id": Match(_get("assigned_to_user_id")),
            "opportunity_id": Match(_get("opportunity_id")),
            "task_ids": IdList(),
            "priority": Match(_get("priority")),
            "since_time": TimeBound("update", "min"),
            "until_time": TimeBound("update", "max"),
            "id": IdCompare(),
            "title": Match(_get("title")),
        },
    ),
    "products": KindSpec(
        name="products",
        item="product",
        list_key="products",
        create_field="create_time",
        update_field="update_time",
        order_by={
            "name": OrderKey("field", _str_or_empty(_get("name"))),
            "sku": OrderKey("field", _str_or_empty(_get("sku"))),
            "last_updated_time": _UPDATE,
        },
        filters={
            "name": Match(_get("name")),
            "sku": Match(_get("sku")),
            "description": Match(_get("description")),
            "short_description": Match(_get("short_description")),
            "product_id": IdCompare(),
            "product_ids": IdList(),
        },
    ),
    "tags": KindSpec(
        name="tags",
        item="contactGroup",
        list_key="tags",
        create_field="create_time",
        update_field="update_time",
        order_by={
            "name": OrderKey("field", _str_or_empty(_get("name"))),
            "create_time": _CREATE,
            "update_time": _UPDATE,
        },
        filters={
            "name": Match(_get("name")),
            "description": Match(_get("description")),
            "category_id": Match(_get("category", "id")),
            "tag_ids": IdList(),
            "since_create_time": TimeBound("create", "min"),
            "until_create_time": TimeBound("create", "max"),
            "since_update_time": TimeBound("update", "min"),
            "until_update_time": TimeBound("update", "max"),
        },
    ),
    "notes": KindSpec(
        name="notes",
        item="note",
        list_key="notes",
        create_field="create_time",
        update_field="update_time",
        order_by={"id": _ID, "create_time": _CREATE, "update_time": _UPDATE},
        filters={
            "id": IdCompare(),
            "ids": IdList(),
            "title": Match(_get("title")),
            "contact_id": Match(_get("contact_id")),
            "assigned_to_user_id": Match(_get("assigned_to_user", "id")),
            "since_time": TimeBound("update", "min"),
            "until_time": TimeBound("update", "max"),
        },
    ),
    "subscriptions": KindSpec(
        name="subscriptions",
        item="subscription",
        list_key="subscriptions",
        create_field=None,
        update_field="modification_time",
        order_by={
            "id": _ID,
            "contact_id": OrderKey("field", _int_or_zero(_get("contact_id"))),
            "subscription_plan_id": OrderKey("field", _int_or_zero(_get("subscription_plan_id"))),
            "modification_time": _UPDATE,
        },
        filters={
            "contact_id": Match(_get("contact_id")),
            "subscription_plan_id": Match(_get("subscription_plan_id")),
            "status": Match(lambda r: "Active" if r.get("active") else "Inactive"),
            "id": IdCompare(),
            "billing_amount": Compare(_get("billing_amount")),
            "ids": IdList(),
            "subscription_plan_ids": AnyOf(_get("subscription_plan_id")),
        },
        deletable=False,
    ),
}


# Tag applications, listed from either side.
TAG_CONTACT_FILTERS: dict[str, FilterDef] = {
    "given_name": Match(_get("given_name")),
    "family_name": Match(_get("family_name")),
    "email": Match(_get("email")),
    "since_applied_time": TimeField(_get("applied_time"), "min"),
    "until_applied_time": TimeField(_get("applied_time"), "max"),
}
TAG_CONTACT_ORDER = {
    name: OrderKey("field", _str_or_empty(_get(name)))
    for name in ("given_name", "family_name", "email", "applied_time")
}
CONTACT_TAG_FILTERS: dict[str, FilterDef] = {
    "name": Match(_get("tag", "name")),
    "description": Match(_get("tag", "description")),
    "category_id": Match(_get("tag", "category", "id")),
    "since_applied_time": TimeField(_get("applied_time"), "min"),
    "until_applied_time": TimeField(_get("applied_time"), "max"),
    "since_create_time": TimeField(_get("tag", "create_time"), "min"),
    "until_create_time": TimeField(_get("tag", "create_time"), "max"),
    "since_update_time": TimeField(_get("tag", "update_time"), "min"),
    "until_update_time": TimeField(_get("tag", "update_time"), "max"),
}
CONTACT_TAG_ORDER = {
    "name": OrderKey("field", _str_or_empty(_get("tag", "name"))),
    "create_time": OrderKey("field", _str_or_empty(_get("tag", "create_time"))),
    "update_time": OrderKey("field", _str_or_empty(_get("tag", "update_time"))),
    "applied_time": OrderKey("field", _str_or_empty(_get("applied_time"))),
    "category_id": OrderKey("field", _int_or_zero(_get("tag", "category", "id"))),
}

# Every list endpoint the sandbox serves: its filters and orderings.
LISTINGS: dict[str, tuple[dict[str, FilterDef], dict[str, OrderKey]]] = {
    **{f"GET /v2/{name}": (spec.filters, spec.order_by) for name, spec in KINDS.items()},
    "GET /v2/contacts/{contact_id}/notes": (KINDS["notes"].filters, KINDS["notes"].order_by),
    "GET /v2/tags/{tag_id}/contacts": (TAG_CONTACT_FILTERS, TAG_CONTACT_ORDER),
    "GET /v2/contacts/{contact_id}/tags": (CONTACT_TAG_FILTERS, CONTACT_TAG_ORDER),
}


def spec_drift(operations: Operations) -> list[str]:
    """Filters and orderings modelled here that Keap's spec does not list (or lists with
    operators the model cannot apply)."""
    problems: list[str] = []
    for key, (filters, orders) in LISTINGS.items():
        if key not in operations:
            problems.append(f"{key} is not an operation of Keap's spec")
            continue
        op = operations[key]
        listed = op.filters or {}
        for name, meaning in filters.items():
            fact = listed.get(name)
            if fact is None:
                problems.append(f"{key}: filter '{name}' is not in Keap's spec")
            elif not set(fact.operators) <= set(meaning.supports):
                problems.append(f"{key}: filter '{name}' takes {fact.operators} in Keap's spec")
        documented = op.order_by.fields if op.order_by else ()
        problems += [
            f"{key}: order_by '{name}' is not in Keap's spec"
            for name in orders
            if name not in documented
        ]
    return problems
