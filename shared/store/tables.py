"""How each Keap record maps onto its table: typed columns as SQL over the raw JSON.

The extraction runs inside Postgres (`jsonb_array_elements` over the page as Keap sent
it), so a page costs one statement and almost no Python. This module and
the migration files (`supabase/migrations/`) are the only places that know a table's columns.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from shared.keap.streams import STREAMS


def txt(path: str, src: str = "r") -> str:
    """Text at a JSON path, e.g. txt("company.id") -> r #>> '{company,id}'."""
    return f"({src} #>> '{{{path.replace('.', ',')}}}')"


def big(path: str, src: str = "r") -> str:
    return f"keap.to_bigint({txt(path, src)})"


def num(path: str, src: str = "r") -> str:
    return f"keap.to_numeric({txt(path, src)})"


def boolean(path: str, src: str = "r") -> str:
    return f"keap.to_bool({txt(path, src)})"


def ts(path: str, src: str = "r") -> str:
    return f"keap.to_ts({txt(path, src)})"


def day(path: str, src: str = "r") -> str:
    return f"keap.to_date({txt(path, src)})"


def first_where(array: str, key: str, value: str) -> str:
    """The element of `array` whose `key` is `value`, else its first element.

    The first element is checked before a JSON path search: it usually is the one.
    """
    first = f"(r #> '{{{array},0}}')"
    search = f"jsonb_path_query_first(r, '$.{array}[*] ? (@.{key} == \"{value}\")')"
    return (
        f"(CASE WHEN {first} ->> '{key}' = '{value}' OR jsonb_array_length("
        f"CASE WHEN jsonb_typeof(r -> '{array}') = 'array' THEN r -> '{array}' "
        f"ELSE '[]' END) < 2 THEN {first} ELSE coalesce({search}, {first}) END)"
    )


@dataclass(frozen=True)
class Child:
    """Rows owned by a parent record, replaced whole whenever the parent is written."""

    table: str
    parent_column: str
    key: tuple[str, ...]  # primary key columns other than the parent's
    field: str  # the record's list the rows come from (absent: leave the rows alone)
    columns: tuple[tuple[str, str], ...]  # (column, SQL over the element `e.v`)
    scalar: bool = False  # the list holds scalars (ids), not objects
    raw: bool = False  # keep the element's JSON in a `raw` column

    @property
    def key_columns(self) -> tuple[str, ...]:
        """The primary key: the account, the parent and the child's own key."""
        return ("account", self.parent_column, *self.key)

    @property
    def column_names(self) -> tuple[str, ...]:
        return (
            "account",
            self.parent_column,
            *(c for c, _ in self.columns),
            *(("raw",) if self.raw else ()),
        )


@dataclass(frozen=True)
class Table:
    stream: str
    columns: tuple[tuple[str, str], ...]  # typed columns: (name, SQL over r and lets)
    created: str  # SQL over r: Keap's create time
    lets: tuple[tuple[str, str], ...] = ()  # sub-expressions computed once per record
    children: tuple[Child, ...] = field(default_factory=tuple)
    # Fields Keap changes without moving the update time (tag applications), which
    # reconciliation refreshes from its id listing.
    refresh_fields: tuple[str, ...] = ()
    # Typed columns of fields Keap leaves out of list responses: (name, SQL over the
    # record the per-id GET returns, `r`). Written apart from the page upsert, which
    # never touches them; `details_read_at` says for which version they were read.
    details: tuple[tuple[str, str], ...] = ()
    # (table, column) rows elsewhere that go when a record of this table is marked deleted
    # (the record's own children go too: see `gone_with`).
    cascade: tuple[tuple[str, str], ...] = ()

    @property
    def name(self) -> str:
        return f"keap.{self.stream}"

    @property
    def gone_with(self) -> tuple[tuple[str, str], ...]:
        """(table, column) rows deleted along with a record marked deleted: its children
        and the rows that refer to it."""
        return (*((c.table, c.parent_column) for c in self.children), *self.cascade)

    @property
    def updated_field(self) -> str:
        """The record's update time (the staleness guard): its stream's cursor field."""
        return STREAMS[self.stream].cursor_field

    @property
    def updated(self) -> str:
        """SQL over r: Keap's update time."""
        return ts(self.updated_field)

    @property
    def column_names(self) -> tuple[str, ...]:
        return (
            "account",  # with `id`, the primary key
            "id",
            *(c for c, _ in self.columns),
            "keap_created_at",
            "keap_updated_at",
            "raw",
            "synced_at",
            "deleted_at",
        )


def _address(prefix: str) -> tuple[tuple[str, str], ...]:
    return (
        ("address_line1", f"({prefix} ->> 'line1')"),
        ("city", f"({prefix} ->> 'locality')"),
        ("region", f"coalesce({prefix} ->> 'region', {prefix} ->> 'region_code')"),
        ("postal_code", f"coalesce({prefix} ->> 'postal_code', {prefix} ->> 'zip_code')"),
        ("country_code", f"({prefix} ->> 'country_code')"),
    )


