"""What `supabase db push` does to a database, for tests (the CLI cannot be installed offline).

This is a stand-in, named as such: it replays the Supabase CLI's own steps
(`pkg/migration/history.go`, `file.go`, `pkg/parser` of github.com/supabase/cli):

1. create `supabase_migrations.schema_migrations (version text primary key, statements
   text[], name text)` if absent;
2. for each file `<version>_<name>.sql` not yet listed there, in version order: split it into
   statements (on `;` outside quotes, dollar quotes, comments and parentheses; each trimmed
   of whitespace and trailing `;`), send each as its own extended-protocol statement, then
   insert `(version, name, statements)`, all in one implicit transaction.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

_FILE = re.compile(r"^([0-9]+)_(.*)\.sql$")

CREATE_TABLE = [
    "SET lock_timeout = '4s'",
    "CREATE SCHEMA IF NOT EXISTS supabase_migrations",
    "CREATE TABLE IF NOT EXISTS supabase_migrations.schema_migrations "
    "(version text NOT NULL PRIMARY KEY)",
    "ALTER TABLE supabase_migrations.schema_migrations ADD COLUMN IF NOT EXISTS statements text[]",
    "ALTER TABLE supabase_migrations.schema_migrations ADD COLUMN IF NOT EXISTS name text",
]
INSERT_VERSION = (
    "INSERT INTO supabase_migrations.schema_migrations(version, name, statements) "
    "VALUES($1, $2, $3)"
)


def split(sql: str) -> list[str]:
    """The statements of a file, as the CLI's `parser.SplitAndTrim` cuts them."""
    statements: list[str] = []
    start = i = depth = 0
    while i < len(sql):
        ch = sql[i]
        if ch in "'\"":
            i += 1
            while i < len(sql):  # a doubled delimiter stays inside the literal
                if sql[i] == ch and sql[i + 1 : i + 2] == ch:
                    i += 2
                elif sql[i] == ch:
                    break
                else:
                    i += 1
        elif sql.startswith("--", i):
            i = sql.find("\n", i)
            i = len(sql) if i < 0 else i
        elif sql.startswith("/*", i):
            level, i = 1, i + 2
            while i < len(sql) and level:
                if sql.startswith("/*", i):
                    level, i = level + 1, i + 2
                elif sql.startswith("*/", i):
                    level, i = level - 1, i + 2
                else:
                    i += 1
            continue
        elif ch == "$" and (tag := re.match(r"\$[A-Za-z0-9_]*\$", sql[i:])):
            end = sql.find(tag.group(), i + len(tag.group()))
            i = len(sql) if end < 0 else end + len(tag.group()) - 1
        elif ch == "\\":
            i += 1
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth = max(depth - 1, 0)
        elif ch == ";" and depth == 0:
            statements.append(sql[start : i + 1])
            start = i + 1
        i += 1
    statements.append(sql[start:])
    trimmed = (s.rstrip(";").strip() for s in statements)
    return [s for s in trimmed if s]


def files(folder: Path) -> list[tuple[str, str, str]]:
    """(version, name, text) of each migration file, in the CLI's order."""
    found = []
    for path in sorted(folder.glob("*.sql")):
        match = _FILE.match(path.name)
        assert match, path.name
        found.append((match[1], match[2], path.read_text("utf-8")))
    return found


async def db_push(conn: Any, folder: Path) -> list[str]:
    """Apply the files of `folder` the way `supabase db push` does; the versions applied."""
    pending = files(folder)
    async with conn.transaction():
        for statement in CREATE_TABLE:
            await conn.fetch(statement)
    rows = await conn.fetch("SELECT version FROM supabase_migrations.schema_migrations")
    listed = {r["version"] for r in rows}
    applied = []
    for version, name, text in pending:
        if version in listed:
            continue
        statements = split(text)
        async with conn.transaction():
            for statement in statements:
                # A prepared statement, as the CLI's ExecParams: one statement at a time.
                await conn.fetch(statement)
            await conn.execute(INSERT_VERSION, version, name, statements)
        applied.append(version)
    return applied
