"""The `keap` schema as Postgres's catalog describes it, for comparing two databases."""

from __future__ import annotations

from typing import Any

# The migrator's own bookkeeping, absent from a database `supabase db push` migrated.
BOOKKEEPING = "schema_migrations"

QUERIES = {
    "relations": """
        SELECT c.relname, c.relkind, c.relrowsecurity, c.relforcerowsecurity,
               coalesce(c.reloptions, '{}') AS options, obj_description(c.oid) AS comment
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = 'keap' AND c.relkind IN ('r', 'v', 'm', 'p', 'S', 'f')
    """,
    "columns": """
        SELECT c.relname, a.attnum, a.attname, format_type(a.atttypid, a.atttypmod) AS type,
               a.attnotnull, pg_get_expr(d.adbin, d.adrelid) AS default,
               a.attcompression, col_description(c.oid, a.attnum) AS comment
        FROM pg_attribute a
        JOIN pg_class c ON c.oid = a.attrelid
        JOIN pg_namespace n ON n.oid = c.relnamespace
        LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
        WHERE n.nspname = 'keap' AND a.attnum > 0 AND NOT a.attisdropped
          AND c.relkind IN ('r', 'v', 'm', 'p', 'f')
    """,
    "constraints": """
        SELECT c.relname, k.conname, k.contype, pg_get_constraintdef(k.oid) AS definition
        FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid
        JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = 'keap'
    """,
    "indexes": "SELECT tablename, indexname, indexdef FROM pg_indexes WHERE schemaname = 'keap'",
    "views": """
        SELECT c.relname, pg_get_viewdef(c.oid) AS definition
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = 'keap' AND c.relkind IN ('v', 'm')
    """,
    "policies": """
        SELECT tablename, policyname, permissive, roles, cmd, qual, with_check
        FROM pg_policies WHERE schemaname = 'keap'
    """,
    "functions": """
        SELECT p.proname, pg_get_function_identity_arguments(p.oid) AS args,
               pg_get_functiondef(p.oid) AS definition
        FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
        WHERE n.nspname = 'keap'
    """,
    "triggers": """
        SELECT c.relname, t.tgname, pg_get_triggerdef(t.oid) AS definition
        FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
        JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = 'keap' AND NOT t.tgisinternal
    """,
}

# The first column of each query names the relation (or function) a row belongs to.


async def catalog(conn: Any) -> dict[str, list[tuple[Any, ...]]]:
    """Every kind of object in `keap`, as sorted rows (without the migrator's bookkeeping)."""
    described: dict[str, list[tuple[Any, ...]]] = {}
    for kind, query in QUERIES.items():
        rows = [tuple(r.values()) for r in await conn.fetch(query)]
        kept = [r for r in rows if not str(r[0]).startswith(BOOKKEEPING)]
        described[kind] = sorted(kept, key=repr)
    return described
