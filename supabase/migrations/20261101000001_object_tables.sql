
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
    
    keap_created_at timestamptz,
    keap_updated_at timestamptz,
    raw jsonb NOT NULL,
    synced_at timestamptz NOT NULL DEFAULT now(),
    deleted_at timestamptz

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
    
    keap_created_at timestamptz,
    keap_updated_at timestamptz,
    raw jsonb NOT NULL,
    synced_at timestamptz NOT NULL DEFAULT now(),
    deleted_at timestamptz

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
    
    keap_created_at timestamptz,
    keap_updated_at timestamptz,
    raw jsonb NOT NULL,
    synced_at timestamptz NOT NULL DEFAULT now(),
    deleted_at timestamptz

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
    
    keap_created_at timestamptz,
    keap_updated_at timestamptz,
    raw jsonb NOT NULL,
    synced_at timestamptz NOT NULL DEFAULT now(),
    deleted_at timestamptz

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
    
    keap_created_at timestamptz,
    keap_updated_at timestamptz,
    raw jsonb NOT NULL,
    synced_at timestamptz NOT NULL DEFAULT now(),
    deleted_at timestamptz

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
    
    keap_created_at timestamptz,
    keap_updated_at timestamptz,
    raw jsonb NOT NULL,
    synced_at timestamptz NOT NULL DEFAULT now(),
    deleted_at timestamptz

);

CREATE TABLE keap.tags (
    id bigint PRIMARY KEY,
    name text,
    description text,
    category_id bigint,
    
    keap_created_at timestamptz,
    keap_updated_at timestamptz,
    raw jsonb NOT NULL,
    synced_at timestamptz NOT NULL DEFAULT now(),
    deleted_at timestamptz

);

CREATE TABLE keap.notes (
    id bigint PRIMARY KEY,
    title text,
    type text,
    contact_id bigint,
    assigned_to_user_id bigint,
    
    keap_created_at timestamptz,
    keap_updated_at timestamptz,
    raw jsonb NOT NULL,
    synced_at timestamptz NOT NULL DEFAULT now(),
    deleted_at timestamptz

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
    
    keap_created_at timestamptz,
    keap_updated_at timestamptz,
    raw jsonb NOT NULL,
    synced_at timestamptz NOT NULL DEFAULT now(),
    deleted_at timestamptz

);
CREATE INDEX subscriptions_contact_id ON keap.subscriptions (contact_id);

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