TABLES: dict[str, Table] = {
    t.stream: t
    for t in (
        Table(
            stream="contacts",
            lets=(
                ("addr", first_where("addresses", "field", "BILLING")),
                ("email1", first_where("email_addresses", "field", "EMAIL1")),
                ("phone1", first_where("phone_numbers", "field", "PHONE1")),
            ),
            columns=(
                ("given_name", txt("given_name")),
                ("family_name", txt("family_name")),
                ("middle_name", txt("middle_name")),
                ("preferred_name", txt("preferred_name")),
                ("prefix", txt("prefix")),
                ("suffix", txt("suffix")),
                ("email", "(email1 ->> 'email')"),
                ("phone", "(phone1 ->> 'number')"),
                ("job_title", txt("job_title")),
                ("company_id", big("company.id")),
                ("company_name", txt("company.company_name")),
                ("owner_id", big("owner_id")),
                ("lead_source_id", big("leadsource_id")),
                ("contact_type", txt("contact_type")),
                ("source_type", txt("source_type")),
                *_address("addr"),
                ("birth_date", day("birth_date")),
                ("time_zone", txt("time_zone")),
            ),
            created=ts("create_time"),
            refresh_fields=("tag_ids",),
            children=(
                Child(
                    table="keap.contact_tags",
                    parent_column="contact_id",
                    key=("tag_id",),
                    field="tag_ids",
                    columns=(("tag_id", "keap.to_bigint(e.v)"),),
                    scalar=True,
                ),
            ),
        ),
        Table(
            stream="companies",
            columns=(
                ("company_name", txt("company_name")),
                ("email", txt("email_address.email")),
                ("phone", txt("phone_number.number")),
                ("website", txt("website")),
                ("owner_id", big("owner_id")),
                *_address("(r -> 'address')"),
            ),
            created=ts("create_time"),
        ),
        Table(
            stream="opportunities",
            columns=(
                ("title", txt("opportunity_title")),
                ("contact_id", big("contact.id")),
                ("stage_id", big("stage.id")),
                ("stage_name", txt("stage.name")),
                ("user_id", big("user.id")),
                ("projected_revenue_low", num("projected_revenue_low")),
                ("projected_revenue_high", num("projected_revenue_high")),
                ("include_in_forecast", boolean("include_in_forecast")),
                ("estimated_close_at", ts("estimated_close_time")),
                ("next_action_at", ts("next_action_time")),
            ),
            created=ts("created_time"),
        ),
        Table(
            stream="orders",
            columns=(
                ("title", txt("title")),
                ("status", txt("status")),
                ("contact_id", big("contact.id")),
                ("order_type", txt("order_type")),
                ("source_type", txt("source_type")),
                ("currency_code", txt("total.currency_code")),
                ("total_amount", num("total.amount")),
                ("total_paid_amount", num("total_paid.amount")),
                ("total_due_amount", num("total_due.amount")),
                ("invoice_number", txt("invoice_number")),
                ("order_time", ts("order_time")),
            ),
            created=ts("creation_time"),
            children=(
                Child(
                    table="keap.order_items",
                    parent_column="order_id",
                    key=("id",),
                    field="order_items",
                    columns=(
                        ("id", big("id", "e.v")),
                        ("product_id", big("product.id", "e.v")),
                        ("name", txt("name", "e.v")),
                        ("item_type", txt("item_type", "e.v")),
                        ("quantity", big("quantity", "e.v")),
                        ("price_per_unit_amount", num("price_per_unit.amount", "e.v")),
                        ("cost_per_unit_amount", num("cost_per_unit.amount", "e.v")),
                        ("subscription_plan_id", big("subscription_plan.id", "e.v")),
                    ),
                    raw=True,
                ),
            ),
        ),
        Table(
            stream="tasks",
            columns=(
                ("title", txt("title")),
                ("type", txt("type")),
                ("priority", txt("priority")),
                ("completed", boolean("completed")),
                ("contact_id", big("contact_id")),
                ("opportunity_id", big("opportunity_id")),
                ("assigned_to_user_id", big("assigned_to_user_id")),
                ("due_at", ts("due_time")),
                ("completed_at", ts("completion_time")),
            ),
            created=ts("create_time"),
        ),
        Table(
            stream="products",
            columns=(
                ("name", txt("name")),
                ("sku", txt("sku")),
                ("active", boolean("active")),
                ("currency_code", txt("price.currency_code")),
                ("price_amount", num("price.amount")),
                ("shippable", boolean("shippable")),
                ("taxable", boolean("taxable")),
            ),
            created=ts("create_time"),
            details=(("inventory_count", big("inventory.inventory_count")),),
        ),
        Table(
            stream="tags",
            columns=(
                ("name", txt("name")),
                ("description", txt("description")),
                ("category_id", big("category.id")),
            ),
            created=ts("create_time"),
            cascade=(("keap.contact_tags", "tag_id"),),
        ),
        Table(
            stream="notes",
            columns=(
                ("title", txt("title")),
                ("type", txt("type")),
                ("contact_id", big("contact_id")),
                ("assigned_to_user_id", big("assigned_to_user.id")),
            ),
            created=ts("create_time"),
        ),
        Table(
            stream="subscriptions",
            columns=(
                ("contact_id", big("contact_id")),
                ("product_id", big("product_id")),
                ("subscription_plan_id", big("subscription_plan_id")),
                ("active", boolean("active")),
                ("quantity", big("quantity")),
                ("billing_amount", num("billing_amount")),
                ("billing_cycle", txt("billing_cycle")),
                ("billing_frequency", big("billing_frequency")),
                ("start_date", day("start_date")),
                ("next_bill_date", day("next_bill_date")),
                ("end_date", day("end_date")),
            ),
            created="NULL::timestamptz",
        ),
    )
}
