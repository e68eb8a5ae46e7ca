"""The SQL statements of each table, built once from its `Table` description.

Only names from `tables.py` are formatted into the SQL; every value is a parameter.

Every statement over a table belongs to one account: its last parameter is the account's
name (`_account(n)`), which every row it writes carries and every row it reads, changes or
deletes matches.
"""

# ruff: noqa: S608

from __future__ import annotations

from functools import cache

from shared.store.tables import TABLES, Child, Table


def _records(key: str | None) -> str:
    """The page's records: `$1` is the list itself, or an object holding it under `key`."""
    return "$1::jsonb" if key is None else f"($1::jsonb -> '{key}')"


def _account(n: int) -> str:
    """The account parameter: `$n`, the statement's last."""
    return f"${n}::text"


# An older version of a record never overwrites a newer one; an equal version is written
# only when it differs (or revives a row marked deleted), so overlapping reads are no-ops.
_GUARD = """
    t.keap_updated_at IS NULL OR excluded.keap_updated_at IS NULL
    OR excluded.keap_updated_at > t.keap_updated_at
    OR (excluded.keap_updated_at = t.keap_updated_at
        AND (t.deleted_at IS NOT NULL OR t.raw IS DISTINCT FROM excluded.raw))"""


def _carried(table: Table) -> str:
    """What `up` returns for the child tables: each child's list, not the whole record."""
    return "".join(f", t.raw -> '{c.field}' AS c{n}" for n, c in enumerate(table.children))


def _child_ctes(child: Child, n: int, account: str) -> str:
    """CTEs over `up` (id, inserted: whether the parent row is new, c<n>: the list) that
    replace the rows of one child table."""
    key_cols = child.key_columns
    names = child.column_names
    values = [f"{account} AS account", f"up.id AS {child.parent_column}"]
    values += [f"{expr} AS {col}" for col, expr in child.columns]
    if child.raw:
        values.append("e.v AS raw")
    key_match = " AND ".join(f"k.{c} = c.{c}" for c in key_cols)
    not_null = " AND ".join(f"{c} IS NOT NULL" for c in child.key)
    updates = [c for c in names if c not in key_cols]
    elements = "jsonb_array_elements_text" if child.scalar else "jsonb_array_elements"
    listed = f"up.c{n}"
    as_array = f"CASE WHEN jsonb_typeof({listed}) = 'array' THEN {listed} ELSE '[]' END"
    if updates:
        # DO UPDATE may not touch a row twice in one statement: one element per key.
        distinct = f"DISTINCT ON ({', '.join(key_cols)}) "
        order = f" ORDER BY {', '.join(key_cols)}"
        on_conflict = "DO UPDATE SET " + ", ".join(f"{c} = excluded.{c}" for c in updates)
    else:
        distinct, order, on_conflict = "", "", "DO NOTHING"
    return f""",
kids{n} AS (
    SELECT {", ".join(values)}
    FROM up, LATERAL {elements}({as_array}) AS e(v)
    WHERE {listed} IS NOT NULL
),
del{n} AS (
    -- An array, not a join: the planner cannot see how few parents `up` holds, and
    -- would otherwise scan the whole child table for them.
    -- A parent row just inserted has none to delete (children are written only with their
    -- parent, whose row is never deleted, only marked): a first load skips this.
    DELETE FROM {child.table} AS c
    WHERE c.account = {account}
      AND c.{child.parent_column} = ANY (
          ARRAY(SELECT id FROM up WHERE {listed} IS NOT NULL AND NOT up.inserted))
      AND NOT EXISTS (SELECT 1 FROM kids{n} AS k WHERE {key_match})
),
ins{n} AS (
    INSERT INTO {child.table} AS c ({", ".join(names)})
    SELECT {distinct}{", ".join(names)}
    FROM kids{n} WHERE {not_null}{order}
    ON CONFLICT ({", ".join(key_cols)}) {on_conflict}
)"""


