"""The `keap` schema, versioned: each migration runs once, in order, in one transaction.

Migrations are literal SQL and never change once released; a new version appends one.
`migrate()` takes a transaction-scoped advisory lock, so concurrent runners (two
workers starting at once, deploy.sh while a cron runs) apply each version exactly
once, and it works through transaction poolers (Supabase, Hyperdrive) too.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

LOCK_KEY = 0x6B65_6170_5F6D_6967  # "keap_mig": the advisory lock migrations hold


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str


# Two families of casts: `as_*` cast plainly (fast; a malformed value fails the
# statement), `to_*` give NULL instead (a regex check per value, several times slower).
# Pages are written with `as_*` and written again with `to_*` only if that fails.
_CASTS = r"""
CREATE OR REPLACE FUNCTION keap.as_bigint(v text) RETURNS bigint
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$ SELECT v::bigint $$;
CREATE OR REPLACE FUNCTION keap.as_numeric(v text) RETURNS numeric
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$ SELECT v::numeric $$;
CREATE OR REPLACE FUNCTION keap.as_bool(v text) RETURNS boolean
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$ SELECT v::boolean $$;
CREATE OR REPLACE FUNCTION keap.as_ts(v text) RETURNS timestamptz
    LANGUAGE sql STABLE PARALLEL SAFE AS $$ SELECT v::timestamptz $$;
CREATE OR REPLACE FUNCTION keap.as_date(v text) RETURNS date
    LANGUAGE sql STABLE PARALLEL SAFE AS $$ SELECT substr(v, 1, 10)::date $$;
CREATE OR REPLACE FUNCTION keap.to_bigint(v text) RETURNS bigint
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$ SELECT CASE WHEN v ~ '^\s*[-+]?\d{1,18}\s*$' THEN v::bigint END $$;
CREATE OR REPLACE FUNCTION keap.to_numeric(v text) RETURNS numeric
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$ SELECT CASE WHEN v ~ '^\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d{1,3})?\s*$'
                      THEN v::numeric END $$;
CREATE OR REPLACE FUNCTION keap.to_bool(v text) RETURNS boolean
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$ SELECT CASE lower(v) WHEN 'true' THEN true WHEN 'false' THEN false END $$;
CREATE OR REPLACE FUNCTION keap.to_ts(v text) RETURNS timestamptz
    LANGUAGE sql STABLE PARALLEL SAFE
    AS $$ SELECT CASE WHEN v ~ '^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])'
                                 '[T ]([01]\d|2[0-3]):[0-5]\d'
                      THEN v::timestamptz END $$;
CREATE OR REPLACE FUNCTION keap.to_date(v text) RETURNS date
    LANGUAGE sql STABLE PARALLEL SAFE
    AS $$ SELECT CASE WHEN v ~ '^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])'
                      THEN substr(v, 1, 10)::date END $$;
"""

# Every object table ends with the same bookkeeping columns.
_TAIL = """
    keap_created_at timestamptz,
    keap_updated_at timestamptz,
    raw jsonb NOT NULL,
    synced_at timestamptz NOT NULL DEFAULT now(),
    deleted_at timestamptz
"""

_TABLES = f"""
CREATE TABLE keap.contacts (
    id bigint PRIMARY KEY,
    given_name text,
    family_name text,
    middle_name text,
    preferred_name text,
    prefix text,
    suffix text,
    email text,
    phone text,
    job_title text,
    company_id bigint,
    company_name text,
    owner_id bigint,
    lead_source_id bigint,
    contact_type text,
    source_type text,
    address_line1 text,
    city text,
    region text,
    postal_code text,
    country_code text,
    birth_date date,
    time_zone text,
    {_TAIL}
);
CREATE INDEX contacts_email ON keap.contacts (lower(email));
CREATE INDEX contacts_company_id ON keap.contacts (company_id);
CREATE INDEX contacts_keap_updated_at ON keap.contacts (keap_updated_at);

