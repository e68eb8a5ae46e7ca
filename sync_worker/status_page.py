"""`GET /sync/status` for a person: one HTML page, readable at a glance.

It renders what the JSON status says (per object rows, last sync, cursor, errors, Keap's
refusals in red, the quarantined records), the webhook queue, the Keap connection and
the hook subscriptions. No scripts, no external assets; every value is escaped.
"""

from __future__ import annotations

from html import escape
from typing import Any
from urllib.parse import quote

from shared import timefmt

_STYLE = """
body{font:15px/1.45 system-ui,-apple-system,Segoe UI,sans-serif;margin:2rem auto;max-width:72rem;
padding:0 1rem;color:#1d2430}
h1{font-size:1.5rem;margin-bottom:.2rem} h2{font-size:1.1rem;margin-top:2rem}
.muted{color:#5b6472} table{border-collapse:collapse;width:100%}
th,td{text-align:left;padding:.35rem .6rem;border-bottom:1px solid #e3e6ea;vertical-align:top}
th{font-weight:600;background:#f6f7f9} td.num{text-align:right;font-variant-numeric:tabular-nums}
.badge{display:inline-block;padding:.05rem .5rem;border-radius:1rem;font-size:.85rem;
font-weight:600}
.ok{background:#e3f4ea;color:#17663a} .warn{background:#fdf3d8;color:#7a5a00}
.bad{background:#fbe4e4;color:#a4262c} .cards{display:flex;gap:1rem;flex-wrap:wrap}
.card{border:1px solid #e3e6ea;border-radius:.5rem;padding:.8rem 1rem;min-width:14rem}
.card b{display:block;font-size:1.3rem} code{font-size:.85rem}
"""

GOOD = {"connected", "ok", "complete", "Verified", "healthy"}
BAD = {"reauthorization_required", "failed", "interrupted", "error", "Inactive", "not_connected"}


def _text(value: Any) -> str:
    return "—" if value is None or value == "" else escape(str(value))


def _badge(value: Any) -> str:
    label = str(value) if value not in (None, "") else "unknown"
    css = "ok" if label in GOOD else "bad" if label in BAD else "warn"
    return f'<span class="badge {css}">{escape(label)}</span>'


def _number(value: Any) -> str:
    return f"{value:,}" if isinstance(value, int) else _text(value)


def _age(seconds: Any) -> str:
    if not isinstance(seconds, int | float):
        return "—"
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def _table(headers: list[str], rows: list[list[str]], empty: str) -> str:
    if not rows:
        return f'<p class="muted">{escape(empty)}</p>'
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(cells) + "</tr>" for cells in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _connection(connection: dict[str, Any]) -> str:
    state = connection.get("state")
    lines = [
        f"<b>{_badge(state)}</b>",
        f"tenant {_text(connection.get('tenant'))}",
        f"access token until {_text(connection.get('access_expires_at'))}",
        f"refresh token until {_text(connection.get('refresh_expires_at'))}",
    ]
    if connection.get("reason"):
        lines.append(f"reason: {_text(connection['reason'])}")
    if state == "reauthorization_required":
        lines.append("Reconnect: open <code>/oauth/initiate</code> on the sync-coordinator.")
    return (
        '<div class="card"><span class="muted">Keap connection</span>'
        + "<br>".join(lines)
        + "</div>"
    )


def _objects(objects: dict[str, Any]) -> str:
    rows = []
    for name, obj in objects.items():
        last = obj.get("last_run") or {}
        status = last.get("stream_status") or last.get("status")
        refused = obj.get("refused")
        if refused:
            label = f"refused by Keap (HTTP {_text(refused.get('status'))})"
            state = f'<span class="badge bad">{label}</span>'
        else:
            state = _badge(status) if status else _text(None)
        errors = obj.get("errors") or []
        rows.append(
            [
                f"<td><b>{escape(name)}</b></td>",
                f'<td class="num">{_number(obj.get("rows"))}</td>',
                f'<td class="num">{_number(obj.get("deleted_rows"))}</td>',
                f'<td class="num">{_number(obj.get("quarantined"))}</td>',
                f"<td>{_text(obj.get('last_synced_at'))}</td>",
                f"<td>{state}</td>",
                f"<td><code>{_text(obj.get('cursor'))}</code></td>",
                f"<td>{_progress(obj.get('progress'))}</td>",
                f"<td>{'<br>'.join(escape(str(e)) for e in errors) or '—'}</td>",
            ]
        )
    headers = [
        "Object",
        "Rows",
        "Deleted",
        "Quarantined",
        "Last synced",
        "Last run",
        "Cursor",
        "Pass under way",
        "Errors",
    ]
    return _table(headers, rows, "No objects synced yet.")


def _progress(progress: dict[str, Any] | None) -> str:
    """A pass under way: slices done of total, records so far."""
    if not progress:
        return _text(None)
    return (
        f"{_number(progress.get('slices_done'))} of {_number(progress.get('slices'))} "
        f"slices done, {_number(progress.get('records'))} records so far"
    )


def _refusals(objects: dict[str, Any]) -> str:
    """One red line per object Keap refuses: what retrying cannot fix."""
    lines = []
    for name, obj in objects.items():
        refused = obj.get("refused")
        if refused:
            lines.append(
                f'<p><span class="badge bad">Keap refuses {escape(name)}</span> '
                f"HTTP {_text(refused.get('status'))}: {_text(refused.get('message'))} "
                f"(since {_text(refused.get('since'))}; every run tries again)</p>"
            )
    return "".join(lines)


