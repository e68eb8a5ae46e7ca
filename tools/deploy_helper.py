"""deploy.sh's helper: JSON, TOML, URLs and HTTP, so that the shell never parses them.

Secret values reach it through the environment, never through its arguments, and it never
prints one. Verdicts come back as one line: PASS|WARN|FAIL, a tab, a message.
"""

import json
import os
import re
import sys
import time
import tomllib
from pathlib import Path
from urllib.parse import unquote, urlsplit

PLACEHOLDER = "0" * 32
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
HEX_ID = re.compile(r"^[0-9a-f]{32}$")
SECRETS = [
    "ADMIN_TOKEN",
    "KEAP_CLIENT_ID",
    "KEAP_CLIENT_SECRET",
    "KEAP_API_KEY",
    "KEAP_WEBHOOK_SECRET",
    "STATE_SECRET",
]
WORKER_SECRETS = {  # worker: (required, required one group of, allowed)
    "sync-coordinator": (
        ["ADMIN_TOKEN", "KEAP_WEBHOOK_SECRET", "STATE_SECRET"],
        [["KEAP_CLIENT_ID", "KEAP_CLIENT_SECRET"], ["KEAP_API_KEY"]],
        SECRETS,
    ),
    "sync-worker": (["ADMIN_TOKEN"], [], ["ADMIN_TOKEN"]),
    "webhook-handler": (["KEAP_WEBHOOK_SECRET"], [], ["KEAP_WEBHOOK_SECRET"]),
}
BINDINGS = {  # package: worker name, Durable Objects, KV, Hyperdrive, services
    "sync_coordinator": (
        "sync-coordinator",
        ["SYNC_COORDINATOR"],
        ["SYNC_CACHE"],
        ["HYPERDRIVE"],
        {},
    ),
    "sync_worker": (
        "sync-worker",
        [],
        ["SYNC_CACHE"],
        ["HYPERDRIVE"],
        {"COORDINATOR": "sync-coordinator"},
    ),
    "webhook_handler": ("webhook-handler", [], [], [], {"COORDINATOR": "sync-coordinator"}),
}


def stop(message):
    print(message, file=sys.stderr)
    sys.exit(1)


def text_of(path):
    return ANSI.sub("", Path(path).read_text(errors="replace"))


def load_json(path, what):
    """The JSON document in wrangler's output (some commands print a banner first)."""
    text = text_of(path)
    decoder = json.JSONDecoder()
    for match in re.finditer(r"^[\[{]", text, re.MULTILINE):
        try:
            value, end = decoder.raw_decode(text, match.start())
        except json.JSONDecodeError:
            continue
        if not text[end:].strip():
            return value
    stop(f"{what} did not print the JSON expected:\n{text.strip()[-600:]}")


# --- .env and the connection string -------------------------------------------------------


def dsn_parts(value):
    parts = urlsplit(value)
    try:
        port = parts.port
    except ValueError:
        port = "invalid"
    return parts, port


def cmd_dsn_check(name):
    """Stop on an unusable connection string; print `warn<TAB>...` lines, then
    `parts<TAB>host<TAB>port<TAB>database<TAB>user<TAB>password<TAB>password as written`."""
    value = os.environ.get("DSN", "")
    if not value:
        stop(
            f"{name} is empty: set it to the Supabase direct connection string "
            "(postgresql://postgres:PASSWORD@db.<project-ref>.supabase.co:5432/postgres)"
        )
    parts, port = dsn_parts(value)
    problems = []
    if "#" in value:
        problems.append(
            "it contains '#': percent-encode special characters in the password "
            "(# is %23, @ is %40, / is %2F, ? is %3F, : is %3A)"
        )
    if parts.scheme not in ("postgres", "postgresql"):
        problems.append(f"the scheme is '{parts.scheme}', not postgresql://")
    if port == "invalid":
        problems.append("the port is not a number (percent-encode @ : / ? # in the password)")
    elif port is None:
        problems.append("no port (the direct connection is port 5432)")
    if not parts.hostname:
        problems.append("no host")
    if not parts.path.strip("/"):
        problems.append("no database name (…:5432/postgres)")
    if not parts.username:
        problems.append("no user")
    if not parts.password:
        problems.append("no password")
    if problems:
        stop(f"{name} is not a usable connection string: " + "; ".join(problems))
    warnings = []
    if port == 6543:
        warnings.append(
            f"{name} uses port 6543, Supabase's transaction pooler: Hyperdrive pools "
            "connections itself and needs the direct connection "
            "(db.<project-ref>.supabase.co:5432)"
        )
    elif (parts.hostname or "").endswith("pooler.supabase.com"):
        warnings.append(
            f"{name} points at Supabase's pooler ({parts.hostname}); Hyperdrive is meant "
            "for the direct connection (db.<project-ref>.supabase.co:5432)"
        )
    if "sslmode=disable" in parts.query:
        warnings.append(f"{name} has sslmode=disable: Supabase requires TLS")
    if parts.hostname in ("localhost", "127.0.0.1", "::1"):
        warnings.append(f"{name} points at {parts.hostname}: Hyperdrive cannot reach this machine")
    for warning in warnings:
        print(f"warn\t{warning}")
    fields = [
        parts.hostname,
        str(port),
        unquote(parts.path.lstrip("/")),
        unquote(parts.username),
        unquote(parts.password),
        parts.netloc.rpartition("@")[0].partition(":")[2],  # the password as written
    ]
    print("\t".join(["parts", *fields]))


