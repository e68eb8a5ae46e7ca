"""The Postgres store: the `keap` schema, its migrations and batched upserts."""