def _quarantine(entries: list[dict[str, Any]]) -> str:
    rows = [
        [
            f"<td>{_text(q.get('stream'))}</td>",
            f'<td class="num">{_text(q.get("id"))}</td>',
            f"<td>{_text(q.get('error'))}</td>",
            f'<td class="num">{_number(q.get("attempts"))}</td>',
            f"<td>{_text(q.get('source'))}</td>",
            f"<td>{_text(q.get('last_failed_at'))}</td>",
        ]
        for q in entries
    ]
    headers = ["Object", "Id", "Database error", "Attempts", "Found by", "Last failed"]
    return _table(headers, rows, "No records in quarantine.")


def _queue(queue: dict[str, Any] | None) -> str:
    if queue is None:
        return '<p class="muted">Queue status unavailable.</p>'
    totals = queue.get("totals") or {}
    cards = [
        ("Waiting events", _number(queue.get("depth"))),
        ("Oldest waiting", _age(queue.get("oldest_age_s"))),
        ("Applied", _number(totals.get("applied"))),
        ("Dropped", _number(totals.get("dropped"))),
    ]
    html = (
        '<div class="cards">'
        + "".join(
            f'<div class="card"><span class="muted">{escape(k)}</span><b>{v}</b></div>'
            for k, v in cards
        )
        + "</div>"
    )
    if queue.get("last_error"):
        html += (
            f'<p><span class="badge bad">retrying</span> {_text(queue["last_error"])} '
            f"(at {_text(queue.get('last_error_at'))})</p>"
        )
    return html


def _hooks(hooks: list[dict[str, Any]] | None) -> str:
    if hooks is None:
        return '<p class="muted">Hook subscriptions unavailable.</p>'
    rows = [
        [
            f"<td>{_text(h.get('eventKey'))}</td>",
            f"<td>{_badge(h.get('status'))}</td>",
            f"<td><code>{_text(h.get('key'))}</code></td>",
        ]
        for h in hooks
    ]
    return _table(["Event", "Status", "Key"], rows, "No hook subscriptions registered.")


def _runs(runs: list[dict[str, Any]]) -> str:
    rows = [
        [
            f"<td>{_text(r.get('kind'))}</td>",
            f"<td>{_badge(r.get('status'))}</td>",
            f"<td>{_text(r.get('started_at'))}</td>",
            f"<td>{_text(r.get('finished_at'))}</td>",
            f"<td>{'<br>'.join(escape(str(e)) for e in r.get('errors') or []) or '—'}</td>",
        ]
        for r in runs
    ]
    return _table(["Run", "Status", "Started", "Finished", "Errors"], rows, "No runs yet.")


def _accounts(accounts: list[dict[str, Any]] | None, shown: Any) -> str:
    if accounts is None:
        return '<p class="muted">The account registry is unavailable.</p>'
    rows = []
    for a in accounts:
        name = str(a.get("account"))
        link = f'<a href="?account={quote(name)}">{escape(name)}</a>'
        last = a.get("last_run") or {}
        rows.append(
            [
                f"<td>{'<b>' + link + '</b>' if name == shown else link}</td>",
                f"<td>{_text(a.get('source'))}</td>",
                f"<td>{_badge(a.get('connection') or a.get('error'))}</td>",
                f"<td>{_text(a.get('running'))}</td>",
                f"<td>{_badge(last.get('status')) if last else '—'} {_text(last.get('kind'))}</td>",
                f"<td>{_text(last.get('finished_at'))}</td>",
            ]
        )
    headers = ["Account", "Created by", "Keap", "Running", "Last run", "Finished"]
    return _table(headers, rows, "No accounts.")


def render_status_page(
    status: dict[str, Any],
    queue: dict[str, Any] | None,
    hooks: list[dict[str, Any]] | None,
    accounts: list[dict[str, Any]] | None = None,
) -> str:
    generated = status.get("generated_at") or timefmt.keap(timefmt.now())
    lease = status.get("lease")
    running = (
        f'<span class="badge warn">sync running</span> run {_text(lease.get("run_id"))}'
        if lease
        else '<span class="badge ok">idle</span>'
    )
    database_error = status.get("database_error")
    db_note = (
        f'<p><span class="badge bad">database</span> {_text(database_error)}</p>'
        if database_error
        else ""
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>Keap sync status</title><style>{_STYLE}</style></head><body>
<h1>Keap sync status</h1>
<p class="muted">Account <b>{_text(status.get("account"))}</b> · as of {_text(generated)}
· {running}</p>
{db_note}
<h2>Accounts</h2>
{_accounts(accounts, status.get("account"))}
{_refusals(status.get("objects") or {})}
<div class="cards">{_connection(status.get("connection") or {})}</div>
<h2>Objects</h2>
{_objects(status.get("objects") or {})}
<h2>Quarantined records</h2>
<p class="muted">Records Keap handed out that Postgres would not store (in
<code>keap.quarantine</code>); an entry goes once its record is written.</p>
{_quarantine(status.get("quarantine") or [])}
<h2>Webhook queue</h2>
{_queue(queue)}
<h2>Hook subscriptions</h2>
{_hooks(hooks)}
<h2>Recent runs</h2>
{_runs(status.get("runs") or [])}
</body></html>"""