CREATE TABLE keap.contact_tags (
    contact_id bigint NOT NULL,
    tag_id bigint NOT NULL,
    PRIMARY KEY (contact_id, tag_id)
);
CREATE INDEX contact_tags_tag_id ON keap.contact_tags (tag_id);

CREATE TABLE keap.companies (
    id bigint PRIMARY KEY,
    company_name text,
    email text,
    phone text,
    website text,
    owner_id bigint,
    address_line1 text,
    city text,
    region text,
    postal_code text,
    country_code text,
    {_TAIL}
);
CREATE INDEX companies_name ON keap.companies (company_name);

CREATE TABLE keap.opportunities (
    id bigint PRIMARY KEY,
    title text,
    contact_id bigint,
    stage_id bigint,
    stage_name text,
    user_id bigint,
    projected_revenue_low numeric,
    projected_revenue_high numeric,
    include_in_forecast boolean,
    estimated_close_at timestamptz,
    next_action_at timestamptz,
    {_TAIL}
);
CREATE INDEX opportunities_contact_id ON keap.opportunities (contact_id);

CREATE TABLE keap.orders (
    id bigint PRIMARY KEY,
    title text,
    status text,
    contact_id bigint,
    order_type text,
    source_type text,
    currency_code text,
    total_amount numeric,
    total_paid_amount numeric,
    total_due_amount numeric,
    invoice_number text,
    order_time timestamptz,
    {_TAIL}
);
CREATE INDEX orders_contact_id ON keap.orders (contact_id);

CREATE TABLE keap.order_items (
    order_id bigint NOT NULL,
    id bigint NOT NULL,
    product_id bigint,
    name text,
    item_type text,
    quantity bigint,
    price_per_unit_amount numeric,
    cost_per_unit_amount numeric,
    subscription_plan_id bigint,
    raw jsonb NOT NULL,
    PRIMARY KEY (order_id, id)
);
CREATE INDEX order_items_product_id ON keap.order_items (product_id);

CREATE TABLE keap.tasks (
    id bigint PRIMARY KEY,
    title text,
    type text,
    priority text,
    completed boolean,
    contact_id bigint,
    opportunity_id bigint,
    assigned_to_user_id bigint,
    due_at timestamptz,
    completed_at timestamptz,
    {_TAIL}
);
CREATE INDEX tasks_contact_id ON keap.tasks (contact_id);

CREATE TABLE keap.products (
    id bigint PRIMARY KEY,
    name text,
    sku text,
    active boolean,
    currency_code text,
    price_amount numeric,
    shippable boolean,
    taxable boolean,
    {_TAIL}
);

CREATE TABLE keap.tags (
    id bigint PRIMARY KEY,
    name text,
    description text,
    category_id bigint,
    {_TAIL}
);

CREATE TABLE keap.notes (
    id bigint PRIMARY KEY,
    title text,
    type text,
    contact_id bigint,
    assigned_to_user_id bigint,
    {_TAIL}
);
CREATE INDEX notes_contact_id ON keap.notes (contact_id);

CREATE TABLE keap.subscriptions (
    id bigint PRIMARY KEY,
    contact_id bigint,
    product_id bigint,
    subscription_plan_id bigint,
    active boolean,
    quantity bigint,
    billing_amount numeric,
    billing_cycle text,
    billing_frequency bigint,
    start_date date,
    next_bill_date date,
    end_date date,
    {_TAIL}
);
CREATE INDEX subscriptions_contact_id ON keap.subscriptions (contact_id);
"""

# lz4 compresses the raw records several times faster than the default pglz (Postgres
# 14+ built with lz4, as Supabase is); a server without it keeps pglz.
_LZ4 = """
DO $$
BEGIN
    EXECUTE 'ALTER TABLE keap.contacts ALTER COLUMN raw SET COMPRESSION lz4';
    EXECUTE 'ALTER TABLE keap.companies ALTER COLUMN raw SET COMPRESSION lz4';
    EXECUTE 'ALTER TABLE keap.opportunities ALTER COLUMN raw SET COMPRESSION lz4';
    EXECUTE 'ALTER TABLE keap.orders ALTER COLUMN raw SET COMPRESSION lz4';
    EXECUTE 'ALTER TABLE keap.order_items ALTER COLUMN raw SET COMPRESSION lz4';
    EXECUTE 'ALTER TABLE keap.tasks ALTER COLUMN raw SET COMPRESSION lz4';
    EXECUTE 'ALTER TABLE keap.products ALTER COLUMN raw SET COMPRESSION lz4';
    EXECUTE 'ALTER TABLE keap.tags ALTER COLUMN raw SET COMPRESSION lz4';
    EXECUTE 'ALTER TABLE keap.notes ALTER COLUMN raw SET COMPRESSION lz4';
    EXECUTE 'ALTER TABLE keap.subscriptions ALTER COLUMN raw SET COMPRESSION lz4';
