"""One declarative spec per Keap object stream: the only place that knows a stream's shape.

Every parameter and field name here is checked against `keap-v2-openapi.yml`
(tests/sync/test_streams_spec.py). Keap offers three ways to read changes:

- `asc`: filter by update time and order by it ascending (contacts, orders, tasks,
  notes, tags). The cursor is the newest update time written.
- `id_asc`: filter by update time, but no ordering by it (companies): read in id
  order from a fixed lower time bound; resume with an id filter.
- `desc`: no time filter at all (opportunities, products, subscriptions): order by
  update time descending and stop once a page reaches the stored cursor.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

Mode = Literal["asc", "id_asc", "desc"]
Params = dict[str, str | int | list[str]]

PAGE_SIZE = 1000  # Keap's maximum
PER_ID_BATCH = 25  # ids per batch of an object read with one GET per id


@dataclass(frozen=True)
class StreamSpec:
    name: str  # stream, table and URL name, e.g. "contacts"
    path: str  # list endpoint relative to KEAP_API_BASE
    items_key: str  # the list in the response body
    cursor_field: str  # the record's update time
    mode: Mode
    order_by: str  # order_by field for incremental reads (update time, or id for id_asc)
    since_filter: str | None = None  # filter field: updated on or after (asc, id_asc)
    id_compare: str | None = None  # filter field taking `>` on the record id
    id_order: str | None = None  # order_by field for id order, if the endpoint has one
    ids_filter: str | None = None  # filter field taking `==1,2,3`
    ids_max: int = 100  # ids per batch request
    get_path: str | None = None  # per-id GET: batches without an ids filter, detail_fields
    model_path: str | None = None  # GET: the object's custom field definitions
    # Fields list responses leave out, read with one GET per changed record (get_path).
    detail_fields: tuple[str, ...] = ()
    fields: tuple[str, ...] = ()  # `fields=` of the list endpoint, for a full record
    get_fields: tuple[str, ...] = ()  # `fields=` of the per-id GET (its own documented set)
    fields_repeated: bool = False  # `fields=a&fields=b` (the spec's explode: true)
    id_fields: tuple[str, ...] | None = None  # `fields=` for an id-only listing
    # The nouns of Keap's REST hook event keys (`object_type`) for this object's records.
    hook_objects: tuple[str, ...] = ()
    id_field: str = "id"
    page_size: int = PAGE_SIZE

    @property
    def batch_size(self) -> int:
        """Ids per batch when ids become records: one listing by `ids_filter`, or where the
        object has none, a GET each."""
        return self.ids_max if self.ids_filter else PER_ID_BATCH

    # --- the requests of each kind of read ---------------------------------------------
    def _list_params(self) -> Params:
        """Parameters every full-record list request carries."""
        params: Params = {"page_size": self.page_size}
        if self.fields:
            params["fields"] = self.fields_value(self.fields)
        return params

    def pass_params(self, since: str | None = None, after_id: int | None = None) -> Params:
        """A pass's read from its position (see `shared.sync.state`): records updated since
        `since` (asc, id_asc), after the id `after_id` (id_asc), or for desc, the newest
        first (its position is a page token)."""
        conditions: list[str] = []
        if self.mode != "desc" and since and self.since_filter:
            conditions.append(f"{self.since_filter}=={since}")
        if self.mode == "id_asc" and after_id is not None and self.id_compare:
            conditions.append(f"{self.id_compare}>{after_id}")
        direction = "desc" if self.mode == "desc" else "asc"
        params: Params = {**self._list_params(), "order_by": f"{self.order_by} {direction}"}
        if conditions:
            params["filter"] = ";".join(conditions)
        return params

    def id_window_params(self, after: int) -> Params:
        """The ids (and `id_fields`) after the id `after`, in id order: reconciliation's
        windows, for objects with `id_order` and `id_compare`."""
        params: Params = {
            "page_size": self.page_size,
            "order_by": f"{self.id_order} asc",
            "filter": f"{self.id_compare}>{after}",
        }
        if self.id_fields:
            params["fields"] = self.fields_value(self.id_fields)
        return params

    @property
    def sliceable(self) -> bool:
        """Whether a full pass can be split into id ranges read at once: Keap filters
        the object's ids by comparison and orders them (see `shared.sync.slices`)."""
        return self.id_order is not None and self.id_compare is not None

    def slice_params(self, after: int, upto: int | None) -> Params:
        """Full records with ids in (`after`, `upto`] (`upto` None: no upper end), in id
        order: one slice of a full pass, resumed from the last id it wrote."""
        conditions = [f"{self.id_compare}>{after}"]
        if upto is not None:
            conditions.append(f"{self.id_compare}<={upto}")
        return {
            **self._list_params(),
            "order_by": f"{self.id_order} asc",
            "filter": ";".join(conditions),
        }

    def top_params(self, after: int) -> Params:
        """Full records with ids above `after`, the greatest first: the page of a full
        pass's greatest ids, below which its slices lie."""
        return {
            **self._list_params(),
            "order_by": f"{self.id_order} desc",
            "filter": f"{self.id_compare}>{after}",
        }

    def whole_set_params(self) -> Params:
        """Every record, for reconciling objects Keap cannot list in id order."""
        return {**self._list_params(), "order_by": f"{self.order_by} asc"}

    def ids_params(self, ids: Sequence[int]) -> Params:
        """The records of `ids` in one listing (objects with an `ids_filter`)."""
        if self.ids_filter is None:
            raise ValueError(f"{self.name} has no ids filter: read its records one by one")
        return {**self._list_params(), "filter": f"{self.ids_filter}=={','.join(map(str, ids))}"}

    def get_request(self, record_id: int) -> tuple[str, Params | None]:
        """The per-id GET of one record (objects with a `get_path`): path and parameters."""
        if self.get_path is None:
            raise ValueError(f"{self.name} has no per-id GET")
        params = {"fields": self.fields_value(self.get_fields)} if self.get_fields else None
        return self.get_path.format(id=record_id), params

    def fields_value(self, names: Sequence[str]) -> str | list[str]:
        """`fields` as the spec spells it for this object: one comma-separated value, or
        one parameter per name."""
        return list(names) if self.fields_repeated else ",".join(names)


