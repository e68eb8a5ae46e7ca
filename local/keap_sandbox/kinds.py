"""Per-object facts from Keap's v2 spec: query parameters, filters, orderings, fields.

Parameter sets are copied from `keap-v2-openapi.yml`; tests/sandbox checks them
against the spec, so a drift in either shows up as a failing test.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
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
    Unsupported,
)

Record = dict[str, Any]

LIST_PARAMS = frozenset({"filter", "order_by", "page_size", "page_token"})


@dataclass(frozen=True)
class OrderKey:
    """How `order_by=<name>` sorts: by id, by the create/update clock, or by a field value."""

    by: str  # "id", "create", "update" or "field"
    get: Callable[[Record], Any] | None = None


@dataclass(frozen=True)
class FieldsParam:
    """The `fields` query parameter of one object.

    `exact`: the list is the whole selection (contacts); otherwise it adds optional
    properties to the default set (the spec words it so for the other objects).
    """

    allowed: frozenset[str]
    hidden_by_default: frozenset[str]
    exact: bool = False
    default: frozenset[str] = frozenset()

    def select(self, value: str | None) -> frozenset[str] | None:
        """Names to keep (None: all except hidden ones). Raises ValueError on unknown names."""
        if value is None:
            return self.default if self.exact else None
        names = {n.strip() for n in value.split(",") if n.strip()}
        unknown = names - self.allowed
        if unknown:
            raise ValueError(", ".join(sorted(unknown)))
        if self.exact:
            return frozenset(names | {"id"})
        return None if not names else frozenset(names)


@dataclass(frozen=True)
class KindSpec:
    name: str  # URL segment and config count, e.g. "contacts"
    item: str  # hook noun, e.g. "contact"
    list_key: str
    create_field: str | None
    update_field: str
    order_by: dict[str, OrderKey]
    filters: dict[str, FilterDef]
    fields: FieldsParam | None = None
    list_params: frozenset[str] = LIST_PARAMS
    get_params: frozenset[str] = frozenset()
    create_params: frozenset[str] = frozenset()
    update_params: frozenset[str] = frozenset({"update_mask"})
    deletable: bool = True
    exclusive_filters: tuple[tuple[str, str], ...] = field(default_factory=tuple)

    def project(self, record: Record, keep: frozenset[str] | None) -> Record:
        """Drop the fields this request did not ask for."""
        if self.fields is None:
            return record
        if keep is None or not self.fields.exact:
            hidden = self.fields.hidden_by_default - (keep or frozenset())
            if not hidden.intersection(record):
                return record
            return {k: v for k, v in record.items() if k not in hidden}
        if keep.issuperset(record):
            return record
        return {k: record[k] for k in _in_field_order(keep) if k in record}


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

CONTACT_FIELDS = _words(
    "addresses anniversary_date birth_date company contact_type create_time custom_fields "
    "email_addresses family_name fax_numbers given_name id job_title leadsource_id links "
    "middle_name notes origin owner_id phone_numbers preferred_locale preferred_name prefix "
    "referral_code score_value social_accounts source_type spouse_name suffix tag_ids time_zone "
    "update_time utm_parameters website account_id assistant_name assistant_phone "
    "billing_information created_by groups last_updated_by"
)
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
COMPANY_FIELDS = _words(
    "id address notes website suffix title groups company_name custom_fields email_address "
    "fax_number phone_number update_time create_time anniversary_date assistant_name "
    "assistant_phone billing_information birth_date contact_type first_name job_title last_name "
    "middle_name preferred_name owner_id referral_code spouse_name account_id created_by "
    "last_updated_by"
)
OPPORTUNITY_OPTIONAL = _words(
    "custom_fields created_by last_updated_by status_id monthly_revenue order_revenue objection "
    "status stage_entrance_time"
)

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
            "company_id": Match(_get("company", "id"), wildcard=False),
            "contact_ids": IdList(),
            "ids": IdList(),
            "start_update_time": TimeBound("update", "min"),
            "end_update_time": TimeBound("update", "max"),
            "city": Match(_localities),
            "website": Match(_get("website")),
            "contact_id": IdCompare(),
            **{
                name: Unsupported()
                for name in _words(
                    "phone_number phone_fields state lead_source_name "
                    + " ".join(
                        f"{kind}_address_{part}"
                        for kind in ("billing", "shipping", "other")
                        for part in ("line1", "locality", "region", "postal_code", "country_code")
                    )
                )
            },
        },
        fields=FieldsParam(
            allowed=CONTACT_FIELDS,
            hidden_by_default=CONTACT_FIELDS - CONTACT_DEFAULT_FIELDS,
            exact=True,
            default=CONTACT_DEFAULT_FIELDS,
        ),
        list_params=LIST_PARAMS | {"fields"},
        get_params=frozenset({"fields"}),
        create_params=frozenset({"fields", "duplicate_option"}),
        update_params=frozenset({"update_mask", "fields"}),
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
            "company_name": Match(_get("company_name"), wildcard=False),
            "name": Match(_get("company_name")),
            "email": Match(_get("email_address", "email"), wildcard=False),
            "city": Match(_get("address", "locality")),
            "state": Unsupported(),
            "since_time": TimeBound("update", "min"),
            "until_time": TimeBound("update", "max"),
            "company_id": IdCompare(),
        },
        fields=FieldsParam(
            allowed=COMPANY_FIELDS,
            hidden_by_default=frozenset(
                {
                    "notes",
                    "fax_number",
                    "address",
                    "email_address",
                    "phone_number",
                    "update_time",
                    "create_time",
                    "custom_fields",
                }
            ),
        ),
        list_params=LIST_PARAMS | {"fields"},
        get_params=frozenset({"fields"}),
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
            "stage_id": Match(_get("stage", "id"), wildcard=False),
            "user_id": Match(_get("user", "id"), wildcard=False),
            "contact_id": Match(_get("contact", "id"), wildcard=False),
            "opportunity_title": Match(_get("opportunity_title")),
            "lead_source_name": Unsupported(),
            "affiliate_id": Match(_get("affiliate_id"), wildcard=False),
            "opportunity_id": IdCompare(),
            "ids": IdList(max_ids=100),
            "contact_phone": Unsupported(),
            "contact_city": Unsupported(),
            "contact_state": Unsupported(),
            "projected_revenue_high": Compare(
                _get("projected_revenue_high"), ("==", ">", "<", ">=", "<=")
            ),
            "projected_revenue_low": Compare(
                _get("projected_revenue_low"), ("==", ">", "<", ">=", "<=")
            ),
        },
        fields=FieldsParam(allowed=OPPORTUNITY_OPTIONAL, hidden_by_default=OPPORTUNITY_OPTIONAL),
        list_params=LIST_PARAMS | {"fields"},
        get_params=frozenset({"fields"}),
        create_params=frozenset({"fields"}),
        update_params=frozenset({"update_mask", "fields"}),
        exclusive_filters=(("opportunity_id", "ids"),),
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
            "id": IdCompare(("==", "<=", "<", ">=", ">", "!=")),
            "ids": IdList(),
            "product_id": Match(
                lambda r: [(i.get("product") or {}).get("id") for i in r.get("order_items") or []],
                wildcard=False,
            ),
            "contact_id": Match(_get("contact", "id"), wildcard=False),
            "invoice_id": Match(_get("invoice_id"), wildcard=False),
            "invoice_xid": Unsupported(),
            "paid": Flag(lambda r: r.get("status") == "PAID"),
            "created_since_time": TimeBound("create", "min"),
            "created_until_time": TimeBound("create", "max"),
            "modified_since_time": TimeBound("update", "min"),
            "modified_until_time": TimeBound("update", "max"),
            "title": Match(_get("title")),
            "order_type": Match(_get("order_type"), wildcard=False),
            "shipping_locality": Unsupported(),
            "shipping_region_code": Unsupported(),
            "shipping_postal_code": Unsupported(),
            "shipping_country_code": Unsupported(),
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
            "contact_id": Match(_get("contact_id"), wildcard=False),
            "has_due_date": Flag(lambda r: bool(r.get("due_time"))),
            "is_completed": Flag(_get("completed")),
            "user_id": Match(_get("assigned_to_user_id"), wildcard=False),
            "opportunity_id": Match(_get("opportunity_id"), wildcard=False),
            "task_ids": IdList(),
            "priority": Match(_get("priority"), wildcard=False),
            "since_time": TimeBound("update", "min"),
            "until_time": TimeBound("update", "max"),
            "id": IdCompare(),
            "title": Match(_get("title")),
        },
        fields=FieldsParam(
            allowed=frozenset({"custom_fields"}), hidden_by_default=frozenset({"custom_fields"})
        ),
        list_params=LIST_PARAMS | {"fields"},
        get_params=frozenset({"fields"}),
        create_params=frozenset({"fields"}),
        update_params=frozenset({"update_mask", "fields"}),
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
            "name": Match(_get("name"), wildcard=False),
            "description": Match(_get("description"), wildcard=False, none_token=True),
            "category_id": Match(_get("category", "id"), wildcard=False, none_token=True),
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
            "id": IdCompare(("==", "!=", ">", "<", ">=", "<=")),
            "ids": IdList(),
            "title": Match(_get("title"), contains=True),
            "contact_id": Match(_get("contact_id"), wildcard=False),
            "assigned_to_user_id": Match(_get("assigned_to_user", "id"), wildcard=False),
            "since_time": TimeBound("update", "min"),
            "until_time": TimeBound("update", "max"),
        },
        fields=FieldsParam(
            allowed=frozenset({"custom_fields"}), hidden_by_default=frozenset({"custom_fields"})
        ),
        list_params=LIST_PARAMS | {"fields"},
        get_params=frozenset({"fields"}),
        create_params=frozenset({"fields"}),
        update_params=frozenset({"update_mask", "fields"}),
        exclusive_filters=(("id", "ids"),),
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
            "contact_id": Match(_get("contact_id"), wildcard=False),
            "subscription_plan_id": Match(_get("subscription_plan_id"), wildcard=False),
            "status": Match(lambda r: "Active" if r.get("active") else "Inactive", wildcard=False),
            "id": IdCompare(("==", "<=", "<", ">=", ">", "!=")),
            "billing_amount": Compare(_get("billing_amount")),
            "ids": IdList(),
            "subscription_plan_ids": AnyOf(_get("subscription_plan_id")),
        },
        deletable=False,
    ),
}

# Sub-resources with their own parameter sets.
TAG_CONTACTS_PARAMS = LIST_PARAMS
CONTACT_TAGS_PARAMS = LIST_PARAMS
