"""Custom fields as typed columns: a view `keap.<object>_custom` per object.

Each view has the record's `account` and `id` and one column per custom field Keap's model endpoint
describes (`keap.custom_fields` keeps the definitions per account), named from the field's
label in snake_case and typed from its field type. Values are read from
`raw->'custom_fields'` through the `keap.cf_*` functions, which give NULL for a value of
the wrong shape. A view is rebuilt only when an object's model changed (its hash), in one
transaction whose `lock_timeout` lets a long reader delay the rebuild (to the next run)
rather than be broken by it.
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from shared.store.store import Store
from shared.store.tables import TABLES

# Keap's field types (CustomFieldMetaData.field_type) -> (column type, reading function).
COLUMN_TYPES: dict[str, tuple[str, str]] = {
    **dict.fromkeys(
        (
            "TEXT",
            "TEXT_AREA",
            "EMAIL",
            "PHONE_NUMBER",
            "WEBSITE",
            "NAME",
            "SOCIAL_SECURITY_NUMBER",
            "STATE",
            "DROPDOWN",
            "RADIO",
            "DRILLDOWN",
        ),
        ("text", "keap.cf_text"),
    ),
    **dict.fromkeys(
        (
            "WHOLE_NUMBER",
            "DECIMAL_NUMBER",
            "CURRENCY",
            "PERCENT",
            "YEAR",
            "MONTH",
            "DAY_OF_WEEK",
            "USER",
        ),
        ("numeric", "keap.cf_numeric"),
    ),
    "DATE": ("date", "keap.cf_date"),
    "DATE_TIME": ("timestamptz", "keap.cf_timestamptz"),
    "YES_NO": ("boolean", "keap.cf_boolean"),
    "LIST_BOX": ("text[]", "keap.cf_text_array"),
    "USER_LIST_BOX": ("text[]", "keap.cf_text_array"),
}
UNKNOWN_TYPE = ("text", "keap.cf_text")  # a type Keap adds later: its text, if scalar

# A rebuild waits this long for readers of the view, then gives way (to the next run).
LOCK_TIMEOUT = "3s"
_VIEW_LOCK = 0x6B65_6170_5F63_6676  # "keap_cfv": one rebuild at a time
_NAME_LENGTH = 48  # room for a suffix within Postgres's 63 bytes


@dataclass(frozen=True)
class Field:
    """A custom field as Keap's model describes it."""

    id: str
    label: str
    field_type: str
    field_name: str | None = None
    options: tuple[str, ...] = ()
    account: str = ""  # whose model it is (ids are an account's own)

    @classmethod
    def from_model(cls, item: Mapping[str, Any]) -> Field | None:
        """From a `custom_fields` entry of `GET /v2/<object>/model` (None if it has no id)."""
        if item.get("id") is None:
            return None
        options = tuple(
            str(o.get("label")) for o in item.get("options") or [] if isinstance(o, dict)
        )
        return cls(
            id=str(item["id"]),
            label=str(item.get("label") or ""),
            field_type=str(item.get("field_type") or ""),
            field_name=item.get("field_name"),
            options=options,
        )


@dataclass(frozen=True)
class Column:
    """A column of the view: one field per account that has it, each read by its own id."""

    fields: tuple[Field, ...]
    name: str
    type: str
    reader: str

    @property
    def field(self) -> Field:
        return self.fields[0]


def snake_case(label: str) -> str:
    """`Lead Score (%)` -> `lead_score`; letters outside ASCII lose their accents."""
    ascii_text = unicodedata.normalize("NFKD", label).encode("ascii", "ignore").decode()
    name = re.sub(r"[^a-z0-9]+", "_", ascii_text.lower()).strip("_")[:_NAME_LENGTH]
    return name.rstrip("_")


def _order(field: Field) -> tuple[int, int | str, str]:
    key: tuple[int, int | str] = (0, int(field.id)) if field.id.isdigit() else (1, field.id)
    return (*key, field.account)


def columns(fields: Sequence[Field]) -> list[Column]:
    """One column per field, in field id order. A name taken already (by `account`, `id` or
    an older field) gets the field's id as a suffix; a label without letters or digits is
    `field_<id>`. Fields of different accounts with the same name and type share a column."""
    taken = {"account", "id"}
    built: list[Column] = []
    shared: dict[tuple[str, str], int] = {}  # (base name, type) -> index in `built`
    for field in sorted(fields, key=_order):
        column_type, reader = COLUMN_TYPES.get(field.field_type, UNKNOWN_TYPE)
        base = snake_case(field.label) or f"field_{field.id}"
        if base[0].isdigit():
            base = f"f_{base}"
        at = shared.get((base, column_type))
        if at is not None and field.account not in {f.account for f in built[at].fields}:
            column = built[at]
            built[at] = Column((*column.fields, field), column.name, column.type, column.reader)
            continue
        name = base
        if name in taken:
            name = f"{base}_{snake_case(field.id) or len(taken)}"
        while name in taken:
            name += "_"
        taken.add(name)
        shared.setdefault((base, column_type), len(built))
        built.append(Column((field,), name, column_type, reader))
    return built


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def view_name(obj: str) -> str:
    return f"keap.{obj}_custom"


def _reading(column: Column) -> str:
    """Each account's rows read their own field's value; other accounts' rows are NULL."""
    cases = " ".join(
        f"WHEN {_literal(f.account)} THEN {column.reader}(cf.v -> {_literal(f.id)})"
        for f in column.fields
    )
    return f"CASE t.account {cases} END"


