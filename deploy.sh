#!/usr/bin/env bash
# Deploy keap-supabase-sync to Cloudflare: a KV namespace and a Hyperdrive configuration,
# their ids in the workers' wrangler.toml files, the database migrations, each worker's
# secrets, the three workers (coordinator first: the other two bind to it), health checks
# and, optionally, the Keap REST hook subscriptions. Driven by .env (see .env.example).
#
#   ./deploy.sh                     deploy
#   ./deploy.sh --dry-run           print every wrangler command it would run (secrets
#                                   masked) and change nothing; the read-only ones (whoami,
#                                   the listings) still run, to know what exists
#   ./deploy.sh --env-file FILE     read FILE instead of .env
#   ./deploy.sh --update-hyperdrive send the connection string to the existing Hyperdrive
#                                   configuration again (after a database password change)
#
# Safe to repeat: it reuses what exists, so a second run creates nothing and leaves the
# files as they are. It stops at the first failure and names the step. manual-setup.md is
# the same path by hand; ./validate-deployment.sh checks a deployment.
#
# From the environment (rarely needed): WRANGLER (the wrangler command; default
# node_modules/.bin/wrangler), PYTHON (default .venv/bin/python), DEPLOY_BUNDLE_ARGS (more
# tools/bundle.py options), HEALTH_TIMEOUT (seconds to wait for healthy workers; default 90).
# A variable set in the environment wins over the same one in .env.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PACKAGES=(sync_coordinator sync_worker webhook_handler)
WORKER_NAMES=(sync-coordinator sync-worker webhook-handler)
URL_SETTINGS=(COORDINATOR_URL SYNC_WORKER_URL WEBHOOK_HANDLER_URL)
PLACEHOLDER_ID=00000000000000000000000000000000
# What .env may set (anything else is reported and ignored).
ENV_SETTINGS=(
  CLOUDFLARE_ACCOUNT_ID CLOUDFLARE_API_TOKEN
  SUPABASE_DB_URL MIGRATIONS_DB_URL HYPERDRIVE_NAME KV_NAMESPACE_TITLE
  KEAP_CLIENT_ID KEAP_CLIENT_SECRET KEAP_API_KEY KEAP_REDIRECT_URI
  ADMIN_TOKEN KEAP_WEBHOOK_SECRET STATE_SECRET
  WORKERS_SUBDOMAIN COORDINATOR_URL SYNC_WORKER_URL WEBHOOK_HANDLER_URL
  REGISTER_HOOKS RUN_RETENTION_DAYS
)
# Which secrets each worker gets (and only those).
COORDINATOR_SECRETS=(ADMIN_TOKEN KEAP_CLIENT_ID KEAP_CLIENT_SECRET KEAP_API_KEY KEAP_WEBHOOK_SECRET STATE_SECRET)
SYNC_WORKER_SECRETS=(ADMIN_TOKEN)
WEBHOOK_HANDLER_SECRETS=(KEAP_WEBHOOK_SECRET)
TOTAL_STEPS=11

# --- output -----------------------------------------------------------------------------------

STEP=0
STEP_TITLE="start"
SECRET_VALUES=()
DRY_RUN=false

mask() { # mask TEXT: TEXT with every known secret value replaced by ****
  local text="$1" secret
  for secret in ${SECRET_VALUES[@]+"${SECRET_VALUES[@]}"}; do
    [ "${#secret}" -ge 4 ] && text="${text//"$secret"/****}"
  done
  printf '%s' "$text"
}

step() {
  STEP=$((STEP + 1))
  STEP_TITLE="$1"
  printf '\n[%s/%s] %s\n' "$STEP" "$TOTAL_STEPS" "$1"
}

info() { printf '    %s\n' "$(mask "$*")"; }
warn() { printf '    warning: %s\n' "$(mask "$*")" >&2; }

fail() { # fail MESSAGE: stop, naming the step
  printf '\nFAILED at step [%s/%s] %s:\n%s\n' "$STEP" "$TOTAL_STEPS" "$STEP_TITLE" \
    "$(mask "$*" | sed 's/^/    /')" >&2
  exit 1
}