def _unchecked(sql: str) -> str:
    """The same statement with plain casts (the `keap.as_*` functions of the first migration)."""
    return sql.replace("keap.to_", "keap.as_")


@cache
def upsert_sql(stream: str, key: str | None, checked: bool = False) -> str:
    """One statement that writes a page: `$1` the JSON body, holding the records under
    `key` (or the list itself for None); `$2` the account. Returns the rows written and
    the page's facts (records, update-time range, greatest id), so Python need not parse
    the page.
    Unless `checked`, a malformed value fails the statement instead of becoming NULL."""
    t: Table = TABLES[stream]
    account = _account(2)
    lets = "".join(f", {expr} AS {name}" for name, expr in t.lets)
    typed = [expr for _, expr in t.columns]
    columns = t.column_names
    updates = ", ".join(
        f"{c} = excluded.{c}" if c != "deleted_at" else "deleted_at = NULL"
        for c in columns
        if c not in ("account", "id")
    )
    # The page is parsed once, into `s`; its facts come from the same rows, and so do the
    # children's lists (read from the stored row, `raw` would be decompressed again).
    carried = "".join(f", s.r -> '{c.field}' AS c{n}" for n, c in enumerate(t.children))
    sql = f"""
WITH s AS MATERIALIZED (
    SELECT keap.to_bigint(r ->> 'id') AS id, {t.updated} AS upd, r{lets}
    FROM jsonb_array_elements({_records(key)}) AS r
),
written AS (
    INSERT INTO {t.name} AS t ({", ".join(columns)})
    SELECT {account}, id, {", ".join(typed)}, {t.created}, upd, r, now(), NULL
    FROM s
    WHERE id IS NOT NULL
    ON CONFLICT (account, id) DO UPDATE SET {updates}
    WHERE {_GUARD}
    RETURNING t.id, t.xmax = 0 AS inserted
),
up AS (SELECT w.id, w.inserted{carried} FROM written AS w JOIN s ON s.id = w.id)"""
    for n, child in enumerate(t.children):
        sql += _child_ctes(child, n, account)
    sql += """
SELECT (SELECT count(*) FROM up)::int AS written, count(id)::int AS received,
       max(upd) AS newest, min(upd) AS oldest, max(id) AS max_id
FROM s"""
    return sql if checked else _unchecked(sql)


@cache
def facts_sql(stream: str) -> str:
    """The facts of records (`$1`, a JSON list) without writing them, as `upsert_sql`
    reports them. Two JSON path scans (read in place, without copying records) rather than
    a pass over whole records: ids and update times are all the sync needs."""
    updated = TABLES[stream].updated_field
    return f"""
SELECT 0 AS written, count(i)::int AS received,
       max(keap.to_ts(u #>> '{{}}')) AS newest, min(keap.to_ts(u #>> '{{}}')) AS oldest,
       max(keap.to_bigint(i #>> '{{}}')) AS max_id
FROM ROWS FROM (
    jsonb_path_query($1::jsonb, '$[*]."id"'),
    jsonb_path_query($1::jsonb, '$[*]."{updated}"')
) AS facts(i, u)"""


def _cascade(t: Table, account: str) -> str:
    """CTEs over `gone` (the ids just marked deleted) that delete the rows going with them
    (in the same statement, so no reader sees a deleted parent with live children)."""
    return "".join(
        f""",
cascade{n} AS (
    DELETE FROM {table}
    WHERE account = {account} AND {column} = ANY (ARRAY(SELECT id FROM gone))
)"""
        for n, (table, column) in enumerate(t.gone_with)
    )


