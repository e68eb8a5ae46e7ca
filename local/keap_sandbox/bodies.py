"""Request bodies as Keap's v2 spec defines them: field names, JSON types, required
fields; and `update_mask` semantics (its values are the spec's enum, checked in query.py).

A body with an unknown field or a wrong type is a 400, so a client sending v1-style
bodies notices in tests rather than in production.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .errors import ApiError

Record = dict[str, Any]

_JSON_TYPES: dict[str, tuple[type, ...]] = {
    "s": (str,),
    "b": (bool,),
    "n": (int, float),
    "i": (int,),
    "l": (list,),
    "o": (dict,),
}


@dataclass(frozen=True)
class BodySchema:
    types: dict[str, str]  # field -> s(tring) b(ool) n(umber) i(nteger) l(ist) o(bject)
    required: frozenset[str] = frozenset()
    max_length: dict[str, int] = field(default_factory=dict)


def _schema(
    required: str = "", max_length: dict[str, int] | None = None, **groups: str
) -> BodySchema:
    types = {name: code for code, names in groups.items() for name in names.split()}
    return BodySchema(types, frozenset(required.split()), max_length or {})


_CONTACT = _schema(
    max_length={
        "website": 100,
        "family_name": 40,
        "given_name": 40,
        "job_title": 255,
        "middle_name": 100,
        "preferred_name": 100,
        "spouse_name": 100,
        "assistant_name": 20,
        "assistant_phone": 15,
        "billing_information": 100,
    },
    l="addresses custom_fields email_addresses fax_numbers phone_numbers social_accounts",
    o="company origin utm_parameters",
    s="prefix suffix website anniversary_date birth_date contact_type family_name given_name "
    "job_title leadsource_id middle_name owner_id preferred_locale preferred_name referral_code "
    "source_type spouse_name time_zone assistant_name assistant_phone billing_information",
)
_COMPANY = _schema(
    o="address email_address fax_number phone_number",
    s="notes website suffix title company_name anniversary_date assistant_name assistant_phone "
    "billing_information birth_date contact_type first_name job_title last_name middle_name "
    "preferred_name owner_id referral_code spouse_name",
    l="custom_fields",
)
_OPPORTUNITY_FIELDS = {
    "s": "opportunity_title next_action_time next_action_notes opportunity_notes "
    "estimated_close_time contact_id stage_id user_id affiliate_id",
    "b": "include_in_forecast",
    "n": "projected_revenue_low projected_revenue_high",
    "l": "custom_fields",
}
_ORDER_STRINGS = (
    "notes terms title contact_id order_title order_time order_type lead_affiliate_id "
    "sales_affiliate_id sent_time due_time invoice_number external_create_user "
    "external_create_time external_update_time"
)
_TASK_FIELDS = {
    "s": "title description type priority completion_time due_time assigned_to_user_id "
    "contact_id opportunity_id",
    "b": "completed accepted",
    "i": "remind_time_mins",
    "l": "custom_fields",
}
_PRODUCT_BOOLS = (
    "active shippable taxable subscription_only storefront_hidden country_taxable state_taxable "
    "city_taxable is_package needs_digital_delivery"
)
_PRODUCT_STRINGS = (
    "name sku description short_description top_html bottom_html delivery_description"
)
_SUBSCRIPTION_STRINGS = (
    "contact_id subscription_plan_id payment_method_id lead_affiliate_id sale_affiliate_id "
    "promo_code shipping_option_id reason_stopped"
)

CREATE: dict[str, BodySchema] = {
    "contacts": _CONTACT,
    "companies": _COMPANY,
    "opportunities": _schema("contact_id opportunity_title stage_id", **_OPPORTUNITY_FIELDS),
    "orders": _schema(
        "contact_id order_time order_title order_type",
        s=_ORDER_STRINGS,
        l="order_items promo_codes custom_fields",
        o="shipping_address",
    ),
    "tasks": _schema("assigned_to_user_id", **_TASK_FIELDS),
    "products": _schema(
        "name price short_description",
        s=_PRODUCT_STRINGS,
        i="price",
        b=_PRODUCT_BOOLS,
        n="weight",
        o="inventory",
    ),
    "tags": _schema(s="name description", o="category"),
    "notes": _schema("user_id", s="title text type user_id", b="is_pinned", l="custom_fields"),
    "subscriptions": _schema(
        "contact_id subscription_plan_id",
        i="quantity max_charge_attempts days_between_retries",
        b="active auto_charge allow_tax allow_duplicate",
        s=_SUBSCRIPTION_STRINGS + " start_date",
        n="billing_amount",
        o="shipping_address",
        l="custom_fields",
    ),
}
UPDATE: dict[str, BodySchema] = {
    "contacts": _CONTACT,
    "companies": _COMPANY,
    "opportunities": _schema(**_OPPORTUNITY_FIELDS),
    "orders": _schema(
        s=_ORDER_STRINGS, l="promo_codes custom_fields", o="shipping_address payment_plan"
    ),
    "tasks": _schema(**_TASK_FIELDS),
    "products": _schema(
        s=_PRODUCT_STRINGS + " email_for_inventory_notifications",
        i="price inventory_limit",
        b=_PRODUCT_BOOLS + " out_of_stock_enabled",
        n="weight",
    ),
    "tags": _schema(s="name description", o="category"),
    "notes": _schema(
        "user_id", s="title text type user_id contact_id", b="is_pinned", l="custom_fields"
    ),
    "subscriptions": _schema(
        i="quantity max_charge_attempts days_between_retries billing_frequency",
        b="active auto_charge allow_tax",
        s=_SUBSCRIPTION_STRINGS + " billing_cycle next_bill_date end_date",
        n="billing_amount",
        o="shipping_address",
        l="custom_fields",
    ),
}

_ENUMS: dict[str, set[str]] = {
    "email_addresses": {"EMAIL_FIELD_UNSPECIFIED", "EMAIL1", "EMAIL2", "EMAIL3"},
    "phone_numbers": {
        "PHONE_NUMBER_FIELD_UNSPECIFIED",
        "PHONE1",
        "PHONE2",
        "PHONE3",
        "PHONE4",
        "PHONE5",
    },
    "fax_numbers": {"FAX_NUMBER_FIELD_UNSPECIFIED", "FAX1", "FAX2"},
    "addresses": {"ADDRESS_FIELD_UNSPECIFIED", "BILLING", "SHIPPING", "OTHER"},
}


def checked_changes(kind: str, body: Any, creating: bool, mask: list[str] | None) -> Record:
    """The body's fields to apply, after checking names, JSON types and the mask."""
    schema = (CREATE if creating else UPDATE)[kind]
    if not isinstance(body, dict):
        raise ApiError(400, "Request body must be a JSON object")
    unknown = sorted(set(body) - set(schema.types))
    if unknown:
        raise ApiError(400, f"Unknown field(s) in request body: {', '.join(unknown)}")
    missing = sorted(schema.required - set(body))
    if missing:
        raise ApiError(400, f"Missing required field(s): {', '.join(missing)}")
    for name, value in body.items():
        expected = _JSON_TYPES[schema.types[name]]
        is_bool = isinstance(value, bool)
        if value is not None and (
            not isinstance(value, expected) or (is_bool and bool not in expected)
        ):
            raise ApiError(400, f"Field '{name}' has the wrong type")
        limit = schema.max_length.get(name)
        if limit is not None and isinstance(value, str) and len(value) > limit:
            raise ApiError(400, f"Field '{name}' is longer than {limit} characters")
        if name in _ENUMS:
            for item in value or []:
                if (
                    not isinstance(item, dict)
                    or item.get("field", _first(_ENUMS[name])) not in _ENUMS[name]
                ):
                    raise ApiError(400, f"Invalid entry in '{name}'")
    if mask is not None:  # its names were checked against the spec's enum
        # Field-mask semantics: a masked field missing from the body is cleared.
        return {k: body.get(k) for k in mask if k in schema.types and k not in schema.required}
    return dict(body)


def _first(values: set[str]) -> str:
    return sorted(values)[0]