def cmd_env_set(path, key):
    """Write KEY=<value of $KEY> into the .env file: in place if there, else appended."""
    file = Path(path)
    value = os.environ[key]
    lines = file.read_text().splitlines(keepends=True) if file.exists() else []
    pattern = re.compile(rf"^\s*(export\s+)?{re.escape(key)}\s*=")
    for i, line in enumerate(lines):
        if pattern.match(line):
            lines[i] = f"{key}={value}\n"
            break
    else:
        if lines and not lines[-1].endswith("\n"):
            lines[-1] += "\n"
        lines.append(f"{key}={value}\n")
    temporary = file.with_name(file.name + ".tmp")
    temporary.write_text("".join(lines))
    temporary.chmod(0o600)
    os.replace(temporary, file)


def cmd_secrets_json(*names):
    """{"NAME": value} of the named secrets, from the environment, for `secret bulk`'s stdin."""
    values = {n: os.environ[n] for n in names if os.environ.get(n)}
    print(json.dumps(values, separators=(",", ":")))


def cmd_hook_url(account):
    sys.path.insert(0, os.environ["DEPLOY_ROOT"])
    try:
        from shared.config import Settings
        from shared.webhooks.auth import hook_url
    except ImportError as exc:
        stop(f"cannot build the webhook URL: {exc}")
    settings = Settings.from_mapping(
        {k: os.environ.get(k) for k in ("WEBHOOK_PUBLIC_URL", "KEAP_WEBHOOK_SECRET")}
    )
    print(hook_url(settings, account))


# --- wrangler's output ----------------------------------------------------------------------


def cmd_whoami(path, wanted):
    data = load_json(path, "wrangler whoami --json")
    if not isinstance(data, dict) or not data.get("loggedIn"):
        stop(
            "not logged in to Cloudflare: run `npx wrangler login` "
            "(or put CLOUDFLARE_API_TOKEN in .env)"
        )
    accounts = [(str(a.get("id")), str(a.get("name"))) for a in data.get("accounts") or []]
    listing = "\n".join(f"  {i}  {n}" for i, n in accounts)
    who = data.get("email") or data.get("authType") or "this login"
    if wanted:
        chosen = [a for a in accounts if a[0] == wanted]
        if not chosen:
            stop(f"CLOUDFLARE_ACCOUNT_ID={wanted} is not an account {who} can use:\n{listing}")
    elif len(accounts) == 1:
        chosen = accounts
    elif not accounts:
        stop(f"{who} has no Cloudflare account")
    else:
        stop(
            f"{who} can use several accounts: set CLOUDFLARE_ACCOUNT_ID in .env to one of\n"
            + listing
        )
    print(f"{chosen[0][0]}\t{chosen[0][1]}\t{who}")


def cmd_kv_find(path, title, current):
    """The namespace id to use: the one in wrangler.toml if it exists, else by title."""
    data = load_json(path, "wrangler kv namespace list")
    if not isinstance(data, list):
        stop("wrangler kv namespace list did not print a list")
    namespaces = [n for n in data if isinstance(n, dict) and n.get("id")]
    if current and current != PLACEHOLDER and any(n["id"] == current for n in namespaces):
        print(current)
        return
    print(next((n["id"] for n in namespaces if n.get("title") == title), ""))


