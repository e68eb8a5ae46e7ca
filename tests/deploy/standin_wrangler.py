"""A stand-in for `wrangler` (v4) and the Cloudflare account behind it, for the deploy tests.

Cloudflare cannot be reached from the tests, so this script plays both wrangler and the
account: it answers the commands deploy.sh and validate-deployment.sh run, in the output
formats of wrangler 4.86.0 (the version package.json pins; the formats were read from its
`wrangler-dist/cli.js`):

- `--version`                              the bare version (`4.86.0`)
- `whoami --json`                          `logger.json`: JSON, 4-space indent; `{"loggedIn":false}`
                                           and exit 1 when not logged in
- `kv namespace list`                      JSON array, 2-space indent, no banner
- `kv namespace create <title>`            banner, "Resource location: remote", the JSON snippet
- `hyperdrive list`                        banner, "📋 Listing Hyperdrive configs", then a
                                           cli-table3 table (Hyperdrive has no JSON listing)
- `hyperdrive get <id>`                    banner, then JSON (2-space indent)
- `hyperdrive create <name> --connection-string ...`, `hyperdrive update <id> ...`
- `secret bulk [--name W]` (JSON on stdin), `secret put K --name W` (value on stdin)
- `secret list --name W [--format json]`   JSON array of {name, type}, 2-space indent
- `deploy [--config C] [--var K:V]... [--dry-run]`: the bindings table, "Uploaded ...",
  "Deployed ... triggers", the workers.dev URL, "Current Version ID: ..." and, when
  WRANGLER_OUTPUT_FILE_PATH is set, the ND-JSON `wrangler-session` and `deploy` entries.

Errors go to stderr as wrangler prints them (`✘ [ERROR] ...`) with exit status 1.

Environment:
    STANDIN_WRANGLER_STATE    JSON file with the account's state (created if missing), so a
                              second run sees what the first created
    STANDIN_WRANGLER_LOG      JSON-lines file: one entry per call (argv, cwd, stdin with every
                              secret value replaced by a SHA-256 prefix, exit status)
    STANDIN_WRANGLER_FAIL     comma-separated commands to fail (e.g. `hyperdrive create`)
    STANDIN_WRANGLER_VERSION  the version to claim (default 4.86.0)
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import sys
import time
import tomllib
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

VERSION = os.environ.get("STANDIN_WRANGLER_VERSION", "4.86.0")
BOOLEAN_FLAGS = {
    "--json",
    "--dry-run",
    "--caching-disabled",
    "--preview",
    "--keep-vars",
    "--update-config",
    "--minify",
    "--latest",
    "--help",
    "--version",
}
DEFAULT_STATE: dict[str, Any] = {
    "logged_in": True,
    "auth_type": "OAuth Token",
    "email": "ops@example.com",
    "accounts": [{"id": "0123456789abcdef0123456789abcdef", "name": "Example Co"}],
    "subdomain": "example-co",
    "kv_namespaces": [],
    "hyperdrive": [],
    "workers": {},
}


class WranglerError(Exception):
    """What wrangler reports as `✘ [ERROR] <message>` before exiting with status 1."""


def sha(value: str) -> str:
    return "sha256:" + hashlib.sha256(value.encode()).hexdigest()[:16]


def mask_connection_string(value: str) -> str:
    parts = urlsplit(value)
    if parts.password is None:
        return value
    return value.replace(f":{parts.password}@", f":{sha(unquote(parts.password))}@", 1)


def masked_argv(argv: list[str]) -> list[str]:
    """argv with database passwords replaced by a hash (nothing else is ever masked)."""
    out, previous = [], ""
    for arg in argv:
        shown = arg
        if previous == "--connection-string":
            shown = mask_connection_string(arg)
        elif previous == "--origin-password":
            shown = sha(arg)
        elif arg.startswith("--connection-string="):
            shown = "--connection-string=" + mask_connection_string(arg.split("=", 1)[1])
        elif arg.startswith("--origin-password="):
            shown = "--origin-password=" + sha(arg.split("=", 1)[1])
        out.append(shown)
        previous = arg
    return out


def parse(argv: list[str]) -> tuple[list[str], dict[str, list[str]]]:
    """Positional words and flags (`--x v`, `--x=v`, boolean flags), like yargs."""
    words: list[str] = []
    flags: dict[str, list[str]] = {}
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg.startswith("--"):
            name, eq, value = arg.partition("=")
            if not eq:
                if name in BOOLEAN_FLAGS:
                    value = "true"
                elif i + 1 < len(argv):
                    i += 1
                    value = argv[i]
                else:
                    raise WranglerError(f"Not enough arguments following: {name[2:]}")
            flags.setdefault(name[2:], []).append(value)
        elif arg == "-v":
            flags.setdefault("version", []).append("true")
        else:
            words.append(arg)
        i += 1
    return words, flags


def flag(flags: dict[str, list[str]], name: str) -> str | None:
    values = flags.get(name)
    return values[-1] if values else None


@contextlib.contextmanager
def account_state() -> Iterator[dict[str, Any]]:
    """The account's state, locked for the call and saved after it."""
    path = Path(os.environ.get("STANDIN_WRANGLER_STATE", "standin-wrangler-state.json"))
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_suffix(path.suffix + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        state = (
            json.loads(path.read_text()) if path.exists() else json.loads(json.dumps(DEFAULT_STATE))
        )
        yield state
        path.write_text(json.dumps(state, indent=2, sort_keys=True))


def banner() -> None:
    title = f" ⛅️ wrangler {VERSION}"
    print(f"\n{title}\n{'─' * (len(title) + 1)}")


def table(rows: list[dict[str, str]]) -> str:
    """cli-table3 as wrangler's `logger.table` draws it (no colour)."""
    if not rows:
        return "┌┐\n└┘"
    head = list(rows[0])
    cells = [head] + [[str(row[k]) for k in head] for row in rows]
    widths = [max(len(r[i]) for r in cells) + 2 for i in range(len(head))]

    def line(left: str, mid: str, right: str) -> str:
        return left + mid.join("─" * w for w in widths) + right

    def row(values: list[str]) -> str:
        return "│" + "│".join(f" {v}".ljust(w) for v, w in zip(values, widths, strict=True)) + "│"

    out = [line("┌", "┬", "┐"), row(cells[0])]
    for values in cells[1:]:
        out += [line("├", "┼", "┤"), row(values)]
    out.append(line("└", "┴", "┘"))
    return "\n".join(out)


def api_error(path: str, message: str, code: int) -> WranglerError:
    return WranglerError(
        f"A request to the Cloudflare API ({path}) failed.\n\n  {message} [code: {code}]\n  \n"
        "  If you think this is a bug, please open an issue at: "
        "https://github.com/cloudflare/workers-sdk/issues/new/choose"
    )


def require_auth(state: dict[str, Any]) -> str:
    """The account id the command acts on, as wrangler's requireAuth picks it."""
    if not state["logged_in"]:
        raise WranglerError(
            "In a non-interactive environment, it's necessary to set a CLOUDFLARE_API_TOKEN "
            "environment variable for wrangler to work. Please go to "
            "https://developers.cloudflare.com/fundamentals/api/get-started/create-token/ for "
            "instructions on how to create an api token, and assign its value to "
            "CLOUDFLARE_API_TOKEN."
        )
    accounts = state["accounts"]
    wanted = os.environ.get("CLOUDFLARE_ACCOUNT_ID")
    if wanted:
        if not any(a["id"] == wanted for a in accounts):
            raise api_error(f"/accounts/{wanted}", "Authentication error", 10000)
        return wanted
    if len(accounts) == 1:
        return str(accounts[0]["id"])
    listing = "\n".join(f"  `{a['name']}`: `{a['id']}`" for a in accounts)
    raise WranglerError(
        "More than one account available but unable to select one in non-interactive mode.\n"
        "Please set the appropriate `account_id` in your Wrangler configuration file file or "
        "assign it to the `CLOUDFLARE_ACCOUNT_ID` environment variable.\n"
        f"Available accounts are (`<name>`: `<account_id>`):\n{listing}"
    )


def new_id() -> str:
    return uuid.uuid4().hex


# --- commands -------------------------------------------------------------------------------


def cmd_whoami(state: dict[str, Any], flags: dict[str, list[str]]) -> int:
    if flag(flags, "json"):
        if not state["logged_in"]:
            print(json.dumps({"loggedIn": False}, separators=(",", ":")))  # JSON.stringify
            return 1
        accounts = [
            {**a, "type": "standard", "settings": {"enforce_twofactor": False}}
            for a in state["accounts"]
        ]
        print(
            json.dumps(
                {
                    "loggedIn": True,
                    "authType": state["auth_type"],
                    "email": state["email"],
                    "accounts": accounts,
                    "tokenPermissions": ["account:read", "user:read", "workers:write"],
                },
                indent=4,
            )
        )
        return 0
    banner()
    print("Getting User settings...")
    if not state["logged_in"]:
        print("You are not authenticated. Please run `wrangler login`.")
        return 0
    print(
        f"👋 You are logged in with an {state['auth_type']}, associated with the email "
        f"{state['email']}."
    )
    print(table([{"Account Name": a["name"], "Account ID": a["id"]} for a in state["accounts"]]))
    return 0


def cmd_kv_namespace(state: dict[str, Any], words: list[str], flags: dict[str, list[str]]) -> int:
    account = require_auth(state)
    action = words[0] if words else ""
    if action == "list":
        namespaces = sorted(state["kv_namespaces"], key=lambda n: n["title"])
        print(json.dumps(namespaces, indent="  "))
        return 0
    if action == "create":
        if len(words) < 2:
            raise WranglerError("Not enough non-option arguments: got 0, need at least 1")
        title = words[1] + ("_preview" if flag(flags, "preview") else "")
        banner()
        print("Resource location: remote \n")
        print(f'🌀 Creating namespace with title "{title}"')
        if any(n["title"] == title for n in state["kv_namespaces"]):
            raise WranglerError(
                f'A KV namespace with the title "{title}" already exists.\n\n'
                "You can list existing namespaces with their IDs by running:\n"
                "  wrangler kv namespace list\n\nOr choose a different namespace name."
            )
        namespace_id = new_id()
        state["kv_namespaces"].append(
            {"id": namespace_id, "title": title, "supports_url_encoding": True}
        )
        binding = re.sub(r"[^a-zA-Z0-9_]", "", re.sub(r"[\s-]", "_", words[1]))
        print("✨ Success!")
        print(
            "To access your new KV Namespace in your Worker, add the following snippet to your "
            "configuration file:"
        )
        snippet = {"kv_namespaces": [{"binding": binding, "id": namespace_id}]}
        print(json.dumps(snippet, indent=2))
        return 0
    raise WranglerError(f"Unknown argument: {action} (account {account})")


def origin_from_connection_string(value: str) -> dict[str, Any]:
    """wrangler's getOriginFromArgs, with its messages."""
    parts = urlsplit(value)
    scheme = parts.scheme.lower()
    if not scheme.startswith(("postgres", "mysql")):
        raise WranglerError(
            "Only PostgreSQL-compatible or MySQL-compatible databases are currently supported."
        )
    if not parts.hostname:
        raise WranglerError(
            "You must provide a hostname or IP address in your connection string - e.g. "
            "'user:password@database-hostname.example.com:5432/databasename"
        )
    port = parts.port or (5432 if scheme.startswith("postgres") else 3306)
    if not parts.path.strip("/"):
        raise WranglerError(
            "You must provide a database name as the path component - e.g. "
            "example.com:port/databasename"
        )
    if not parts.username:
        raise WranglerError(
            "You must provide a username - e.g. 'user:password@database.example.com:port/"
            "databasename'"
        )
    if not parts.password:
        raise WranglerError(
            "You must provide a password - e.g. 'user:password@database.example.com:port/"
            "databasename' "
        )
    return {
        "host": parts.hostname,
        "port": port,
        "scheme": scheme,
        "database": unquote(parts.path.lstrip("/")),
        "user": unquote(parts.username),
        "password_sha": sha(unquote(parts.password)),
    }


def public_config(config: dict[str, Any]) -> dict[str, Any]:
    origin = {k: v for k, v in config["origin"].items() if k != "password_sha"}
    return {**config, "origin": origin}


def cmd_hyperdrive(state: dict[str, Any], words: list[str], flags: dict[str, list[str]]) -> int:
    action = words[0] if words else ""
    if action in ("create", "update"):
        connection = flag(flags, "connection-string")
        origin = origin_from_connection_string(connection) if connection else None
    account = require_auth(state)
    configs: list[dict[str, Any]] = state["hyperdrive"]
    if action == "list":
        banner()
        print("📋 Listing Hyperdrive configs")
        rows = [
            {
                "id": c["id"],
                "name": c["name"],
                "user": c["origin"]["user"],
                "host": c["origin"]["host"],
                "port": str(c["origin"]["port"]),
                "scheme": "PostgreSQL",
                "database": c["origin"]["database"],
                "caching": json.dumps(c["caching"]),
                "mtls": "undefined",
                "origin_connection_limit": "",
            }
            for c in configs
        ]
        print(table(rows))
        return 0
    if action == "get":
        config = next((c for c in configs if c["id"] == (words[1:] or [""])[0]), None)
        if config is None:
            path = f"/accounts/{account}/hyperdrive/configs/{(words[1:] or [''])[0]}"
            raise api_error(path, "Not Found", 2001)
        banner()  # `hyperdrive get` prints the banner before its JSON
        print(json.dumps(public_config(config), indent=2))
        return 0
    if action == "create":
        name = words[1] if len(words) > 1 else ""
        banner()
        print(f"🚧 Creating '{name}'")
        if origin is None:
            raise WranglerError(
                "You must specify the database protocol as --origin-scheme - e.g. 'postgresql'"
            )
        if any(c["name"] == name for c in configs):
            path = f"/accounts/{account}/hyperdrive/configs"
            raise api_error(path, f"A Hyperdrive config named '{name}' already exists", 2017)
        config = {
            "id": new_id(),
            "name": name,
            "origin": origin,
            "caching": {"disabled": bool(flag(flags, "caching-disabled"))},
        }
        configs.append(config)
        print(f"✅ Created new Hyperdrive PostgreSQL config: {config['id']}")
        print(
            "To access your new Hyperdrive Config in your Worker, add the following snippet to "
            "your configuration file:"
        )
        snippet = {"hyperdrive": [{"binding": "HYPERDRIVE", "id": config["id"]}]}
        print(json.dumps(snippet, indent=2))
        return 0
    if action == "update":
        config_id = words[1] if len(words) > 1 else ""
        config = next((c for c in configs if c["id"] == config_id), None)
        banner()
        print(f"🚧 Updating '{config_id}'")
        if config is None:
            raise api_error(
                f"/accounts/{account}/hyperdrive/configs/{config_id}", "Not Found", 2001
            )
        if origin is not None:
            config["origin"] = origin
        if flag(flags, "caching-disabled"):
            config["caching"] = {"disabled": True}
        print(
            f"✅ Updated {config_id} Hyperdrive config\n",
            json.dumps(public_config(config), indent=2),
        )
        return 0
    raise WranglerError(f"Unknown argument: {action}")


def worker(state: dict[str, Any], name: str) -> dict[str, Any] | None:
    return state["workers"].get(name)


def draft_worker(state: dict[str, Any], name: str) -> dict[str, Any]:
    print(f'🌀 Creating new Worker "{name}"...')
    state["workers"][name] = {"secrets": {}, "vars": {}, "versions": 1, "deployed": False}
    return state["workers"][name]


def cmd_secret(
    state: dict[str, Any], words: list[str], flags: dict[str, list[str]], entry: dict[str, Any]
) -> int:
    action = words[0] if words else ""
    name = flag(flags, "name")
    if not name:
        raise WranglerError(
            "Required Worker name missing. Please specify the Worker name in your wrangler.toml "
            "file, or pass it as an argument with `--name <worker-name>`"
        )
    account = require_auth(state)
    if action == "list":
        found = worker(state, name)
        if found is None:
            raise WranglerError(
                f'Worker "{name}" not found.\n\nIf this is a new Worker, run `wrangler deploy` '
                "first to create it.\nOtherwise, check that the Worker name is correct and you're "
                "logged into the right account."
            )
        if flag(flags, "format") == "pretty":
            banner()
            for secret in sorted(found["secrets"]):
                print(f"Secret Name: {secret}\n")
            return 0
        listing = [{"name": s, "type": "secret_text"} for s in sorted(found["secrets"])]
        print(json.dumps(listing, indent="  "))
        return 0
    if action == "bulk":
        banner()
        print(f'🌀 Creating the secrets for the Worker "{name}" ')
        raw = "".join(sys.stdin.read().splitlines())
        try:
            content = json.loads(raw)
        except json.JSONDecodeError:
            entry["stdin"] = {"unparsed_sha": sha(raw)}
            print("🚨 No content found in file, or piped input.", file=sys.stderr)
            return 0  # as wrangler does
        entry["stdin"] = {k: sha(str(v)) for k, v in content.items()}
        found = worker(state, name) or draft_worker(state, name)
        for key, value in content.items():
            found["secrets"][key] = sha(str(value))
            print(f"✨ Successfully created secret for key: {key}")
        found["versions"] += 1
        print("\nFinished processing secrets file:")
        print(f"✨ {len(content)} secrets successfully uploaded")
        return 0
    if action == "put":
        key = words[1] if len(words) > 1 else ""
        value = sys.stdin.read().rstrip()
        entry["stdin"] = {key: sha(value)}
        banner()
        print(f'🌀 Creating the secret for the Worker "{name}" ')
        found = worker(state, name) or draft_worker(state, name)
        found["secrets"][key] = sha(value)
        found["versions"] += 1
        print(f"✨ Success! Uploaded secret {key}")
        return 0
    raise WranglerError(f"Unknown argument: {action} (account {account})")


def binding_rows(config: dict[str, Any], variables: dict[str, str]) -> list[tuple[str, str]]:
    rows = []
    for binding in (config.get("durable_objects") or {}).get("bindings", []):
        rows.append((f"env.{binding['name']} ({binding['class_name']})", "Durable Object"))
    for binding in config.get("kv_namespaces", []):
        rows.append((f"env.{binding['binding']} ({binding.get('id')})", "KV Namespace"))
    for binding in config.get("hyperdrive", []):
        rows.append((f"env.{binding['binding']} ({binding.get('id')})", "Hyperdrive Config"))
    for binding in config.get("services", []):
        rows.append((f"env.{binding['binding']} ({binding['service']})", "Worker"))
    for binding in (config.get("unsafe") or {}).get("bindings", []):
        rows.append((f"env.{binding['name']} ({binding['type']})", "Unsafe Metadata"))
    for key, value in variables.items():
        shown = value if key in config.get("vars", {}) else "(hidden)"
        rows.append((f'env.{key} ("{shown}")', "Environment Variable"))
    return rows


def write_output(entry: dict[str, Any]) -> None:
    path = os.environ.get("WRANGLER_OUTPUT_FILE_PATH")
    if path:
        stamped = {**entry, "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())}
        with open(path, "a") as f:
            f.write(json.dumps(stamped) + "\n")


def cmd_deploy(state: dict[str, Any], argv: list[str], flags: dict[str, list[str]]) -> int:
    config_path = Path(flag(flags, "config") or "wrangler.toml")
    if not config_path.is_file():
        raise WranglerError(
            "Missing entry-point to Worker script or to assets directory\n\n"
            "If there is code to deploy, you can either:\n"
            "- Specify an entry-point to your Worker script via the command line "
            "(ex: `npx wrangler deploy src/index.ts`)"
        )
    write_output(
        {
            "type": "wrangler-session",
            "version": 1,
            "wrangler_version": VERSION,
            "command_line_args": argv,
            "log_file_path": "/dev/null",
        }
    )
    config = tomllib.loads(config_path.read_text())
    name = config["name"]
    main = config_path.parent / config["main"]
    if not main.is_file():
        raise WranglerError(f'The entry-point file at "{config["main"]}" was not found.')
    variables = {k: str(v) for k, v in (config.get("vars") or {}).items()}
    for pair in flags.get("var", []):
        key, _, value = pair.partition(":")
        variables[key] = value
    banner()
    print("Total Upload: 214.09 KiB / gzip: 56.30 KiB")
    print("Your Worker has access to the following bindings:")
    rows = binding_rows(config, variables)
    width = max(len(r[0]) for r in rows) + 3
    print("Binding".ljust(width) + "Resource")
    for binding, resource in rows:
        print(binding.ljust(width) + resource)
    print()
    if flag(flags, "dry-run"):
        print("--dry-run: exiting now.")
        write_output(
            {
                "type": "deploy",
                "version": 1,
                "worker_name": name,
                "worker_tag": None,
                "version_id": None,
                "worker_name_overridden": False,
            }
        )
        return 0
    account = require_auth(state)
    upload_path = f"/accounts/{account}/workers/scripts/{name}/versions"
    known_kv = {n["id"] for n in state["kv_namespaces"]}
    for binding in config.get("kv_namespaces", []):
        if binding.get("id") not in known_kv:
            raise api_error(upload_path, f"KV namespace '{binding.get('id')}' is not valid.", 10041)
    known_hyperdrive = {c["id"] for c in state["hyperdrive"]}
    for binding in config.get("hyperdrive", []):
        if binding.get("id") not in known_hyperdrive:
            raise api_error(
                upload_path,
                f"Hyperdrive config '{binding.get('id')}' is not valid. Ensure the id is correct.",
                10021,
            )
    for binding in config.get("services", []):
        target = worker(state, binding["service"])
        if target is None or not target.get("deployed"):
            raise api_error(
                upload_path,
                f"Could not resolve service binding '{binding['binding']}'. Target script "
                f"'{binding['service']}' not found.",
                10143,
            )
    if not state.get("subdomain"):
        print(
            "▲ [WARNING] You need to register a workers.dev subdomain before publishing to "
            "workers.dev",
            file=sys.stderr,
        )
        raise WranglerError(
            "You can either deploy your worker to one or more routes by specifying them in your "
            "wrangler.toml file, or register a workers.dev subdomain here:\n"
            f"https://dash.cloudflare.com/{account}/workers/onboarding"
        )
    found = worker(state, name) or {"secrets": {}, "vars": {}, "versions": 0}
    found.update(
        {
            "deployed": True,
            "vars": variables,
            "kv_namespaces": [b.get("id") for b in config.get("kv_namespaces", [])],
            "hyperdrive": [b.get("id") for b in config.get("hyperdrive", [])],
            "compatibility_date": config.get("compatibility_date"),
            "versions": found["versions"] + 1,
        }
    )
    state["workers"][name] = found
    version_id = str(uuid.uuid4())
    print(f"Uploaded {name} (3.21 sec)")
    targets = [f"https://{name}.{state['subdomain']}.workers.dev"]
    targets += [f"schedule: {c}" for c in (config.get("triggers") or {}).get("crons", [])]
    print(f"Deployed {name} triggers (0.35 sec)")
    for target in targets:
        print(" ", target)
    print("Current Version ID:", version_id)
    write_output(
        {
            "type": "deploy",
            "version": 1,
            "worker_name": name,
            "worker_tag": uuid.uuid4().hex,
            "version_id": version_id,
            "targets": targets,
            "worker_name_overridden": False,
        }
    )
    return 0


def dispatch(argv: list[str], entry: dict[str, Any]) -> int:
    words, flags = parse(argv)
    if flag(flags, "version") and not words:
        print(VERSION)
        return 0
    command = " ".join(words[:3])
    for failing in filter(None, os.environ.get("STANDIN_WRANGLER_FAIL", "").split(",")):
        if command.startswith(failing.strip()):
            banner()
            raise api_error(
                "/accounts/0123456789abcdef0123456789abcdef/" + failing.strip().replace(" ", "/"),
                "Internal server error (a failure the test asked for)",
                10013,
            )
    with account_state() as state:
        if words[:1] == ["whoami"]:
            return cmd_whoami(state, flags)
        if words[:2] == ["kv", "namespace"]:
            return cmd_kv_namespace(state, words[2:], flags)
        if words[:1] == ["hyperdrive"]:
            return cmd_hyperdrive(state, words[1:], flags)
        if words[:1] == ["secret"]:
            return cmd_secret(state, words[1:], flags, entry)
        if words[:1] == ["deploy"]:
            return cmd_deploy(state, argv, flags)
    raise WranglerError(f"Unknown arguments: {' '.join(argv)}")


def main() -> int:
    argv = sys.argv[1:]
    entry: dict[str, Any] = {
        "argv": masked_argv(argv),
        "cwd": os.getcwd(),
        "account": os.environ.get("CLOUDFLARE_ACCOUNT_ID"),
        "output_file": bool(os.environ.get("WRANGLER_OUTPUT_FILE_PATH")),
    }
    try:
        status = dispatch(argv, entry)
    except WranglerError as exc:
        sys.stdout.flush()
        print(f"\n✘ [ERROR] {exc}\n\n", file=sys.stderr)
        print('🪵  Logs were written to "/dev/null"', file=sys.stderr)
        status = 1
    entry["exit"] = status
    log = os.environ.get("STANDIN_WRANGLER_LOG")
    if log:
        with open(log, "a") as f:
            f.write(json.dumps(entry) + "\n")
    return status


if __name__ == "__main__":
    sys.exit(main())
