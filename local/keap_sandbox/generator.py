"""Deterministic records: record i of a kind is built from (seed, kind, i) alone, on demand.

Nothing is stored, so a million contacts cost nothing until asked for. Records come out
in Keap v2's JSON shape (ids as strings, absent fields left out rather than null).
"""

from __future__ import annotations

import copy
import json
import random
from collections.abc import Callable
from datetime import datetime
from functools import lru_cache
from typing import Any

from . import custom_fields as cf
from . import pools
from .config import SandboxConfig
from .contact_gen import ContactMaker
from .timefmt import DAY_MS, datetime_ms, day_start_ms, iso, iso_date, now_ms
from .timeline import Timeline

Record = dict[str, Any]
KINDS = (
    "contacts",
    "companies",
    "opportunities",
    "orders",
    "tasks",
    "products",
    "tags",
    "notes",
    "subscriptions",
)
_SALT = {kind: n + 1 for n, kind in enumerate(KINDS)}
CUSTOM_FIELD_DEFS: dict[str, list[cf.CustomFieldDef]] = {
    "contacts": cf.CONTACT_FIELDS,
    **cf.OTHER_FIELDS,
}


def _money(cents: int) -> dict[str, Any]:
    return {
        "amount": cents,
        "currency_code": "USD",
        "formatted_amount": f"${cents // 100:,}.{cents % 100:02d}",
    }


def _text(rng: random.Random, words: int) -> str:
    return " ".join(rng.choices(pools.WORDS, k=words)).capitalize() + "."