def cmd_kv_title(path, namespace_id):
    data = load_json(path, "wrangler kv namespace list")
    titles = [n.get("title") for n in data if isinstance(n, dict) and n.get("id") == namespace_id]
    if not titles:
        sys.exit(1)
    print(titles[0])


def cmd_hyperdrive_table(path, name):
    """The id of the configuration called `name` in `wrangler hyperdrive list`'s table
    (wrangler has no JSON listing for Hyperdrive; deploy.sh confirms the id with
    `wrangler hyperdrive get`, which prints JSON)."""
    text = text_of(path)
    if "Listing Hyperdrive configs" not in text and "│" not in text:
        stop(f"wrangler hyperdrive list printed no table:\n{text.strip()[-600:]}")
    header = None
    for line in text.splitlines():
        line = line.strip()
        if not line.startswith("│"):
            continue
        cells = [c.strip() for c in line.strip("│").split("│")]
        if header is None:
            header = cells
            continue
        row = dict(zip(header, cells, strict=False))
        if row.get("name") == name and HEX_ID.match(row.get("id", "")):
            print(row["id"])
            return
    print("")


def cmd_hyperdrive_origin(path):
    data = load_json(path, "wrangler hyperdrive get")
    if not isinstance(data, dict) or not data.get("id"):
        stop("wrangler hyperdrive get did not describe a configuration")
    origin = data.get("origin") or {}
    fields = [
        data.get("id"),
        data.get("name"),
        origin.get("host"),
        origin.get("port"),
        origin.get("database"),
        origin.get("user"),
    ]
    print("\t".join("" if f is None else str(f) for f in fields))


def cmd_deploy_url(path, worker):
    """The workers.dev URL from the `deploy` entry wrangler writes to
    WRANGLER_OUTPUT_FILE_PATH (ND-JSON), not from its log text."""
    url = ""
    file = Path(path)
    for line in file.read_text().splitlines() if file.exists() else []:
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            continue
        if entry.get("type") == "deploy" and entry.get("worker_name") == worker:
            targets = [str(t) for t in entry.get("targets") or []]
            url = next((t for t in targets if re.match(r"^https://[^/\s]+\.workers\.dev$", t)), "")
    print(url)


def cmd_secrets_check(path, worker):
    data = load_json(path, f"wrangler secret list --name {worker}")
    names = {str(s.get("name")) for s in data if isinstance(s, dict)}
    required, groups, allowed = WORKER_SECRETS[worker]
    missing = [n for n in required if n not in names]
    if groups and not any(all(n in names for n in group) for group in groups):
        missing.append(" or ".join("+".join(g) for g in groups))
    if missing:
        print(f"FAIL\t{worker}: missing secrets {', '.join(missing)} (./deploy.sh sets them)")
    else:
        present = sorted(n for n in names if n in SECRETS)
        print(f"PASS\t{worker}: secrets {', '.join(present)}")
    strays = sorted(n for n in names if n in SECRETS and n not in allowed)
    if strays:
        print(
            f"WARN\t{worker}: {', '.join(strays)} set on a worker that does not use it "
            f"(`npx wrangler secret delete NAME --name {worker}`)"
        )


# --- wrangler.toml --------------------------------------------------------------------------


def blocks(lines, table):
    """(start, end) line ranges of each [[table]] in a TOML file."""
    found, start = [], None
    for i, line in enumerate(lines):
        stripped = line.split("#", 1)[0].strip()
        if stripped.startswith("["):
            if start is not None:
                found.append((start, i))
                start = None
            if stripped == f"[[{table}]]":
                start = i
    if start is not None:
        found.append((start, len(lines)))
    return found


def cmd_toml_id(path, table, binding):
    config = tomllib.loads(Path(path).read_text())
    for entry in config.get(table, []):
        if entry.get("binding") == binding:
            print(entry.get("id", ""))
            return
    print("")


