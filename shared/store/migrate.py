"""Apply the `keap` schema migrations to a database: `python -m shared.store.migrate <dsn>`.

The DSN may also come from `DATABASE_URL`. It is never printed (it may hold a password).
"""

from __future__ import annotations

import asyncio
import os
import sys

import asyncpg

from shared.store.migrations import MigrationError, current_version, latest_version, migrate
from shared.store.store import StoreError, _describe


async def run(dsn: str) -> int:
    try:
        conn = await asyncpg.connect(dsn, timeout=30)
    except Exception as exc:
        raise _describe(exc) from None
    try:
        applied = await migrate(conn)
        version = await current_version(conn)
    except MigrationError:
        raise
    except Exception as exc:
        raise _describe(exc) from None
    finally:
        await conn.close()
    done = ", ".join(map(str, applied)) if applied else "none (already current)"
    print(f"keap schema at version {version} of {latest_version()}; applied now: {done}")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    dsn = args[0] if args else os.environ.get("DATABASE_URL", "")
    if not dsn or dsn in ("-h", "--help"):
        print("usage: python -m shared.store.migrate <postgres dsn>  (or set DATABASE_URL)")
        return 2
    try:
        return asyncio.run(run(dsn))
    except StoreError as exc:
        print(f"migration failed: {exc.message}", file=sys.stderr)
        return 1
    except MigrationError as exc:
        print(f"migration failed: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
