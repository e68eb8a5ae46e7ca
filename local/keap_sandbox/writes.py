"""Checked request-body fields applied to records, per kind (create and update)."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from . import pools
from .errors import ApiError
from .generator import CUSTOM_FIELD_DEFS
from .timefmt import iso, iso_date, parse_ms

Record = dict[str, Any]
Lookup = Callable[[str, int], Record | None]

_REMIND_MINS = {5, 10, 15, 30, 60, 120, 240, 480, 1440, 2880}


def apply(kind: str, record: Record, changes: Record, lookup: Lookup, at_ms: int) -> Record:
    """A new record: `record` (may be empty for a create) with `changes` applied."""
    out = copy.deepcopy(record)
    for name in [k for k, v in changes.items() if v is None]:
        out.pop(name, None)  # an explicit null (or a masked, absent field) clears the field
    _APPLY[kind](out, {k: v for k, v in changes.items() if v is not None}, lookup, at_ms)
    return out


def _apply_contact(record: Record, changes: Record, lookup: Lookup, at_ms: int) -> None:
    for name, value in changes.items():
        if name == "custom_fields":
            record[name] = _merge_custom_fields(record, value, "contacts")
        elif name == "email_addresses":
            record[name] = [_email(e) for e in value]
        elif name == "company":
            company = lookup("companies", _int_id(value.get("id"), "company.id"))
            if company is None:
                raise ApiError(400, "company.id does not name an existing company")
            record[name] = {"id": company["id"], "company_name": company.get("company_name", "")}
        elif name == "origin":
            record[name] = {"date": iso(at_ms), **value}
        elif name == "utm_parameters":
            record[name] = [_utm(value, at_ms)]
        else:
            record[name] = copy.deepcopy(value)
    record.setdefault("tag_ids", [])


def _apply_company(record: Record, changes: Record, lookup: Lookup, at_ms: int) -> None:
    for name, value in changes.items():
        if name == "custom_fields":
            record[name] = _merge_custom_fields(record, value, "companies")
        else:
            record[name] = copy.deepcopy(value)


def _apply_opportunity(record: Record, changes: Record, lookup: Lookup, at_ms: int) -> None:
    for name, value in changes.items():
        if name == "contact_id":
            contact = _existing(lookup, "contacts", value, name)
            record["contact"] = _opportunity_contact(contact)
        elif name == "stage_id":
            stage = next((s for s in pools.STAGES if s[0] == value), None)
            if stage is None:
                raise ApiError(400, "stage_id does not name an existing stage")
            record["stage"] = {
                "id": stage[0],
                "name": stage[1],
                "details": {
                    "probability": stage[2],
                    "stage_order": int(stage[0]),
                    "target_num_days": 14,
                },
            }
        elif name == "user_id":
            record["user"] = _user(value)
        elif name == "custom_fields":
            record[name] = _merge_custom_fields(record, value, "opportunities")
        else:
            record[name] = value


def _apply_order(record: Record, changes: Record, lookup: Lookup, at_ms: int) -> None:
    for name, value in changes.items():
        if name == "contact_id":
            contact = _existing(lookup, "contacts", value, name)
            record["contact"] = _basic_contact(contact)
        elif name == "order_title":
            record["title"] = value
        elif name == "order_items":
            record["order_items"] = [
                _order_item(item, n, record, lookup) for n, item in enumerate(value)
            ]
        elif name == "promo_codes":
            if value:
                record["promo_code"] = value[0]
        elif name == "shipping_address":
            record["shipping_information"] = _shipping(value, record.get("id", ""))
        elif name == "custom_fields":
            record[name] = _merge_custom_fields(record, value, "orders")
        elif name in (
            "order_time",
            "sent_time",
            "due_time",
            "external_create_time",
            "external_update_time",
        ):
            record[name] = iso(_time(value, name))
        elif name == "payment_plan":
            continue  # accepted, not modelled
        else:
            record[name] = value
    cents = sum(
        i["price_per_unit"]["amount"] * i.get("quantity", 1) for i in record.get("order_items", [])
    )
    record.setdefault("status", "DRAFT")
    record["total"] = _money(cents)
    paid = record.get("total_paid", {}).get("amount", 0)
    record.setdefault("total_paid", _money(paid))
    record["total_due"] = _money(max(cents - paid, 0))
    record.setdefault("refund_total", _money(0))
    record.setdefault("allow_payment", True)
    record.setdefault("source_type", "API")


def _apply_task(record: Record, changes: Record, lookup: Lookup, at_ms: int) -> None:
    for name, value in changes.items():
        if name == "remind_time_mins" and value is not None and value not in _REMIND_MINS:
            raise ApiError(
                400, "remind_time_mins must be one of 5, 10, 15, 30, 60, 120, 240, 480, 1440, 2880"
            )
        if name == "priority" and value not in (None, "CRITICAL", "ESSENTIAL", "NONESSENTIAL"):
            raise ApiError(400, "Invalid priority")
        if name == "custom_fields":
            record[name] = _merge_custom_fields(record, value, "tasks")
        else:
            record[name] = value
    if changes.get("completed") and "completion_time" not in changes:
        record["completion_time"] = iso(at_ms)
    record.setdefault("completed", False)
    if "assigned_to_user_id" in changes:
        record["last_updated_by_user_id"] = changes["assigned_to_user_id"]
        record.setdefault("created_by_user_id", changes["assigned_to_user_id"])


def _apply_product(record: Record, changes: Record, lookup: Lookup, at_ms: int) -> None:
    inventory = dict(record.get("inventory") or {})
    for name, value in changes.items():
        if name == "price":
            record["price"] = _money(value)
        elif name in (
            "inventory_limit",
            "out_of_stock_enabled",
            "email_for_inventory_notifications",
        ):
            inventory[name] = value
        elif name == "inventory":
            inventory.update(value)
        else:
            record[name] = value
    record["inventory"] = inventory
    for name in ("active", "shippable", "taxable", "subscription_only", "storefront_hidden"):
        record.setdefault(name, name == "active")
    record.setdefault("categories", [])
    record.setdefault("options", [])


def _apply_tag(record: Record, changes: Record, lookup: Lookup, at_ms: int) -> None:
    for name, value in changes.items():
        if name == "category":
            record[name] = {"id": str(value.get("id", ""))}
        else:
            record[name] = value


def _apply_note(record: Record, changes: Record, lookup: Lookup, at_ms: int) -> None:
    for name, value in changes.items():
        if name == "user_id":
            user = _user(value)
            record["assigned_to_user"] = {
                "id": user["id"],
                "given_name": user["first_name"],
                "family_name": user["last_name"],
                "email_address": f"{user['first_name'].lower()}@example.com",
            }
            record["last_updated_by_user_id"] = user["id"]
            record.setdefault("created_by_user_id", user["id"])
        elif name == "is_pinned":
            if value:
                record["pinned_at"] = iso(at_ms)
            else:
                record.pop("pinned_at", None)
        elif name == "contact_id":
            _existing(lookup, "contacts", value, name)
            record[name] = value
        elif name == "custom_fields":
            record[name] = _merge_custom_fields(record, value, "notes")
        else:
            record[name] = value


def _apply_subscription(record: Record, changes: Record, lookup: Lookup, at_ms: int) -> None:
    for name, value in changes.items():
        if name == "contact_id":
            _existing(lookup, "contacts", value, name)
            record[name] = value
        elif name == "subscription_plan_id":
            plan = _plan(lookup, value)
            record[name] = value
            record["product_id"] = plan["product_id"]
            record["billing_cycle"] = plan["cycle"]
            record.setdefault("billing_frequency", 1)
            record.setdefault("billing_amount", plan["amount"])
        elif name in ("start_date", "next_bill_date", "end_date"):
            record[name] = value
        elif name == "allow_duplicate":
            continue
        elif name == "custom_fields":
            record[name] = _merge_custom_fields(record, value, "subscriptions")
        else:
            record[name] = value
    record.setdefault("active", True)
    record.setdefault("quantity", 1)
    record.setdefault("start_date", iso_date(at_ms))


_APPLY: dict[str, Callable[[Record, Record, Lookup, int], None]] = {
    "contacts": _apply_contact,
    "companies": _apply_company,
    "opportunities": _apply_opportunity,
    "orders": _apply_order,
    "tasks": _apply_task,
    "products": _apply_product,
    "tags": _apply_tag,
    "notes": _apply_note,
    "subscriptions": _apply_subscription,
}


# -- helpers ---------------------------------------------------------------------------


def _int_id(value: Any, name: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError) as exc:
        raise ApiError(400, f"'{name}' must be a numeric id") from exc


def _existing(lookup: Lookup, kind: str, value: Any, name: str) -> Record:
    record = lookup(kind, _int_id(value, name))
    if record is None:
        raise ApiError(400, f"'{name}' does not name an existing {kind[:-1]}")
    return record


def _time(value: str, name: str) -> int:
    try:
        return parse_ms(value)
    except ValueError as exc:
        raise ApiError(400, f"'{name}' must be an ISO-8601 date-time") from exc


def _money(cents: int) -> Record:
    return {
        "amount": cents,
        "currency_code": "USD",
        "formatted_amount": f"${cents // 100:,}.{cents % 100:02d}",
    }


def _user(user_id: Any) -> Record:
    found = next((u for u in pools.USERS if u[0] == str(user_id)), None)
    if found is None:
        raise ApiError(400, f"User {user_id} does not exist")
    return {"id": found[0], "first_name": found[1], "last_name": found[2]}


def _email(entry: Record) -> Record:
    if not isinstance(entry.get("email"), str):
        raise ApiError(400, "Each email address needs an 'email'")
    out: Record = {"email": entry["email"], "field": entry.get("field", "EMAIL1")}
    reason = entry.get("opt_in_reason")
    out["is_opt_in"] = bool(reason)
    out["email_opt_status"] = "SINGLE_OPT_IN" if reason else "UNENGAGED_MARKETABLE"
    if reason:
        out["opt_in_reason"] = reason
    return out


def _utm(value: Record, at_ms: int) -> Record:
    if "keap_source_id" not in value:
        raise ApiError(400, "utm_parameters.keap_source_id is required")
    names = {
        "keap_source_id": "keapSourceId",
        "utm_source": "utmSource",
        "utm_medium": "utmMedium",
        "utm_term": "utmTerm",
        "utm_campaign": "utmCampaign",
        "utm_content": "utmContent",
    }
    out: Record = {
        "id": at_ms % 1_000_000,
        "firstTouch": True,
        "lastTouch": True,
        "dateCreated": iso(at_ms),
    }
    out.update({names[k]: v for k, v in value.items() if k in names})
    return out


def _merge_custom_fields(record: Record, values: list[Any], kind: str) -> list[Record]:
    """Listed custom fields are set (by id); others keep their value, as Keap's PATCH does."""
    defs = {d.id for d in CUSTOM_FIELD_DEFS.get(kind, [])}
    current = {cf["id"]: cf for cf in record.get("custom_fields") or []}
    for item in values:
        if not isinstance(item, dict) or str(item.get("id")) not in defs:
            raise ApiError(
                400, f"Unknown custom field: {item.get('id') if isinstance(item, dict) else item}"
            )
        current[str(item["id"])] = {"id": str(item["id"]), "content": item.get("content")}
    return sorted(current.values(), key=lambda cf: int(cf["id"]))


