-- Every row says which Keap account it belongs to, and its key includes the account: one set
-- of tables for every account, each account's rows apart (`where account = '...'`).
-- Rows written before accounts were told apart belong to the account `default` (the
-- DEFAULT_ACCOUNT setting's own default). The column then has no default, so every write
-- names its account.

ALTER TABLE keap.contacts ADD COLUMN account text NOT NULL DEFAULT 'default';
ALTER TABLE keap.contacts ALTER COLUMN account DROP DEFAULT;
ALTER TABLE keap.contacts DROP CONSTRAINT contacts_pkey,
    ADD CONSTRAINT contacts_pkey PRIMARY KEY (account, id);

ALTER TABLE keap.companies ADD COLUMN account text NOT NULL DEFAULT 'default';
ALTER TABLE keap.companies ALTER COLUMN account DROP DEFAULT;
ALTER TABLE keap.companies DROP CONSTRAINT companies_pkey,
    ADD CONSTRAINT companies_pkey PRIMARY KEY (account, id);

ALTER TABLE keap.opportunities ADD COLUMN account text NOT NULL DEFAULT 'default';
ALTER TABLE keap.opportunities ALTER COLUMN account DROP DEFAULT;
ALTER TABLE keap.opportunities DROP CONSTRAINT opportunities_pkey,
    ADD CONSTRAINT opportunities_pkey PRIMARY KEY (account, id);

ALTER TABLE keap.orders ADD COLUMN account text NOT NULL DEFAULT 'default';
ALTER TABLE keap.orders ALTER COLUMN account DROP DEFAULT;
ALTER TABLE keap.orders DROP CONSTRAINT orders_pkey,
    ADD CONSTRAINT orders_pkey PRIMARY KEY (account, id);

ALTER TABLE keap.tasks ADD COLUMN account text NOT NULL DEFAULT 'default';
ALTER TABLE keap.tasks ALTER COLUMN account DROP DEFAULT;
ALTER TABLE keap.tasks DROP CONSTRAINT tasks_pkey,
    ADD CONSTRAINT tasks_pkey PRIMARY KEY (account, id);

ALTER TABLE keap.products ADD COLUMN account text NOT NULL DEFAULT 'default';
ALTER TABLE keap.products ALTER COLUMN account DROP DEFAULT;
ALTER TABLE keap.products DROP CONSTRAINT products_pkey,
    ADD CONSTRAINT products_pkey PRIMARY KEY (account, id);

ALTER TABLE keap.tags ADD COLUMN account text NOT NULL DEFAULT 'default';
ALTER TABLE keap.tags ALTER COLUMN account DROP DEFAULT;
ALTER TABLE keap.tags DROP CONSTRAINT tags_pkey,
    ADD CONSTRAINT tags_pkey PRIMARY KEY (account, id);

ALTER TABLE keap.notes ADD COLUMN account text NOT NULL DEFAULT 'default';
ALTER TABLE keap.notes ALTER COLUMN account DROP DEFAULT;
ALTER TABLE keap.notes DROP CONSTRAINT notes_pkey,
    ADD CONSTRAINT notes_pkey PRIMARY KEY (account, id);

ALTER TABLE keap.subscriptions ADD COLUMN account text NOT NULL DEFAULT 'default';
ALTER TABLE keap.subscriptions ALTER COLUMN account DROP DEFAULT;
ALTER TABLE keap.subscriptions DROP CONSTRAINT subscriptions_pkey,
    ADD CONSTRAINT subscriptions_pkey PRIMARY KEY (account, id);

ALTER TABLE keap.contact_tags ADD COLUMN account text NOT NULL DEFAULT 'default';
ALTER TABLE keap.contact_tags ALTER COLUMN account DROP DEFAULT;
ALTER TABLE keap.contact_tags DROP CONSTRAINT contact_tags_pkey,
    ADD CONSTRAINT contact_tags_pkey PRIMARY KEY (account, contact_id, tag_id);

ALTER TABLE keap.order_items ADD COLUMN account text NOT NULL DEFAULT 'default';
ALTER TABLE keap.order_items ALTER COLUMN account DROP DEFAULT;
ALTER TABLE keap.order_items DROP CONSTRAINT order_items_pkey,
    ADD CONSTRAINT order_items_pkey PRIMARY KEY (account, order_id, id);

ALTER TABLE keap.quarantine ADD COLUMN account text NOT NULL DEFAULT 'default';
ALTER TABLE keap.quarantine ALTER COLUMN account DROP DEFAULT;
ALTER TABLE keap.quarantine DROP CONSTRAINT quarantine_pkey,
    ADD CONSTRAINT quarantine_pkey PRIMARY KEY (account, stream, id);

-- Lookups are made within one account: the indexes lead with it.
DROP INDEX keap.contacts_email;
CREATE INDEX contacts_email ON keap.contacts (account, lower(email));
DROP INDEX keap.contacts_company_id;
CREATE INDEX contacts_company_id ON keap.contacts (account, company_id);
DROP INDEX keap.contacts_keap_updated_at;
CREATE INDEX contacts_keap_updated_at ON keap.contacts (account, keap_updated_at);
DROP INDEX keap.contact_tags_tag_id;
CREATE INDEX contact_tags_tag_id ON keap.contact_tags (account, tag_id);
DROP INDEX keap.companies_name;
CREATE INDEX companies_name ON keap.companies (account, company_name);
DROP INDEX keap.opportunities_contact_id;
CREATE INDEX opportunities_contact_id ON keap.opportunities (account, contact_id);
DROP INDEX keap.orders_contact_id;
CREATE INDEX orders_contact_id ON keap.orders (account, contact_id);
DROP INDEX keap.order_items_product_id;
CREATE INDEX order_items_product_id ON keap.order_items (account, product_id);
DROP INDEX keap.tasks_contact_id;
CREATE INDEX tasks_contact_id ON keap.tasks (account, contact_id);
DROP INDEX keap.notes_contact_id;
CREATE INDEX notes_contact_id ON keap.notes (account, contact_id);
DROP INDEX keap.subscriptions_contact_id;
CREATE INDEX subscriptions_contact_id ON keap.subscriptions (account, contact_id);