# Every Contact property the list endpoint's `fields` accepts (contacts return only these).
CONTACT_FIELDS: tuple[str, ...] = (
    "id",
    "addresses",
    "anniversary_date",
    "birth_date",
    "company",
    "contact_type",
    "create_time",
    "custom_fields",
    "email_addresses",
    "family_name",
    "fax_numbers",
    "given_name",
    "job_title",
    "leadsource_id",
    "links",
    "middle_name",
    "notes",
    "origin",
    "owner_id",
    "phone_numbers",
    "preferred_locale",
    "preferred_name",
    "prefix",
    "referral_code",
    "score_value",
    "social_accounts",
    "source_type",
    "spouse_name",
    "suffix",
    "tag_ids",
    "time_zone",
    "update_time",
    "utm_parameters",
    "website",
    "account_id",
    "assistant_name",
    "assistant_phone",
    "billing_information",
    "created_by",
    "groups",
    "last_updated_by",
)

# The optional Company properties the list endpoint documents ("aren't included, by
# default"); the rest come without asking. Keap may refuse any other name.
COMPANY_FIELDS: tuple[str, ...] = (
    "notes",
    "fax_number",
    "address",
    "email_address",
    "phone_number",
    "update_time",
    "create_time",
    "custom_fields",
)
# The per-id GET documents its own set ("Available fields are: ..."); update_time and
# create_time are not among them, and come without asking.
COMPANY_GET_FIELDS: tuple[str, ...] = (
    "address",
    "custom_fields",
    "email_address",
    "fax_number",
    "phone_number",
    "website",
    "notes",
)