def _opportunity_contact(contact: Record) -> Record:
    out: Record = {"id": contact["id"]}
    emails = contact.get("email_addresses") or []
    if emails:
        out["email"] = emails[0]["email"]
    if contact.get("given_name"):
        out["first_name"] = contact["given_name"]
    if contact.get("family_name"):
        out["last_name"] = contact["family_name"]
    return out


def _basic_contact(contact: Record) -> Record:
    out: Record = {"id": contact["id"]}
    emails = contact.get("email_addresses") or []
    if emails:
        out["email"] = emails[0]["email"]
    for name in ("given_name", "family_name"):
        if contact.get(name):
            out[name] = contact[name]
    return out


def _order_item(item: Any, n: int, order: Record, lookup: Lookup) -> Record:
    if not isinstance(item, dict) or not isinstance(item.get("quantity"), int):
        raise ApiError(400, "Each order item needs an integer 'quantity'")
    out: Record = {
        "id": f"{order.get('id', '0')}{n}",
        "quantity": item["quantity"],
        "item_type": item.get("item_type", "PRODUCT"),
    }
    product = None
    if item.get("product_id") is not None:
        product = _existing(lookup, "products", item["product_id"], "product_id")
        out["product"] = {
            k: product[k] for k in ("id", "name", "sku", "shippable", "taxable") if k in product
        }
    price = item.get("price_per_unit")
    cents = (
        round(price * 100)
        if isinstance(price, int | float)
        else (product or {}).get("price", {}).get("amount", 0)
    )
    out["price_per_unit"] = _money(cents)
    if isinstance(item.get("cost_per_unit"), int | float):
        out["cost_per_unit"] = _money(round(item["cost_per_unit"] * 100))
    out["name"] = item.get("name") or (product or {}).get("name", "Item")
    for name in ("description", "notes"):
        if item.get(name):
            out[name] = item[name]
    return out