EXCEPTION WHEN OTHERS THEN
    NULL;
END
$$;
"""

# Children of records marked deleted before deletes took their children along.
_ORPHANS = """
DELETE FROM keap.contact_tags AS c USING keap.contacts AS p
WHERE p.id = c.contact_id AND p.deleted_at IS NOT NULL;
DELETE FROM keap.order_items AS c USING keap.orders AS p
WHERE p.id = c.order_id AND p.deleted_at IS NOT NULL;
"""

# Records Keap handed out that Postgres would not store, kept where people look.
_QUARANTINE = """
CREATE TABLE keap.quarantine (
    stream text NOT NULL,
    id bigint NOT NULL,
    error text NOT NULL,
    raw text,
    source text NOT NULL,
    attempts integer NOT NULL DEFAULT 1,
    first_failed_at timestamptz NOT NULL DEFAULT now(),
    last_failed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (stream, id)
);
COMMENT ON TABLE keap.quarantine IS
    'Keap records Postgres refused to store: the record (raw, as JSON text), the error, '
    'how often it failed. An entry goes once the record is written or Keap deletes it.';
"""

# What products' list entries lack, read per product (see `Table.details`).
_PRODUCT_DETAILS = """
ALTER TABLE keap.products ADD COLUMN inventory_count bigint;
ALTER TABLE keap.products ADD COLUMN details_read_at timestamptz;
"""

MIGRATIONS: list[Migration] = [
    Migration(1, "object tables", _CASTS + _TABLES + _LZ4),
    Migration(2, "children of deleted records", _ORPHANS),
    Migration(3, "quarantine", _QUARANTINE),
    Migration(4, "product details", _PRODUCT_DETAILS),
]

LATEST = MIGRATIONS[-1].version

_BOOTSTRAP = """
CREATE SCHEMA IF NOT EXISTS keap;
CREATE TABLE IF NOT EXISTS keap.schema_migrations (
    version integer PRIMARY KEY,
    name text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
);
"""


async def current_version(conn: Any) -> int:
    """The schema version in place (0 for a database without the `keap` schema)."""
    exists = await conn.fetchval("SELECT to_regclass('keap.schema_migrations') IS NOT NULL")
    if not exists:
        return 0
    return int(await conn.fetchval("SELECT coalesce(max(version), 0) FROM keap.schema_migrations"))


async def migrate(conn: Any) -> list[int]:
    """Apply pending migrations to an asyncpg connection; returns the versions applied."""
    if await current_version(conn) >= LATEST:
        return []
    applied: list[int] = []
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", LOCK_KEY)
        await conn.execute(_BOOTSTRAP)
        done = {
            r["version"] for r in await conn.fetch("SELECT version FROM keap.schema_migrations")
        }
        for migration in MIGRATIONS:
            if migration.version in done:
                continue
            await conn.execute(migration.sql)
            await conn.execute(
                "INSERT INTO keap.schema_migrations (version, name) VALUES ($1, $2)",
                migration.version,
                migration.name,
            )
            applied.append(migration.version)
    return applied