@cache
def mark_deleted_sql(stream: str) -> str:
    """`$1` ids; `$2` only rows last written before this time (NULL: any); `$3` the
    account. Returns ids."""
    t = TABLES[stream]
    account = _account(3)
    sql = f"""
WITH gone AS (
    UPDATE {t.name} SET deleted_at = now()
    WHERE account = {account} AND id = ANY($1::bigint[]) AND deleted_at IS NULL
      AND ($2::timestamptz IS NULL OR synced_at < $2::timestamptz)
    RETURNING id
)"""
    # Ids Keap no longer has need no quarantine either.
    sql += f""",
unquarantined AS (
    DELETE FROM keap.quarantine
    WHERE account = {account} AND stream = '{stream}' AND id = ANY($1::bigint[])
)"""
    return sql + _cascade(t, account) + "\nSELECT id FROM gone"


@cache
def refresh_sql(stream: str, key: str | None, checked: bool = False) -> str:
    """Bring `refresh_fields` of live rows in line with a listing (`$1`, `key` as in
    `upsert_sql`; `$2` the account), children included. Returns the number of rows changed."""
    t = TABLES[stream]
    account = _account(2)
    fields = t.refresh_fields
    patch = ", ".join(f"'{f}', src.r -> '{f}'" for f in fields)
    changed = " OR ".join(f"t.raw -> '{f}' IS DISTINCT FROM src.r -> '{f}'" for f in fields)
    present = " AND ".join(f"src.r ? '{f}'" for f in fields)
    sql = f"""
WITH src AS (
    SELECT keap.to_bigint(r ->> 'id') AS id, r
    FROM jsonb_array_elements({_records(key)}) AS r
),
up AS (
    UPDATE {t.name} AS t SET raw = t.raw || jsonb_build_object({patch}), synced_at = now()
    FROM src
    WHERE t.account = {account} AND t.id = src.id AND t.deleted_at IS NULL
      AND {present} AND ({changed})
    RETURNING t.id, false AS inserted{_carried(t)}
)"""
    for n, child in enumerate(t.children):
        sql += _child_ctes(child, n, account)
    sql += "\nSELECT count(*)::int FROM up"
    return sql if checked else _unchecked(sql)


@cache
def reconcile_window_sql(stream: str) -> str:
    """Compare Keap's ids in the window (`$1`, `$2`] (`$2` NULL: no upper end) with the
    table: mark live rows Keap no longer lists as deleted (unless written since `$4`),
    and return them along with Keap ids the table lacks. `$5` the account."""
    t = TABLES[stream]
    table = t.name
    account = _account(5)
    return f"""
WITH gone AS (
    UPDATE {table} AS t SET deleted_at = now()
    WHERE t.account = {account} AND t.id > $1::bigint AND ($2::bigint IS NULL OR t.id <= $2::bigint)
      AND t.deleted_at IS NULL AND t.synced_at < $4::timestamptz
      AND NOT (t.id = ANY($3::bigint[]))
    RETURNING t.id
),
unquarantined AS (
    DELETE FROM keap.quarantine AS q
    WHERE q.account = {account} AND q.stream = '{stream}'
      AND q.id > $1::bigint AND ($2::bigint IS NULL OR q.id <= $2::bigint)
      AND NOT (q.id = ANY($3::bigint[])) AND q.last_failed_at < $4::timestamptz
){_cascade(t, account)}
SELECT
    coalesce((SELECT array_agg(id ORDER BY id) FROM gone), '{{}}') AS deleted,
    coalesce((SELECT array_agg(k ORDER BY k) FROM unnest($3::bigint[]) AS k
              WHERE NOT EXISTS (SELECT 1 FROM {table} AS x
                                WHERE x.account = {account} AND x.id = k
                                  AND x.deleted_at IS NULL)), '{{}}') AS missing"""


@cache
def live_ids_sql(stream: str) -> str:
    """`$1` the account."""
    return (
        f"SELECT id FROM {TABLES[stream].name} "
        f"WHERE account = {_account(1)} AND deleted_at IS NULL ORDER BY id"
    )


@cache
def holding_none_sql(streams: tuple[str, ...]) -> str:
    """Per stream of `streams`: whether its table holds no row of the account (`$1`)."""
    return "\nUNION ALL\n".join(
        f"SELECT '{s}' AS stream, NOT EXISTS "
        f"(SELECT 1 FROM {TABLES[s].name} WHERE account = {_account(1)}) AS empty"
        for s in streams
    )