def cmd_toml_set_id(path, table, binding, new_id, comment):
    """Point the [[table]] whose binding is `binding` at `new_id`; only its id line changes."""
    file = Path(path)
    text = file.read_text()
    lines = text.splitlines(keepends=True)
    binding_line = re.compile(rf'^\s*binding\s*=\s*"{re.escape(binding)}"')
    id_line = re.compile(r"^(\s*)id\s*=")
    for start, end in blocks(lines, table):
        block = lines[start:end]
        if not any(binding_line.match(line) for line in block):
            continue
        new_line = f'id = "{new_id}"' + (f" # {comment}" if comment else "") + "\n"
        for i in range(start, end):
            match = id_line.match(lines[i])
            if match:
                lines[i] = match.group(1) + new_line
                break
        else:
            at = next(i for i in range(start, end) if binding_line.match(lines[i]))
            lines.insert(at + 1, new_line)
        updated = "".join(lines)
        if updated == text:
            print("unchanged")
            return
        parsed = tomllib.loads(updated)
        ids = [e.get("id") for e in parsed.get(table, []) if e.get("binding") == binding]
        if ids != [new_id]:
            stop(f"{path}: could not write the {binding} id safely; edit it by hand")
        file.write_text(updated)
        print("changed")
        return
    print("absent")


def cmd_toml_var(path, name):
    print(tomllib.loads(Path(path).read_text()).get("vars", {}).get(name, ""))


def cmd_toml_check(root):
    """Verdicts on the three configs: bindings present, no placeholder ids, ids shared."""
    ids = {"kv_namespaces": {}, "hyperdrive": {}}
    for package, (name, objects, kv, hyperdrive, services) in BINDINGS.items():
        path = Path(root) / package / "wrangler.toml"
        where = f"{package}/wrangler.toml"
        try:
            config = tomllib.loads(path.read_text())
        except (OSError, tomllib.TOMLDecodeError) as exc:
            print(f"FAIL\t{where}: cannot read it ({exc})")
            continue
        problems = []
        if config.get("name") != name:
            problems.append(f"name is {config.get('name')!r}, not {name!r}")
        objects_declared = (config.get("durable_objects") or {}).get("bindings", [])
        declared = {b.get("name") for b in objects_declared}
        problems += [f"no Durable Object binding {b}" for b in objects if b not in declared]
        for table, wanted, what in (
            ("kv_namespaces", kv, "KV"),
            ("hyperdrive", hyperdrive, "Hyperdrive"),
        ):
            entries = {e.get("binding"): e for e in config.get(table, [])}
            for binding in wanted:
                entry = entries.get(binding)
                if entry is None:
                    problems.append(f"no {what} binding {binding}")
                elif not entry.get("id") or entry.get("id") == PLACEHOLDER:
                    problems.append(
                        f"{what} {binding} still has the placeholder id "
                        "(run ./deploy.sh, or see manual-setup.md)"
                    )
                elif not HEX_ID.match(str(entry["id"])):
                    problems.append(f"{what} {binding} id {entry['id']!r} is not a 32-hex id")
                else:
                    ids[table].setdefault(entry["id"], []).append(package)
        bound = {s.get("binding"): s.get("service") for s in config.get("services", [])}
        for binding, service in services.items():
            if bound.get(binding) != service:
                problems.append(f"no service binding {binding} -> {service}")
        if problems:
            print(f"FAIL\t{where}: " + "; ".join(problems))
        else:
            print(f"PASS\t{where}: bindings present, real ids")
    for table, what in (("kv_namespaces", "KV SYNC_CACHE"), ("hyperdrive", "HYPERDRIVE")):
        if len(ids[table]) > 1:
            listing = ", ".join(f"{i} ({'+'.join(p)})" for i, p in ids[table].items())
            print(f"FAIL\tthe workers disagree on the {what} id: {listing}")
    for table in ids:
        for known in ids[table]:
            print(f"ID\t{table}\t{known}")


# --- HTTP -----------------------------------------------------------------------------------


class Reply:
    def __init__(self, status=None, content_type="", body=b"", error=None):
        self.status, self.content_type, self.body, self.error = status, content_type, body, error

    def json(self):
        if "json" not in self.content_type:
            return None
        try:
            value = json.loads(self.body)
        except ValueError:
            return None
        return value if isinstance(value, dict) else None

    def describe(self):
        """What came back, when it is not what a check wanted."""
        if self.error:
            return f"no answer ({self.error})"
        text = self.body.decode(errors="replace")
        if "html" in self.content_type or text.lstrip().startswith("<"):
            title = re.search(r"<title>(.*?)</title>", text, re.IGNORECASE | re.DOTALL)
            what = (
                f"an HTML page ({' '.join(title.group(1).split())[:100]})"
                if title
                else ("an HTML page")
            )
            if re.search(r"\b1101\b", text):
                what += ": the Worker threw an exception (Cloudflare error 1101)"
            return f"HTTP {self.status}, {what}"
        body = self.json()
        if body and isinstance(body.get("error"), dict):
            error = body["error"]
            code = f" [{error.get('code')}]" if error.get("code") else ""
            return f"HTTP {self.status}: {error.get('message')}{code}"
        snippet = " ".join(text.split())[:120]
        return f"HTTP {self.status}, not the JSON expected: {snippet or '(empty body)'}"