def view_sql(obj: str, cols: Sequence[Column]) -> list[str]:
    """The statements that create `keap.<obj>_custom` and describe its columns."""
    selected = ["t.account", "t.id"] + [f'{_reading(c)} AS "{c.name}"' for c in cols]
    select = ",\n       ".join(selected)
    # Column names are [a-z0-9_] (`columns`), field ids SQL literals (`_literal`).
    create = f"""CREATE VIEW {view_name(obj)} WITH (security_invoker = true) AS
SELECT {select}
FROM {TABLES[obj].name} AS t
CROSS JOIN LATERAL (
    SELECT coalesce(jsonb_object_agg(e ->> 'id', e -> 'content'), '{{}}'::jsonb) AS v
    FROM jsonb_array_elements(
        CASE WHEN jsonb_typeof(t.raw -> 'custom_fields') = 'array'
             THEN t.raw -> 'custom_fields' ELSE '[]'::jsonb END
    ) AS e
    WHERE jsonb_typeof(e) = 'object' AND e ->> 'id' IS NOT NULL
) AS cf"""  # noqa: S608
    comments = [
        f'COMMENT ON COLUMN {view_name(obj)}."{c.name}" IS '
        + _literal(
            "Keap custom field "
            + ", ".join(f"{f.id} of {f.account}" for f in c.fields)
            + f": {c.field.label} ({c.field.field_type})"
        )
        for c in cols
    ]
    described = f"COMMENT ON VIEW {view_name(obj)} IS " + _literal(
        f"Keap {obj}: one typed column per custom field (keap.custom_fields)"
    )
    return [create, described, *comments]


def model_hash(fields: Sequence[Field]) -> str:
    canonical = [
        [f.id, f.label, f.field_type, f.field_name, list(f.options)]
        for f in sorted(fields, key=_order)
    ]
    return hashlib.sha256(json.dumps(canonical, ensure_ascii=False).encode()).hexdigest()


async def models_read_at(store: Store) -> dict[str, datetime]:
    """When each object's model was last read for the store's account."""
    async with store.statements_in_turn() as conn:
        rows = await conn.fetch(
            "SELECT object, read_at FROM keap.custom_field_models WHERE account = $1",
            store.account,
        )
    return {r["object"]: r["read_at"] for r in rows}


async def mark_due(store: Store, objects: Sequence[str]) -> None:
    """Have the next run read the models of `objects` (of the store's account)."""
    async with store.statements_in_turn() as conn:
        await conn.execute(
            "UPDATE keap.custom_field_models SET read_at = 'epoch' "
            "WHERE account = $1 AND object = ANY($2::text[])",
            store.account,
            list(objects),
        )


_SAME_MODEL = """
UPDATE keap.custom_field_models SET read_at = now()
WHERE account = $1 AND object = $2 AND model_hash = $3
"""

_ALL_FIELDS = """
SELECT account, id, label, field_type, field_name, options
FROM keap.custom_fields WHERE object = $1
"""

_SAVE_MODEL = """
INSERT INTO keap.custom_field_models (account, object, model_hash) VALUES ($1, $2, $3)
ON CONFLICT (account, object) DO UPDATE
SET model_hash = excluded.model_hash, read_at = now(), built_at = now()
"""


async def apply_model(store: Store, obj: str, fields: Sequence[Field]) -> bool:
    """Record the store's account's model of `obj`; rebuild the view if it changed (True
    if so).

    The view has the fields of every account's model of `obj` (see `columns`). A reader
    holding the view longer than `LOCK_TIMEOUT` makes this raise a `StoreError`
    (SQLSTATE 55P03) with nothing changed; the next run tries again."""
    account = store.account
    digest = model_hash(fields)
    async with store.statements_in_turn() as conn:
        if await conn.fetchval(_SAME_MODEL + " RETURNING 1", account, obj, digest):
            return False
    async with store.statements_in_turn(6 + len(fields)) as conn, conn.transaction():
        await conn.execute(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")
        await conn.execute("SELECT pg_advisory_xact_lock($1)", _VIEW_LOCK)
        await conn.execute(
            "DELETE FROM keap.custom_fields WHERE account = $1 AND object = $2", account, obj
        )
        await conn.executemany(
            "INSERT INTO keap.custom_fields (account, object, id, label, field_type, "
            "field_name, options, column_name, column_type) "
            "VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb, '', '')",
            [
                (account, obj, f.id, f.label, f.field_type, f.field_name, json.dumps(f.options))
                for f in fields
            ],
        )
        every = [
            Field(
                r["id"],
                r["label"],
                r["field_type"],
                r["field_name"],
                tuple(json.loads(r["options"])),
                r["account"],
            )
            for r in await conn.fetch(_ALL_FIELDS, obj)
        ]
        cols = columns(every)
        await conn.executemany(
            "UPDATE keap.custom_fields SET column_name = $4, column_type = $5 "
            "WHERE account = $1 AND object = $2 AND id = $3",
            [(f.account, obj, f.id, c.name, c.type) for c in cols for f in c.fields],
        )
        await conn.execute(f"DROP VIEW IF EXISTS {view_name(obj)}")
        for statement in view_sql(obj, cols):
            await conn.execute(statement)
        await conn.execute(_SAVE_MODEL, account, obj, digest)
    return True