@cache
def counts_sql(streams: tuple[str, ...] | None = None) -> str:
    """Per table (of `streams`, or all), the account's (`$1`) rows: live rows, deleted rows,
    last write, ..."""
    chosen = {s: t for s, t in TABLES.items() if streams is None or s in streams}
    account = _account(1)
    parts = [
        f"""SELECT '{s}' AS stream,
       count(*) FILTER (WHERE deleted_at IS NULL)::bigint AS rows,
       count(*) FILTER (WHERE deleted_at IS NOT NULL)::bigint AS deleted,
       max(synced_at) AS last_synced_at,
       max(keap_updated_at) AS newest_update,
       (SELECT count(*) FROM keap.quarantine
        WHERE account = {account} AND stream = '{s}')::bigint AS quarantined,
       {_details_pending(t)} AS details_pending
FROM {t.name} WHERE account = {account}"""
        for s, t in chosen.items()
    ]
    return "\nUNION ALL\n".join(parts)


def _details_pending(t: Table) -> str:
    if not t.details:
        return "NULL::bigint"
    return (
        "count(*) FILTER (WHERE deleted_at IS NULL "
        "AND (details_read_at IS NULL OR details_read_at < synced_at))::bigint"
    )


# A record that failed again replaces its entry and counts one more attempt. `$6` the account.
QUARANTINE_SQL = f"""
INSERT INTO keap.quarantine AS q (account, stream, id, error, raw, source)
SELECT {_account(6)}, $1, e.id, e.error, e.raw, $2
FROM unnest($3::bigint[], $4::text[], $5::text[]) AS e(id, error, raw)
ON CONFLICT (account, stream, id) DO UPDATE SET
    error = excluded.error, raw = coalesce(excluded.raw, q.raw), source = excluded.source,
    attempts = q.attempts + 1, last_failed_at = now()"""

QUARANTINED_SQL = f"""
SELECT stream, id, error, source, attempts, first_failed_at, last_failed_at
FROM keap.quarantine WHERE account = {_account(2)}
ORDER BY last_failed_at DESC, stream, id LIMIT $1"""


@cache
def unquarantine_sql() -> str:
    """Forget the account's (`$1`) quarantined records written since they failed (by
    any path)."""
    account = _account(1)
    deletes = ",\n".join(
        f"""forget{n} AS (
    DELETE FROM keap.quarantine AS q USING {t.name} AS t
    WHERE q.account = {account} AND q.stream = '{s}'
      AND t.account = q.account AND t.id = q.id AND t.synced_at > q.last_failed_at
)"""
        for n, (s, t) in enumerate(TABLES.items())
    )
    return f"WITH {deletes}\nSELECT 1"


@cache
def pending_details_sql(stream: str) -> str:
    """Live rows of the account (`$2`) written since their details were read (`$1` at
    most, newest first)."""
    return f"""
SELECT id FROM {TABLES[stream].name}
WHERE account = {_account(2)}
  AND deleted_at IS NULL AND (details_read_at IS NULL OR details_read_at < synced_at)
ORDER BY synced_at DESC, id LIMIT $1"""


@cache
def details_sql(stream: str) -> str:
    """Write the detail columns from records (`$1`, a JSON list, as the per-id GET
    returns them; `$2` the account). Returns the number of rows written."""
    t = TABLES[stream]
    sets = ", ".join(f"{column} = {expr}" for column, expr in t.details)
    return f"""
WITH written AS (
    UPDATE {t.name} AS t SET {sets}, details_read_at = now()
    FROM (
        SELECT keap.to_bigint(r ->> 'id') AS id, r FROM jsonb_array_elements($1::jsonb) AS r
    ) AS d
    WHERE t.account = {_account(2)} AND t.id = d.id AND t.deleted_at IS NULL
    RETURNING 1
)
SELECT count(*)::int FROM written"""