class Generator:
    """Builds base records (ids 1..count) and fresh records for ids created later."""

    def __init__(self, config: SandboxConfig) -> None:
        self.seed = config.seed
        anchor = config.base_time
        self.anchor_ms = day_start_ms(now_ms()) if anchor is None else _anchor(anchor)
        self.counts = {kind: config.count(kind) for kind in KINDS}
        self.timelines = {kind: Timeline(self.counts[kind], self.anchor_ms) for kind in KINDS}
        self._builders: dict[str, Callable[[random.Random, int, int, int], Record]] = {
            "contacts": lambda rng, i, c_ms, u_ms: self._contacts.fresh(rng, i, c_ms, u_ms),
            "companies": self._company,
            "opportunities": self._opportunity,
            "orders": self._order,
            "tasks": self._task,
            "products": self._product,
            "tags": self._tag,
            "notes": self._note,
            "subscriptions": self._subscription,
        }
        self._company_name = lru_cache(maxsize=65536)(self._make_company_name)
        self._custom_field_set = lru_cache(maxsize=None)(self._make_custom_field_set)
        self._custom_field_json = lru_cache(maxsize=None)(self._make_custom_field_json)
        self._contacts = ContactMaker(
            self.seed, lambda t: self.rng("contacts", -(t + 1)), self.counts, self._company_name
        )
        # Records embed a few fields of the contact they belong to; cache those lookups.
        self.base = lru_cache(maxsize=4096)(self._base)

    # -- records -----------------------------------------------------------------------

    def rng(self, kind: str, i: int) -> random.Random:
        return random.Random(((self.seed * 1_000_003 + _SALT[kind]) << 32) + i)

    def _base(self, kind: str, i: int) -> Record:
        """Base record i (1 <= i <= count). Shared and cached: treat it as read-only."""
        tl = self.timelines[kind]
        if kind == "contacts":
            return self._contacts.base(i, tl.create_ms(i), tl.update_ms(i))
        return self._builders[kind](self.rng(kind, i), i, tl.create_ms(i), tl.update_ms(i))

    def custom_fields(self, kind: str, i: int) -> list[Record]:
        """Custom field values of record i: one of 4096 seeded value sets per kind.

        Kept apart from `base` because most list requests do not ask for them. The
        returned list is shared between records: treat it as read-only."""
        if kind not in CUSTOM_FIELD_DEFS:
            return []
        return self._custom_field_set(kind, (i * 40_503 + self.seed) % 4096)

    def custom_fields_json(self, kind: str, i: int) -> str:
        """`custom_fields(kind, i)` as JSON, encoded once per shared set."""
        return self._custom_field_json(kind, (i * 40_503 + self.seed) % 4096)

    def _make_custom_field_json(self, kind: str, n: int) -> str:
        return json.dumps(
            self._custom_field_set(kind, n), ensure_ascii=False, separators=(",", ":")
        )

    def _make_custom_field_set(self, kind: str, n: int) -> list[Record]:
        rng = random.Random(((self.seed * 1_000_003 + 100 + _SALT[kind]) << 32) + n)
        return cf.values(
            CUSTOM_FIELD_DEFS[kind], rng, self.anchor_ms - rng.randint(0, 3 * 365) * DAY_MS
        )

    def fresh(self, kind: str, i: int, at_ms: int) -> Record:
        """A new record with id i, created and updated at `at_ms` (for creates)."""
        record = self._builders[kind](self.rng(kind, i), i, at_ms, at_ms)
        if kind in CUSTOM_FIELD_DEFS:
            record["custom_fields"] = copy.deepcopy(self.custom_fields(kind, i))
        return record

    # -- helpers -----------------------------------------------------------------------

    def _pick(self, rng: random.Random, kind: str) -> int | None:
        n = self.counts[kind]
        return rng.randint(1, n) if n else None

    def _contact_brief(self, contact_id: int | None) -> Record:
        if contact_id is None or contact_id > self.counts["contacts"]:
            return {"id": str(contact_id or 0)}
        c = self.base("contacts", contact_id)
        out = {"id": c["id"]}
        if c.get("given_name"):
            out["given_name"] = c["given_name"]
        if c.get("family_name"):
            out["family_name"] = c["family_name"]
        emails = c.get("email_addresses") or []
        if emails:
            out["email"] = emails[0]["email"]
        return out

    def _make_company_name(self, i: int) -> str:
        rng = self.rng("companies", -i)
        return f"{rng.choice(pools.COMPANY_WORDS)} {rng.choice(pools.COMPANY_SUFFIXES)} #{i}"

    # -- kinds -------------------------------------------------------------------------

    def _company(self, rng: random.Random, i: int, c_ms: int, u_ms: int) -> Record:
        locality, region, country, postal = rng.choice(pools.PLACES)
        r: Record = {
            "id": str(i),
            "company_name": self._company_name(i),
            "email_address": {
                "email": f"office.{i}@{rng.choice(pools.EMAIL_DOMAINS)}",
                "field": "EMAIL1",
            },
            "phone_number": {
                "number": f"(602) 555-{rng.randint(0, 9999):04d}",
                "field": "PHONE1",
                "type": "Work",
            },
            "address": {
                "field": "BILLING",
                "line1": f"{rng.randint(1, 9999)} {rng.choice(pools.STREETS)}",
                "locality": locality,
                "region_code": region,
                "country_code": country,
                "postal_code": postal,
            },
        }
        if rng.random() < 0.3:
            r["fax_number"] = {"number": f"(602) 555-{rng.randint(0, 9999):04d}", "field": "FAX1"}
        if rng.random() < 0.6:
            r["website"] = f"https://{self._company_name(i).split()[0].lower()}.example.com"
        if rng.random() < 0.4:
            r["notes"] = _text(rng, rng.randint(5, 200))
        r["owner_id"] = rng.choice(pools.USERS)[0]
        r["create_time"] = iso(c_ms)
        r["update_time"] = iso(u_ms)
        return r

    def _opportunity(self, rng: random.Random, i: int, c_ms: int, u_ms: int) -> Record:
        contact = self._contact_brief(self._pick(rng, "contacts"))
        stage_id, stage_name, probability = rng.choice(pools.STAGES)
        user_id, first, last = rng.choice(pools.USERS)
        low = round(rng.uniform(100, 5000), 2)
        r: Record = {
            "id": str(i),
            "opportunity_title": f"{rng.choice(pools.PRODUCT_WORDS)} deal #{i}",
            "contact": {
                "id": contact["id"],
                **({"email": contact["email"]} if "email" in contact else {}),
                **({"first_name": contact["given_name"]} if "given_name" in contact else {}),
                **({"last_name": contact["family_name"]} if "family_name" in contact else {}),
            },
            "stage": {
                "id": stage_id,
                "name": stage_name,
                "details": {
                    "probability": probability,
                    "stage_order": int(stage_id),
                    "target_num_days": 14,
                },
            },
            "user": {"id": user_id, "first_name": first, "last_name": last},
            "include_in_forecast": rng.random() < 0.7,
            "projected_revenue_low": low,
            "projected_revenue_high": round(low * rng.uniform(1, 3), 2),
            "created_time": iso(c_ms),
            "last_updated_time": iso(u_ms),
            "created_by": user_id,
            "last_updated_by": rng.choice(pools.USERS)[0],
            "status_id": "1",
        }
        if rng.random() < 0.6:
            r["next_action_time"] = iso(u_ms + rng.randint(1, 60) * DAY_MS)
            r["next_action_notes"] = _text(rng, 8)
        if rng.random() < 0.5:
            r["opportunity_notes"] = _text(rng, rng.randint(5, 80))
        if rng.random() < 0.5:
            r["estimated_close_time"] = iso(u_ms + rng.randint(10, 120) * DAY_MS)
        return r

    def _order(self, rng: random.Random, i: int, c_ms: int, u_ms: int) -> Record:
        contact = self._contact_brief(self._pick(rng, "contacts"))
        items, total = [], 0
        for n in range(rng.randint(1, 4)):
            product_id = self._pick(rng, "products") or 1
            price = rng.randint(500, 50000)
            quantity = rng.randint(1, 5)
            total += price * quantity
            items.append(
                {
                    "id": str(i * 10 + n),
                    "name": _product_name(product_id),
                    "description": _text(rng, 6),
                    "quantity": quantity,
                    "item_type": "PRODUCT",
                    "price_per_unit": _money(price),
                    "cost_per_unit": _money(price // 2),
                    "product": {
                        "id": str(product_id),
                        "name": _product_name(product_id),
                        "sku": f"SKU-{product_id:05d}",
                        "shippable": product_id % 2 == 0,
                        "taxable": True,
                    },
                }
            )
        status = rng.choice(["DRAFT", "SENT", "VIEWED", "PAID", "PAID"])
        paid = total if status == "PAID" else 0
        r: Record = {
            "id": str(i),
            "title": f"Order {i}",
            "status": status,
            "total": _money(total),
            "total_paid": _money(paid),
            "total_due": _money(total - paid),
            "refund_total": _money(0),
            "contact": contact,
            "order_type": rng.choice(["ONLINE", "OFFLINE"]),
            "source_type": rng.choice(["API", "CHECKOUT_FORM", "INVOICE", "MANUAL_PAYMENT"]),
            "creation_time": iso(c_ms),
            "modification_time": iso(u_ms),
            "order_time": iso(c_ms),
            "allow_payment": True,
            "allow_paypal": rng.random() < 0.3,
            "order_items": items,
            "invoice_number": str(100000 + i),
            "invoice_id": str(i),
        }
        if rng.random() < 0.3:
            r["notes"] = _text(rng, 20)
        if rng.random() < 0.4:
            locality, region, country, postal = rng.choice(pools.PLACES)
            r["shipping_information"] = {
                "id": str(i),
                "address": {
                    "field": "SHIPPING",
                    "line1": f"{rng.randint(1, 999)} {rng.choice(pools.STREETS)}",
                    "locality": locality,
                    "region_code": region,
                    "country_code": country,
                    "postal_code": postal,
                },
                "given_name": contact.get("given_name", ""),
                "family_name": contact.get("family_name", ""),
                "invoice_to_company": False,
            }
        return r

    def _task(self, rng: random.Random, i: int, c_ms: int, u_ms: int) -> Record:
        completed = rng.random() < 0.4
        user = rng.choice(pools.USERS)[0]
        r: Record = {
            "id": str(i),
            "title": f"{rng.choice(pools.TASK_TYPES)}: {_text(rng, 4)}",
            "description": _text(rng, rng.randint(0, 40)) if rng.random() < 0.7 else "",
            "type": rng.choice(pools.TASK_TYPES),
            "priority": rng.choice(["CRITICAL", "ESSENTIAL", "NONESSENTIAL"]),
            "completed": completed,
            "create_time": iso(c_ms),
            "modification_time": iso(u_ms),
            "due_time": iso(c_ms + rng.randint(1, 30) * DAY_MS),
            "assigned_to_user_id": user,
            "created_by_user_id": rng.choice(pools.USERS)[0],
            "last_updated_by_user_id": user,
            "accepted": rng.random() < 0.5,
        }
        contact_id = self._pick(rng, "contacts")
        if contact_id is not None:
            r["contact_id"] = str(contact_id)
        if rng.random() < 0.3 and self.counts["opportunities"]:
            r["opportunity_id"] = str(self._pick(rng, "opportunities"))
        if completed:
            r["completion_time"] = iso(u_ms)
        if rng.random() < 0.5:
            r["remind_time_mins"] = rng.choice([5, 10, 15, 30, 60, 120, 240, 480, 1440, 2880])
        return r

    def _product(self, rng: random.Random, i: int, c_ms: int, u_ms: int) -> Record:
        price = rng.randint(100, 100000)
        r: Record = {
            "id": str(i),
            "name": _product_name(i),
            "sku": f"SKU-{i:05d}",
            "price": _money(price),
            "active": rng.random() < 0.9,
            "description": _text(rng, rng.randint(5, 60)),
            "short_description": _text(rng, 5),
            "shippable": i % 2 == 0,
            "weight": round(rng.uniform(0, 20), 2),
            "taxable": True,
            "country_taxable": rng.random() < 0.5,
            "state_taxable": rng.random() < 0.5,
            "city_taxable": False,
            "categories": [],
            "options": [],
            "inventory": _inventory(i, rng.randint(0, 500)),
            "subscription_only": False,
            "storefront_hidden": rng.random() < 0.1,
            "is_package": False,
            "needs_digital_delivery": i % 5 == 0,
            "has_legacy_image": False,
            "create_time": iso(c_ms),
            "update_time": iso(u_ms),
        }
        if i % 3 == 0:
            r["subscription_plans"] = [
                {
                    "id": str(i * 10 + k),
                    "active": True,
                    "prorate": False,
                    "billing_cycle": cycle,
                    "billing_frequency": 1,
                    "number_of_cycles": 0,
                    "plan_price": _money(price * mult),
                    "order_index": k,
                }
                for k, (cycle, mult) in enumerate((("MONTHLY", 1), ("YEARLY", 10)), start=1)
            ]
        return r

    def _tag(self, rng: random.Random, i: int, c_ms: int, u_ms: int) -> Record:
        r: Record = {
            "id": str(i),
            "name": f"{rng.choice(pools.WORDS).capitalize()} {i}",
            "create_time": iso(c_ms),
            "update_time": iso(u_ms),
        }
        if rng.random() < 0.6:
            r["description"] = _text(rng, 6)
        if rng.random() < 0.7:
            r["category"] = {"id": rng.choice(pools.TAG_CATEGORIES)}
        return r

    def _note(self, rng: random.Random, i: int, c_ms: int, u_ms: int) -> Record:
        user_id, first, last = rng.choice(pools.USERS)
        long_note = rng.random() < 0.1
        r: Record = {
            "id": str(i),
            "title": _text(rng, rng.randint(1, 6)),
            "text": "\n\n".join(_text(rng, 60) for _ in range(rng.randint(20, 60)))
            if long_note
            else _text(rng, rng.randint(0, 50)),
            "type": rng.choice(pools.NOTE_TYPES),
            "contact_id": str(self._pick(rng, "contacts") or 1),
            "assigned_to_user": {
                "id": user_id,
                "given_name": first,
                "family_name": last,
                "email_address": f"{first.lower()}@example.com",
            },
            "create_time": iso(c_ms),
            "update_time": iso(u_ms),
            "created_by_user_id": user_id,
            "last_updated_by_user_id": rng.choice(pools.USERS)[0],
        }
        if rng.random() < 0.05:
            r["pinned_at"] = iso(u_ms)
        return r

    def _subscription(self, rng: random.Random, i: int, c_ms: int, u_ms: int) -> Record:
        products = self.counts["products"]
        with_plans = list(range(3, products + 1, 3)) or [1]
        product_id = rng.choice(with_plans)
        plan = rng.randint(1, 2)
        active = rng.random() < 0.75
        amount = round(rng.uniform(9, 499), 2)
        r: Record = {
            "id": str(i),
            "quantity": rng.randint(1, 3),
            "active": active,
            "contact_id": str(self._pick(rng, "contacts") or 1),
            "product_id": str(product_id),
            "subscription_plan_id": str(product_id * 10 + plan),
            "billing_amount": amount,
            "auto_charge": rng.random() < 0.8,
            "billing_frequency": 1,
            "billing_cycle": "MONTH" if plan == 1 else "YEAR",
            "start_date": iso_date(c_ms),
            "last_bill_date": iso_date(u_ms),
            "next_bill_date": iso_date(u_ms + (30 if plan == 1 else 365) * DAY_MS),
            "merchant_account_id": "1",
            "payment_method_id": str(rng.randint(1, 1000)),
            "allow_tax": rng.random() < 0.5,
            "max_charge_attempts": 3,
            "days_between_retries": 2,
            "modification_time": iso(u_ms),
        }
        if not active:
            r["end_date"] = iso_date(u_ms)
            r["reason_stopped"] = rng.choice(["Cancelled by customer", "Payment failed", ""])
        if rng.random() < 0.1:
            r["promo_code"] = f"SAVE{rng.randint(5, 50)}"
        return r


def _inventory(i: int, limit: int) -> Record:
    # The count comes from the id, not the generator, so adding it changed no other value.
    return {
        "inventory_limit": limit,
        "inventory_count": (i * 37) % (limit + 1),
        "out_of_stock_enabled": False,
    }


def _product_name(i: int) -> str:
    return f"{pools.PRODUCT_WORDS[i % len(pools.PRODUCT_WORDS)]} {i}"


def _anchor(value: datetime) -> int:
    return datetime_ms(value)