def _shipping(value: Record, order_id: str) -> Record:
    address = {
        k: value[k]
        for k in ("line1", "line2", "locality", "region", "zip_code", "zip_four", "country_code")
        if k in value
    }
    out: Record = {"id": str(order_id), "address": {"field": "SHIPPING", **address}}
    for src, dst in (
        ("company", "company"),
        ("first_name", "given_name"),
        ("last_name", "family_name"),
        ("phone", "phone_number"),
    ):
        if src in value:
            out[dst] = value[src]
    out["invoice_to_company"] = bool(value.get("is_invoice_to_company", False))
    return out


def _plan(lookup: Lookup, plan_id: Any) -> Record:
    """Subscription plans are `product_id * 10 + k` on every third product (see generator)."""
    n = _int_id(plan_id, "subscription_plan_id")
    product = lookup("products", n // 10)
    plans = (product or {}).get("subscription_plans") or []
    plan = next((p for p in plans if p["id"] == str(n)), None)
    if plan is None:
        raise ApiError(400, "subscription_plan_id does not name an existing subscription plan")
    cycle = {"DAILY": "DAY", "WEEKLY": "WEEK", "MONTHLY": "MONTH", "YEARLY": "YEAR"}[
        plan["billing_cycle"]
    ]
    return {
        "product_id": str(n // 10),
        "cycle": cycle,
        "amount": plan["plan_price"]["amount"] / 100,
    }