def request(method, url, admin=False, timeout=20):
    """One HTTP request, redirects not followed (urllib is imported here: it is slow to
    import, and most helper commands never talk HTTP)."""
    import urllib.error
    import urllib.request

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None

    if not url.startswith(("https://", "http://")):
        return Reply(error=f"not an http(s) URL: {url}")
    headers = {"Accept": "application/json", "User-Agent": "keap-supabase-sync-deploy"}
    if admin:
        headers["Authorization"] = "Bearer " + os.environ.get("ADMIN_TOKEN", "")
    data = b"" if method == "POST" else None
    req = urllib.request.Request(url, data=data, method=method, headers=headers)  # noqa: S310
    opener = urllib.request.build_opener(NoRedirect)
    try:
        with opener.open(req, timeout=timeout) as response:
            return Reply(response.status, response.headers.get("content-type", ""), response.read())
    except urllib.error.HTTPError as exc:
        return Reply(exc.code, exc.headers.get("content-type", ""), exc.read())
    except (urllib.error.URLError, OSError, ValueError) as exc:
        return Reply(error=str(getattr(exc, "reason", exc)))


def admin_problem(reply, worker):
    if reply.status == 401:
        return (
            f"{worker} refused the ADMIN_TOKEN in .env (401): the worker has another "
            "one; ./deploy.sh sets it again"
        )
    body = reply.json() or {}
    message = str((body.get("error") or {}).get("message", ""))
    if reply.status == 503 and "ADMIN_TOKEN" in message:
        return f"{worker} has no ADMIN_TOKEN secret (./deploy.sh sets it)"
    return None


def probe_health(base):
    """The public /health: each check's name with ok or fail (the errors themselves are at
    /health/detail, for the admin)."""
    reply = request("GET", base + "/health")
    body = reply.json()
    checks = (body or {}).get("checks") or {}
    summary = ", ".join(f"{n} {s}" for n, s in checks.items())
    if reply.status == 200 and body and body.get("status") == "healthy":
        return "PASS", f"healthy ({summary or 'no checks reported'})"
    if body and body.get("status") in ("degraded", "unhealthy", "healthy"):
        broken = [f"{n} {s}" for n, s in checks.items() if s != "ok"]
        return "FAIL", (
            f"HTTP {reply.status}, {body.get('status')}: "
            + (", ".join(broken) or summary or "no detail")
            + " (the errors: GET /health/detail with the admin token)"
        )
    return "FAIL", reply.describe()


def probe_oauth(base):
    reply = request("GET", base + "/oauth/status", admin=True)
    problem = admin_problem(reply, "sync-coordinator")
    body = reply.json()
    connection = (body or {}).get("connection")
    if problem or reply.status != 200 or not isinstance(connection, dict):
        return "FAIL", problem or reply.describe()
    state = connection.get("state")
    if state == "connected":
        tenant = connection.get("tenant") or "Keap"
        return "PASS", (
            f"connected to {tenant}; access token valid until {connection.get('access_expires_at')}"
        )
    if state == "reauthorization_required":
        return "FAIL", (
            "Keap refused the account's grant (invalid_grant): reconnect with "
            f"GET {base}/oauth/initiate (admin token), see manual-setup.md"
        )
    if connection.get("auth") == "api_key":
        return "PASS", "not connected over OAuth; using KEAP_API_KEY"
    return "WARN", (
        f"no Keap account connected yet: GET {base}/oauth/initiate with the admin "
        "token and open the authorize_url it returns (manual-setup.md)"
    )


def probe_initiate(base):
    reply = request("GET", base + "/oauth/initiate", admin=True)
    body = reply.json() or {}
    if reply.status in (200, 302) and body.get("authorize_url"):
        return "PASS", body["authorize_url"]
    return "FAIL", admin_problem(reply, "sync-coordinator") or reply.describe()


def not_connected(reply):
    code = str(((reply.json() or {}).get("error") or {}).get("code", ""))
    return reply.status == 409 and code == "not_connected"