STREAMS: dict[str, StreamSpec] = {
    s.name: s
    for s in (
        StreamSpec(
            name="tags",
            path="/v2/tags",
            items_key="tags",
            cursor_field="update_time",
            mode="asc",
            order_by="update_time",
            since_filter="since_update_time",
            ids_filter="tag_ids",
            hook_objects=("contactGroup",),
        ),
        StreamSpec(
            name="products",
            path="/v2/products",
            items_key="products",
            cursor_field="update_time",
            mode="desc",
            order_by="last_updated_time",
            id_compare="product_id",
            ids_filter="product_ids",
            get_path="/v2/products/{id}",
            # "This field is omitted in List responses" (ProductInventory_Detail).
            detail_fields=("inventory.inventory_count",),
            hook_objects=("product",),
        ),
        StreamSpec(
            name="companies",
            path="/v2/companies",
            model_path="/v2/companies/model",
            items_key="companies",
            cursor_field="update_time",
            mode="id_asc",
            order_by="id",
            since_filter="since_time",
            id_compare="company_id",
            id_order="id",
            get_path="/v2/companies/{id}",
            fields=COMPANY_FIELDS,
            get_fields=COMPANY_GET_FIELDS,
            hook_objects=("company",),
        ),
        StreamSpec(
            name="contacts",
            path="/v2/contacts",
            model_path="/v2/contacts/model",
            items_key="contacts",
            cursor_field="update_time",
            mode="asc",
            order_by="update_time",
            since_filter="start_update_time",
            id_compare="contact_id",
            id_order="id",
            ids_filter="ids",
            fields=CONTACT_FIELDS,
            # Tag applications do not move a contact's update time: reconciliation
            # lists them along with the ids.
            id_fields=("id", "tag_ids"),
            hook_objects=("contact",),
        ),
        StreamSpec(
            name="opportunities",
            path="/v2/opportunities",
            model_path="/v2/opportunities/model",
            items_key="opportunities",
            cursor_field="last_updated_time",
            mode="desc",
            order_by="update_time",
            id_compare="opportunity_id",
            ids_filter="ids",
            fields=("custom_fields", "created_by", "last_updated_by", "status_id"),
            fields_repeated=True,
            hook_objects=("opportunity",),
        ),
        StreamSpec(
            name="orders",
            path="/v2/orders",
            model_path="/v2/orders/model",
            items_key="orders",
            cursor_field="modification_time",
            mode="asc",
            order_by="modification_time",
            since_filter="modified_since_time",
            id_compare="id",
            id_order="id",
            ids_filter="ids",
            hook_objects=("order", "invoice"),  # invoice events concern the order
        ),
        StreamSpec(
            name="subscriptions",
            path="/v2/subscriptions",
            model_path="/v2/subscriptions/model",
            items_key="subscriptions",
            cursor_field="modification_time",
            mode="desc",
            order_by="modification_time",
            id_compare="id",
            id_order="id",
            ids_filter="ids",
            hook_objects=("subscription",),
        ),
        StreamSpec(
            name="tasks",
            path="/v2/tasks",
            model_path="/v2/tasks/model",
            items_key="tasks",
            cursor_field="modification_time",
            mode="asc",
            order_by="update_time",
            since_filter="since_time",
            id_compare="id",
            id_order="id",
            ids_filter="task_ids",
            fields=("custom_fields",),
            hook_objects=("task",),
        ),
        StreamSpec(
            name="notes",
            path="/v2/notes",
            model_path="/v2/notes/model",
            items_key="notes",
            cursor_field="update_time",
            mode="asc",
            order_by="update_time",
            since_filter="since_time",
            id_compare="id",
            id_order="id",
            ids_filter="ids",
            fields=("custom_fields",),
            hook_objects=("note",),
        ),
    )
}

STREAM_NAMES: tuple[str, ...] = tuple(STREAMS)
# The noun of a hook event key (`contact` in `contact.edit`) -> the stream it changes.
STREAMS_BY_HOOK_OBJECT: dict[str, StreamSpec] = {
    noun: s for s in STREAMS.values() for noun in s.hook_objects
}


def get_stream(name: str) -> StreamSpec:
    """The spec for `name`; KeyError names the streams that exist."""
    try:
        return STREAMS[name]
    except KeyError:
        raise KeyError(f"unknown stream {name!r}; known: {', '.join(STREAM_NAMES)}") from None