display_path() { # a path relative to the repository when it is inside it
  case "$1" in
    "$ROOT"/*) printf '%s' "${1#"$ROOT"/}" ;;
    *) printf '%s' "$1" ;;
  esac
}

# --- Python: `helper` reads JSON, TOML and URLs and talks HTTP (its source ends this file) ---

find_python() {
  PY="${PYTHON:-$ROOT/.venv/bin/python}"
  if ! command -v "$PY" >/dev/null 2>&1; then
    fail "no Python at $PY: run ./dev-setup.sh (it makes .venv) or set PYTHON"
  fi
  if ! "$PY" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' 2>/dev/null; then
    fail "$PY is older than Python 3.11: run ./dev-setup.sh or set PYTHON"
  fi
}

# Shared with validate-deployment.sh: an absolute .env path and a scratch folder removed on exit.
prepare_run() {
  case "$ENV_FILE" in /*) ;; *) ENV_FILE="$PWD/$ENV_FILE" ;; esac
  WORK="$(mktemp -d)"
  trap 'rm -rf "$WORK"' EXIT
}

# JSON, TOML, URLs and HTTP live in tools/deploy_helper.py, so the shell never parses them.
helper() { DEPLOY_ROOT="$ROOT" "$PY" "$ROOT/tools/deploy_helper.py" "$@"; }

# --- .env -----------------------------------------------------------------------------------

known_setting() {
  local name="$1" known
  for known in "${ENV_SETTINGS[@]}"; do
    [ "$known" = "$name" ] && return 0
  done
  return 1
}

load_env() { # load_env FILE: KEY=VALUE lines, no shell expansion; the environment wins
  local file="$1" line key value number=0 shown
  shown="$(display_path "$1")"
  while IFS= read -r line || [ -n "$line" ]; do
    number=$((number + 1))
    line="${line%$'\r'}"
    [[ "$line" =~ ^[[:space:]]*(#.*)?$ ]] && continue
    if [[ ! "$line" =~ ^[[:space:]]*(export[[:space:]]+)?([A-Za-z_][A-Za-z0-9_]*)=(.*)$ ]]; then
      fail "$shown line $number is not KEY=VALUE"
    fi
    key="${BASH_REMATCH[2]}"
    value="${BASH_REMATCH[3]}"
    if [[ "$value" =~ ^\"(.*)\"[[:space:]]*$ ]] || [[ "$value" =~ ^\'(.*)\'[[:space:]]*$ ]]; then
      value="${BASH_REMATCH[1]}"
    else
      value="${value%%[[:space:]]#*}"
      value="${value%"${value##*[![:space:]]}"}"
    fi
    if ! known_setting "$key"; then
      warn "$shown: ignoring unknown setting $key"
      continue
    fi
    [ -n "${!key:-}" ] && continue # set in the environment
    printf -v "$key" '%s' "$value"
  done <"$file"
}

setting() { # setting NAME: its value, or nothing
  local name="$1"
  printf '%s' "${!name:-}"
}

check_dsn() { # check_dsn SETTING: stop if unusable, warn, set DSN_HOST DSN_PORT DSN_DATABASE DSN_USER
  local name="$1" kind rest password password_raw
  DSN="$(setting "$name")" helper dsn-check "$name" >"$WORK/dsn" 2>"$WORK/dsn.err" ||
    fail "$(cat "$WORK/dsn.err")"
  while IFS=$'\t' read -r kind rest; do
    case "$kind" in
      warn) warn "$rest" ;;
      parts)
        IFS=$'\t' read -r DSN_HOST DSN_PORT DSN_DATABASE DSN_USER password password_raw <<<"$rest"
        SECRET_VALUES+=("$password" "$password_raw")
        ;;
    esac
  done <"$WORK/dsn"
}

generate_secret() { # generate_secret NAME: a random value for an empty secret, kept in .env
  local name="$1" value
  [ -n "$(setting "$name")" ] && return 0
  value="$("$PY" -c 'import secrets; print(secrets.token_urlsafe(32))')"
  printf -v "$name" '%s' "$value"
  SECRET_VALUES+=("$value")
  if [ "$DRY_RUN" = true ]; then
    info "$name is empty: a new random value would be generated and written to $(display_path "$ENV_FILE")"
  else
    (export "${name?}" && helper env-set "$ENV_FILE" "$name") || fail "could not write $name into $ENV_FILE"
    info "$name was empty: generated a random value and wrote it to $(display_path "$ENV_FILE") (not shown)"
  fi
}

# --- wrangler -------------------------------------------------------------------------------

WRANGLER_CMD=()
WORK=""

find_wrangler() {
  if [ -n "${WRANGLER:-}" ]; then
    read -r -a WRANGLER_CMD <<<"$WRANGLER"
  elif [ -x "$ROOT/node_modules/.bin/wrangler" ]; then
    WRANGLER_CMD=("$ROOT/node_modules/.bin/wrangler")
  elif command -v wrangler >/dev/null 2>&1; then
    WRANGLER_CMD=(wrangler)
  else
    fail "wrangler is not installed: run ./dev-setup.sh (npm ci installs the version package.json pins)"
  fi
}

show_command() { # show_command [--would] ARGS...: print a wrangler command, secrets masked
  local prefix='$'
  if [ "$1" = --would ]; then
    prefix='[dry-run] would run:'
    shift
  fi
  info "$prefix wrangler $*"
}

# wrangler_run OUT ARGS...: run wrangler (stdin closed, no colours) in the scratch folder, so
# no wrangler.toml or .env of the repository is picked up; stdout to OUT, stderr to OUT.err.
wrangler_run() {
  local out="$1"
  shift
  show_command "$@"
  (cd "$WORK" && NO_COLOR=1 FORCE_COLOR=0 "${WRANGLER_CMD[@]}" "$@" </dev/null >"$out" 2>"$out.err")
}

# wrangler_change OUT ARGS...: a command that changes the account: only shown under --dry-run.
wrangler_change() {
  local out="$1"
  shift
  if [ "$DRY_RUN" = true ]; then
    show_command --would "$@"
    : >"$out"
    : >"$out.err"
    return 0
  fi
  wrangler_run "$out" "$@"
}

wrangler_output() { # wrangler_output OUT: the end of what a wrangler command printed
  cat "$1.err" "$1" 2>/dev/null | tr -d '\033' | sed -e 's/\[[0-9;]*m//g' | grep -v '^[[:space:]]*$' | tail -n 12
}

# --- the steps ------------------------------------------------------------------------------

step_configuration() {
  step "Configuration ($(display_path "$ENV_FILE"))"
  [ -f "$ENV_FILE" ] || fail "$(display_path "$ENV_FILE") not found: copy .env.example to .env and fill it in"
  load_env "$ENV_FILE"
  find_python

  MIGRATIONS_HOST=""
  if [ -n "${MIGRATIONS_DB_URL:-}" ]; then
    check_dsn MIGRATIONS_DB_URL
    MIGRATIONS_HOST="$DSN_HOST"
  fi
  check_dsn SUPABASE_DB_URL
  DB_ORIGIN="$(printf '%s\t%s\t%s\t%s' "$DSN_HOST" "$DSN_PORT" "$DSN_DATABASE" "$DSN_USER")"
  MIGRATIONS_HOST="${MIGRATIONS_HOST:-$DSN_HOST}"
  info "database: $DSN_USER@$DSN_HOST:$DSN_PORT/$DSN_DATABASE"

  SECRET_VALUES+=("${KEAP_CLIENT_SECRET:-}" "${KEAP_API_KEY:-}" "${ADMIN_TOKEN:-}" "${KEAP_WEBHOOK_SECRET:-}" "${STATE_SECRET:-}")
  if [ -n "${KEAP_CLIENT_ID:-}" ] && [ -n "${KEAP_CLIENT_SECRET:-}" ]; then
    info "Keap: OAuth app $KEAP_CLIENT_ID${KEAP_API_KEY:+ (and a service account key)}"
  elif [ -n "${KEAP_CLIENT_ID:-}${KEAP_CLIENT_SECRET:-}" ]; then
    fail "set both KEAP_CLIENT_ID and KEAP_CLIENT_SECRET (the Keap OAuth app), or neither"
  elif [ -n "${KEAP_API_KEY:-}" ]; then
    info "Keap: service account key (KEAP_API_KEY), no OAuth app"
  else
    fail "no Keap credentials: set KEAP_CLIENT_ID and KEAP_CLIENT_SECRET (OAuth app), or KEAP_API_KEY"
  fi

  REGISTER_HOOKS="${REGISTER_HOOKS:-true}"
  case "$REGISTER_HOOKS" in
    true | false) ;;
    *) fail "REGISTER_HOOKS must be true or false, not '$REGISTER_HOOKS'" ;;
  esac
  HYPERDRIVE_NAME="${HYPERDRIVE_NAME:-keap-supabase-sync}"
  KV_NAMESPACE_TITLE="${KV_NAMESPACE_TITLE:-keap-supabase-sync-cache}"

  generate_secret ADMIN_TOKEN
  generate_secret KEAP_WEBHOOK_SECRET
  generate_secret STATE_SECRET
  derive_urls
}

derive_urls() { # the workers' URLs: *_URL settings, else from WORKERS_SUBDOMAIN
  local i name key url subdomain
  subdomain="${WORKERS_SUBDOMAIN:-}"
  subdomain="${subdomain#https://}"
  subdomain="${subdomain%/}"
  subdomain="${subdomain%.workers.dev}"
  WORKER_URLS=()
  URLS_KNOWN=true
  for i in 0 1 2; do
    name="${WORKER_NAMES[$i]}"
    key="${URL_SETTINGS[$i]}"
    url="$(setting "$key")"
    url="${url%/}"
    if [ -n "$url" ]; then
      [[ "$url" =~ ^https?://[^/]+ ]] || fail "$key must be an http(s) URL, not '$url'"
    elif [ -n "$subdomain" ]; then
      url="https://$name.$subdomain.workers.dev"
    else
      url="https://$name.<your-subdomain>.workers.dev"
      URLS_KNOWN=false
    fi
    WORKER_URLS+=("$url")
  done
  COORDINATOR="${WORKER_URLS[0]}"
  SYNC_WORKER="${WORKER_URLS[1]}"
  WEBHOOK_HANDLER="${WORKER_URLS[2]}"
  REDIRECT_URI="${KEAP_REDIRECT_URI:-$COORDINATOR/oauth/callback}"
  WEBHOOK_PUBLIC_URL="$WEBHOOK_HANDLER/webhook"
  if [ "$URLS_KNOWN" = false ]; then
    info "WORKERS_SUBDOMAIN is not set: the first deploy will tell it"
  fi
}

step_wrangler() {
  step "Wrangler and Cloudflare login"
  find_wrangler
  # wrangler reads these from the environment (an API token instead of `wrangler login`).
  if [ -n "${CLOUDFLARE_API_TOKEN:-}" ]; then export CLOUDFLARE_API_TOKEN; fi
  if [ -n "${CLOUDFLARE_ACCOUNT_ID:-}" ]; then export CLOUDFLARE_ACCOUNT_ID; fi
  local out="$WORK/version" version major account
  wrangler_run "$out" --version || fail "wrangler --version failed:
$(wrangler_output "$out")"
  version="$(grep -Eo '[0-9]+\.[0-9]+\.[0-9]+' "$out" | head -n 1 || true)"
  major="${version%%.*}"
  [ -n "$version" ] || fail "could not tell the wrangler version from: $(wrangler_output "$out")"
  [ "$major" = 4 ] || fail "wrangler $version is not supported: this needs wrangler 4 (npm ci installs the pinned one)"
  info "wrangler $version"

  out="$WORK/whoami.json"
  wrangler_run "$out" whoami --json || true # exits 1 when not logged in; the JSON says so
  if ! account="$(helper whoami "$out" "${CLOUDFLARE_ACCOUNT_ID:-}" 2>"$WORK/whoami.err")"; then
    [ -s "$out.err" ] && printf '\nwrangler said:\n%s\n' "$(wrangler_output "$out")" >>"$WORK/whoami.err"
    fail "$(cat "$WORK/whoami.err")"
  fi
  CLOUDFLARE_ACCOUNT_ID="${account%%$'\t'*}"
  export CLOUDFLARE_ACCOUNT_ID
  account="${account#*$'\t'}"
  info "logged in as ${account#*$'\t'}; account ${account%%$'\t'*} ($CLOUDFLARE_ACCOUNT_ID)"
}

toml_id() { # toml_id PACKAGE TABLE BINDING: the id there, unless it is the placeholder
  local id
  id="$(helper toml-id "$ROOT/$1/wrangler.toml" "$2" "$3")"
  [ "$id" = "$PLACEHOLDER_ID" ] && id=""
  printf '%s' "$id"
}

step_kv() {
  step "KV namespace ($KV_NAMESPACE_TITLE)"
  local out="$WORK/kv.json" current
  current="$(toml_id sync_coordinator kv_namespaces SYNC_CACHE)"
  wrangler_run "$out" kv namespace list || fail "wrangler kv namespace list failed:
$(wrangler_output "$out")"
  KV_ID="$(helper kv-find "$out" "$KV_NAMESPACE_TITLE" "$current" 2>"$WORK/kv.err")" || fail "$(cat "$WORK/kv.err")"
  if [ -n "$KV_ID" ]; then
    info "reusing namespace $KV_ID"
    return 0
  fi
  wrangler_change "$WORK/kv-create" kv namespace create "$KV_NAMESPACE_TITLE" ||
    fail "wrangler kv namespace create failed:
$(wrangler_output "$WORK/kv-create")"
  if [ "$DRY_RUN" = true ]; then
    KV_ID="<new KV namespace id>"
    return 0
  fi
  wrangler_run "$out" kv namespace list || fail "wrangler kv namespace list failed:
$(wrangler_output "$out")"
  KV_ID="$(helper kv-find "$out" "$KV_NAMESPACE_TITLE" "")" || fail "could not read the namespace list"
  [ -n "$KV_ID" ] || fail "the namespace $KV_NAMESPACE_TITLE was created but is not in wrangler kv namespace list"
  info "created namespace $KV_ID"
}

hyperdrive_get() { # hyperdrive_get ID: sets HD_ORIGIN (id name host port db user) or returns 1
  local out="$WORK/hyperdrive-get.json"
  wrangler_run "$out" hyperdrive get "$1" || return 1
  HD_ORIGIN="$(helper hyperdrive-origin "$out" 2>"$WORK/hd.err")" || fail "$(cat "$WORK/hd.err")"
}

step_hyperdrive() {
  step "Hyperdrive ($HYPERDRIVE_NAME)"
  local current out="$WORK/hyperdrive-list.txt" have action=""
  current="$(toml_id sync_coordinator hyperdrive HYPERDRIVE)"
  HD_ID=""
  if [ -n "$current" ] && hyperdrive_get "$current"; then
    HD_ID="$current"
  else
    [ -n "$current" ] && info "the Hyperdrive id in wrangler.toml ($current) is not in this account; looking it up by name"
    wrangler_run "$out" hyperdrive list || fail "wrangler hyperdrive list failed:
$(wrangler_output "$out")"
    HD_ID="$(helper hyperdrive-table "$out" "$HYPERDRIVE_NAME" 2>"$WORK/hd.err")" || fail "$(cat "$WORK/hd.err")"
    if [ -n "$HD_ID" ]; then
      hyperdrive_get "$HD_ID" || fail "wrangler hyperdrive get $HD_ID failed:
$(wrangler_output "$WORK/hyperdrive-get.json")"
    fi
  fi

  if [ -z "$HD_ID" ]; then
    wrangler_change "$WORK/hd-create" hyperdrive create "$HYPERDRIVE_NAME" \
      --connection-string "$SUPABASE_DB_URL" --caching-disabled ||
      fail "wrangler hyperdrive create failed:
$(wrangler_output "$WORK/hd-create")
(Hyperdrive connects to the database when it is created: check SUPABASE_DB_URL is the direct connection string, see manual-setup.md)"
    if [ "$DRY_RUN" = true ]; then
      HD_ID="<new Hyperdrive id>"
      return 0
    fi
    wrangler_run "$out" hyperdrive list || fail "wrangler hyperdrive list failed:
$(wrangler_output "$out")"
    HD_ID="$(helper hyperdrive-table "$out" "$HYPERDRIVE_NAME")" || fail "could not read the Hyperdrive list"
    [ -n "$HD_ID" ] || fail "$HYPERDRIVE_NAME was created but is not in wrangler hyperdrive list"
    hyperdrive_get "$HD_ID" || fail "wrangler hyperdrive get $HD_ID failed:
$(wrangler_output "$WORK/hyperdrive-get.json")"
    info "created Hyperdrive configuration $HD_ID"
    return 0
  fi

  # The origin Hyperdrive has (it never shows the password) against SUPABASE_DB_URL's.
  have="$(printf '%s' "$HD_ORIGIN" | cut -f3-6)"
  if [ "$have" != "$DB_ORIGIN" ]; then
    action="its origin differs from SUPABASE_DB_URL"
  elif [ "$UPDATE_HYPERDRIVE" = true ]; then
    action="--update-hyperdrive"
  fi
  if [ -n "$action" ]; then
    info "updating $HD_ID: $action"
    wrangler_change "$WORK/hd-update" hyperdrive update "$HD_ID" --connection-string "$SUPABASE_DB_URL" ||
      fail "wrangler hyperdrive update failed:
$(wrangler_output "$WORK/hd-update")"
  else
    info "reusing Hyperdrive configuration $HD_ID (origin $(printf '%s' "$have" | tr '\t' ' '))"
  fi
}

step_configs() {
  step "Worker configs (wrangler.toml ids)"
  local package file result
  for package in "${PACKAGES[@]}"; do
    file="$ROOT/$package/wrangler.toml"
    if [ "$DRY_RUN" = true ]; then
      [ -n "$(helper toml-id "$file" kv_namespaces SYNC_CACHE)" ] &&
        info "[dry-run] would set SYNC_CACHE id = $KV_ID in $package/wrangler.toml"
      [ -n "$(helper toml-id "$file" hyperdrive HYPERDRIVE)" ] &&
        info "[dry-run] would set HYPERDRIVE id = $HD_ID in $package/wrangler.toml"
      continue
    fi
    result="$(helper toml-set-id "$file" kv_namespaces SYNC_CACHE "$KV_ID" \
      "deploy.sh: KV namespace $KV_NAMESPACE_TITLE")" || fail "could not write $package/wrangler.toml"
    [ "$result" = absent ] || info "$package/wrangler.toml: SYNC_CACHE $KV_ID ($result)"
    result="$(helper toml-set-id "$file" hyperdrive HYPERDRIVE "$HD_ID" \
      "deploy.sh: Hyperdrive $HYPERDRIVE_NAME")" || fail "could not write $package/wrangler.toml"
    [ "$result" = absent ] || info "$package/wrangler.toml: HYPERDRIVE $HD_ID ($result)"
  done
}

step_bundles() {
  step "Bundles (tools/bundle.py)"
  local args=()
  read -r -a args <<<"${DEPLOY_BUNDLE_ARGS:-}"
  if [ "$DRY_RUN" = true ]; then
    info "[dry-run] would run: python tools/bundle.py ${DEPLOY_BUNDLE_ARGS:-}"
    return 0
  fi
  info "\$ python tools/bundle.py ${DEPLOY_BUNDLE_ARGS:-}"
  (cd "$ROOT" && "$PY" tools/bundle.py ${args[@]+"${args[@]}"} >"$WORK/bundle.out" 2>&1) ||
    fail "tools/bundle.py could not build the bundles:
$(tail -n 15 "$WORK/bundle.out")"
  info "built build/sync_coordinator, build/sync_worker, build/webhook_handler"
}

step_migrations() {
  step "Database migrations"
  local dsn_name=SUPABASE_DB_URL
  [ -n "${MIGRATIONS_DB_URL:-}" ] && dsn_name=MIGRATIONS_DB_URL
  if [ "$DRY_RUN" = true ]; then
    info "[dry-run] would run: python -m shared.store.migrate (DATABASE_URL=\$$dsn_name)"
    return 0
  fi
  info "\$ python -m shared.store.migrate (DATABASE_URL=\$$dsn_name)"
  if ! (cd "$ROOT" && DATABASE_URL="$(setting "$dsn_name")" "$PY" -m shared.store.migrate \
    >"$WORK/migrate.out" 2>&1 </dev/null); then
    local hint=""
    case "$MIGRATIONS_HOST" in
      db.*.supabase.co) hint="
The direct host db.<ref>.supabase.co is IPv6-only unless the project has the IPv4 add-on: from a
machine without IPv6, set MIGRATIONS_DB_URL to the session pooler string (…pooler.supabase.com:5432)." ;;
    esac
    fail "$(tail -n 5 "$WORK/migrate.out")$hint"
  fi
  info "$(tail -n 1 "$WORK/migrate.out")"
}

put_secrets() { # put_secrets WORKER NAME...: `wrangler secret bulk`, the JSON on stdin
  local worker="$1" name names=() out="$WORK/secrets-$1" shown
  shift
  for name in "$@"; do
    [ -n "$(setting "$name")" ] && names+=("$name")
  done
  shown="$(printf '"%s":"****",' "${names[@]}")"
  if [ "$DRY_RUN" = true ]; then
    show_command --would secret bulk --name "$worker"
    info "    stdin: {${shown%,}}"
    return 0
  fi
  show_command secret bulk --name "$worker"
  info "    stdin: {${shown%,}}"
  (
    for name in "${names[@]}"; do export "${name?}"; done
    helper secrets-json "${names[@]}"
  ) | (cd "$WORK" && NO_COLOR=1 FORCE_COLOR=0 "${WRANGLER_CMD[@]}" secret bulk --name "$worker" >"$out" 2>"$out.err") ||
    fail "wrangler secret bulk --name $worker failed:
$(wrangler_output "$out")"
  grep -q 'No content found' "$out.err" "$out" 2>/dev/null &&
    fail "wrangler secret bulk --name $worker read no secrets from stdin"
  info "set ${names[*]} on $worker"
}

step_secrets() {
  step "Secrets (each worker only the ones it uses)"
  put_secrets sync-coordinator "${COORDINATOR_SECRETS[@]}"
  put_secrets sync-worker "${SYNC_WORKER_SECRETS[@]}"
  put_secrets webhook-handler "${WEBHOOK_HANDLER_SECRETS[@]}"
}

deploy_worker() { # deploy_worker INDEX [--no-vars]: deploy one bundle; sets DEPLOYED_URL
  local i="$1" package="${PACKAGES[$1]}" name="${WORKER_NAMES[$1]}" vars=() out
  out="$WORK/deploy-$name"
  if [ "$i" = 0 ] && [ "${2:-}" != --no-vars ]; then
    vars=(--var "KEAP_REDIRECT_URI:$REDIRECT_URI" --var "WEBHOOK_PUBLIC_URL:$WEBHOOK_PUBLIC_URL")
  fi
  if [ "$i" = 1 ] && [ -n "$(setting RUN_RETENTION_DAYS)" ]; then
    vars=(--var "RUN_RETENTION_DAYS:$(setting RUN_RETENTION_DAYS)")
  fi
  DEPLOYED_URL=""
  if [ "$DRY_RUN" = true ]; then
    show_command --would deploy --config "build/$package/wrangler.toml" ${vars[@]+"${vars[@]}"}
    return 0
  fi
  show_command deploy --config "build/$package/wrangler.toml" ${vars[@]+"${vars[@]}"}
  rm -f "$out.ndjson"
  (cd "$ROOT/build/$package" && NO_COLOR=1 FORCE_COLOR=0 WRANGLER_OUTPUT_FILE_PATH="$out.ndjson" \
    "${WRANGLER_CMD[@]}" deploy --config "$ROOT/build/$package/wrangler.toml" ${vars[@]+"${vars[@]}"} \
    </dev/null >"$out" 2>"$out.err") ||
    fail "wrangler deploy of $name failed:
$(wrangler_output "$out")"
  DEPLOYED_URL="$(helper deploy-url "$out.ndjson" "$name")"
  if [ -n "$DEPLOYED_URL" ]; then
    info "deployed $name: $DEPLOYED_URL"
  elif [ -n "$(setting "${URL_SETTINGS[$i]}")" ]; then
    info "deployed $name (no workers.dev URL; using ${URL_SETTINGS[$i]})"
  else
    fail "wrangler deployed $name but reported no workers.dev URL: enable the workers.dev
subdomain (dashboard: Workers & Pages > your subdomain) or set ${URL_SETTINGS[$i]} in .env"
  fi
}

step_deploy() {
  step "Deploy (sync-coordinator, then sync-worker, then webhook-handler)"
  local i expected subdomain
  if [ "$URLS_KNOWN" = false ] && [ "$DRY_RUN" = false ]; then
    # The URLs are not known before a first deploy: it tells the account's subdomain.
    deploy_worker 0 --no-vars
    [ -n "$DEPLOYED_URL" ] || fail "could not learn the workers.dev subdomain; set WORKERS_SUBDOMAIN in .env"
    subdomain="${DEPLOYED_URL#https://sync-coordinator.}"
    WORKERS_SUBDOMAIN="${subdomain%.workers.dev}"
    (export WORKERS_SUBDOMAIN && helper env-set "$ENV_FILE" WORKERS_SUBDOMAIN) ||
      fail "could not write WORKERS_SUBDOMAIN into $ENV_FILE"
    info "the account's workers.dev subdomain is $WORKERS_SUBDOMAIN (written to $(display_path "$ENV_FILE"))"
    derive_urls
  fi
  for i in 0 1 2; do
    deploy_worker "$i"
    expected="${WORKER_URLS[$i]}"
    if [ -n "$DEPLOYED_URL" ] && [ -z "$(setting "${URL_SETTINGS[$i]}")" ] && [ "$DEPLOYED_URL" != "$expected" ]; then
      fail "${WORKER_NAMES[$i]} is at $DEPLOYED_URL, not $expected: fix WORKERS_SUBDOMAIN in .env"
    fi
  done
}

step_health() {
  step "Health checks"
  if [ "$DRY_RUN" = true ]; then
    info "[dry-run] would check GET <worker>/health on the three workers"
    return 0
  fi
  local i line verdict failures=""
  for i in 0 1 2; do
    line="$(helper probe health "${WORKER_URLS[$i]}" "${HEALTH_TIMEOUT:-90}")"
    verdict="${line%%$'\t'*}"
    info "${WORKER_NAMES[$i]}: ${line#*$'\t'}"
    if [ "$verdict" != PASS ]; then
      failures+="${WORKER_NAMES[$i]} at ${WORKER_URLS[$i]}/health: ${line#*$'\t'}
  (its logs: npx wrangler tail ${WORKER_NAMES[$i]})
"
    fi
  done
  [ -z "$failures" ] || fail "not healthy:
$failures"
}

step_hooks() {
  step "Keap REST hooks"
  if [ "$REGISTER_HOOKS" != true ]; then
    info "skipped (REGISTER_HOOKS=false)"
    return 0
  fi
  if [ "$DRY_RUN" = true ]; then
    info "[dry-run] would POST $COORDINATOR/hooks/register (admin token)"
    return 0
  fi
  local line
  line="$(export ADMIN_TOKEN && helper probe register "$COORDINATOR")"
  case "${line%%$'\t'*}" in
    PASS) info "registered: ${line#*$'\t'}" ;;
    WARN) warn "${line#*$'\t'}" ;;
    *) fail "POST $COORDINATOR/hooks/register: ${line#*$'\t'}" ;;
  esac
}

summary() {
  local account hook_url line
  if [ "$DRY_RUN" = true ]; then
    printf '\nDry run finished: nothing was changed.\n'
  else
    printf '\nDeployed.\n'
  fi
  printf '    %-17s %s\n' "${WORKER_NAMES[0]}" "$COORDINATOR" "${WORKER_NAMES[1]}" "$SYNC_WORKER" \
    "${WORKER_NAMES[2]}" "$WEBHOOK_HANDLER"
  printf '\n  OAuth redirect URL (Keap developer portal > your app > Redirect URI):\n    %s\n' "$REDIRECT_URI"
  account="$(helper toml-var "$ROOT/sync_coordinator/wrangler.toml" DEFAULT_ACCOUNT)"
  hook_url="$(export WEBHOOK_PUBLIC_URL KEAP_WEBHOOK_SECRET && helper hook-url "${account:-default}" 2>&1)" ||
    hook_url="(not available: $hook_url)"
  [ "$DRY_RUN" = true ] && hook_url="$WEBHOOK_PUBLIC_URL?account=${account:-default}&token=<HMAC of KEAP_WEBHOOK_SECRET>"
  printf '\n  Authenticated webhook URL for Keap (account %s; it carries a token, keep it private):\n    %s\n' \
    "${account:-default}" "$hook_url"
  if [ "$DRY_RUN" = false ] && [ -n "${KEAP_CLIENT_ID:-}" ]; then
    line="$(export ADMIN_TOKEN && helper probe oauth "$COORDINATOR")"
    case "$line" in
      PASS*) printf '\n  Keap: %s\n' "${line#*$'\t'}" ;;
      *)
        line="$(export ADMIN_TOKEN && helper probe initiate "$COORDINATOR")"
        if [ "${line%%$'\t'*}" = PASS ]; then
          printf '\n  Connect Keap: open this one-time link within 10 minutes, then run ./deploy.sh again\n'
          printf '  to register the hooks:\n    %s\n' "${line#*$'\t'}"
        fi
        ;;
    esac
  fi
  printf '\n  Check it any time: ./validate-deployment.sh\n'
}

usage() { sed -n '2,22p' "$ROOT/deploy.sh" | sed 's/^# \{0,1\}//'; }

main() {
  ENV_FILE="$ROOT/.env"
  UPDATE_HYPERDRIVE=false
  while [ $# -gt 0 ]; do
    case "$1" in
      --dry-run) DRY_RUN=true ;;
      --update-hyperdrive) UPDATE_HYPERDRIVE=true ;;
      --env-file)
        [ $# -ge 2 ] || fail "--env-file needs a file"
        ENV_FILE="$2"
        shift
        ;;
      -h | --help)
        usage
        return 0
        ;;
      *) fail "unknown option '$1' (try --help)" ;;
    esac
    shift
  done
  prepare_run
  [ "$DRY_RUN" = true ] && printf 'Dry run: commands that change anything are printed, not run.\n'

  step_configuration
  step_wrangler
  step_kv
  step_hyperdrive
  step_configs
  step_bundles
  step_migrations
  step_secrets
  step_deploy
  step_health
  step_hooks
  summary
}


# validate-deployment.sh sources this file for its helpers; only running it deploys.
if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  main "$@"
fi