def probe_hooks(base):
    reply = request("GET", base + "/hooks", admin=True)
    body = reply.json()
    if not_connected(reply):
        return "WARN", "hooks not checked: no Keap account connected yet"
    hooks = (body or {}).get("hooks")
    if reply.status != 200 or not isinstance(hooks, list):
        return "FAIL", admin_problem(reply, "sync-coordinator") or reply.describe()
    if not hooks:
        return "WARN", (
            f"no REST hooks registered: POST {base}/hooks/register "
            "(or REGISTER_HOOKS=true ./deploy.sh)"
        )
    by_status = {}
    for hook in hooks:
        by_status.setdefault(str(hook.get("status")), []).append(str(hook.get("eventKey")))
    counts = ", ".join(f"{len(keys)} {status}" for status, keys in sorted(by_status.items()))
    inactive = by_status.get("Inactive", []) + by_status.get("Unverified", [])
    if inactive:
        return "FAIL", (
            f"{counts}; not delivering: {', '.join(sorted(inactive))} "
            f"(re-verify: POST {base}/hooks/reverify)"
        )
    return "PASS", f"{len(hooks)} hooks, {counts}"


def probe_register(base):
    reply = request("POST", base + "/hooks/register", admin=True, timeout=120)
    if not_connected(reply):
        return "WARN", (
            "hooks not registered: no Keap account connected yet; connect it, "
            "then run ./deploy.sh again"
        )
    hooks = (reply.json() or {}).get("hooks")
    if reply.status != 200 or not isinstance(hooks, list):
        return "FAIL", admin_problem(reply, "sync-coordinator") or reply.describe()
    results = {}
    for hook in hooks:
        results.setdefault(str(hook.get("result")), []).append(str(hook.get("eventKey")))
    summary = ", ".join(f"{len(k)} {r}" for r, k in sorted(results.items()))
    held = results.get("held_by_another_url")
    if held:
        return "WARN", f"{summary}; another URL holds {', '.join(held)} in Keap"
    return "PASS", summary or "nothing to register"


def probe_sync(base):
    reply = request("GET", base + "/sync/status", admin=True)
    body = reply.json()
    status = (body or {}).get("status")
    if reply.status != 200 or not isinstance(status, dict):
        return "FAIL", admin_problem(reply, "sync-worker") or reply.describe()
    if status.get("database_error"):
        return "FAIL", f"the database is not reachable: {status['database_error']}"
    runs = [r for r in status.get("runs") or [] if isinstance(r, dict)]
    if not runs:
        return "WARN", (
            f"no sync run yet (the cron runs every 30 minutes; POST {base}/sync/full starts one)"
        )
    last = max(runs, key=lambda r: str(r.get("started_at") or ""))
    when = last.get("finished_at") or last.get("started_at")
    line = f"last run {last.get('kind')} {last.get('status')} at {when}"
    if last.get("status") == "failed":
        errors = "; ".join(str(e) for e in last.get("errors") or []) or "no detail"
        return "FAIL", f"{line}: {errors}"
    return "PASS", line


PROBES = {
    "health": probe_health,
    "oauth": probe_oauth,
    "initiate": probe_initiate,
    "hooks": probe_hooks,
    "register": probe_register,
    "sync": probe_sync,
}


def cmd_probe(kind, base, wait="0"):
    deadline = time.monotonic() + float(wait)
    while True:
        verdict, message = PROBES[kind](base.rstrip("/"))
        if verdict == "PASS" or time.monotonic() >= deadline:
            break
        time.sleep(2)
    print(f"{verdict}\t{message}")


COMMANDS = {
    "dsn-check": cmd_dsn_check,
    "env-set": cmd_env_set,
    "secrets-json": cmd_secrets_json,
    "hook-url": cmd_hook_url,
    "whoami": cmd_whoami,
    "kv-find": cmd_kv_find,
    "kv-title": cmd_kv_title,
    "hyperdrive-table": cmd_hyperdrive_table,
    "hyperdrive-origin": cmd_hyperdrive_origin,
    "deploy-url": cmd_deploy_url,
    "secrets-check": cmd_secrets_check,
    "toml-id": cmd_toml_id,
    "toml-set-id": cmd_toml_set_id,
    "toml-var": cmd_toml_var,
    "toml-check": cmd_toml_check,
    "probe": cmd_probe,
}

COMMANDS[sys.argv[1]](*sys.argv[2:])
