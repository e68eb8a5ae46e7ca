#!/usr/bin/env bash
# Check a deployment of keap-supabase-sync. Changes nothing.
#
#   ./validate-deployment.sh [full]       everything below
#   ./validate-deployment.sh config-only  wrangler.toml (bindings, no placeholder ids), the
#                                         secrets each worker has (`wrangler secret list`), and
#                                         that the KV namespace and Hyperdrive config exist
#   ./validate-deployment.sh health-only  the live workers: /health of each, the Keap OAuth
#                                         connection, the REST hooks, the last sync
#   --env-file FILE                       read FILE instead of .env
#
# One PASS, WARN or FAIL line per check, then a summary; it keeps going after a failure and
# exits 1 if anything failed. A 404 or an HTML error page never passes.
# Worker URLs: COORDINATOR_URL, SYNC_WORKER_URL and WEBHOOK_HANDLER_URL from .env, else
# https://<worker>.<WORKERS_SUBDOMAIN>.workers.dev. The admin routes use ADMIN_TOKEN from .env.
set -uo pipefail

# deploy.sh's functions: .env loading, the wrangler runner, the Python helper.
# shellcheck source-path=SCRIPTDIR source=deploy.sh disable=SC1091 # followed with shellcheck -x
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/deploy.sh"
set +e # keep going after a failed check

PASSED=0
WARNED=0
FAILED=0

report() { # report PASS|WARN|FAIL MESSAGE
  local verdict="$1"
  shift
  case "$verdict" in
    PASS) PASSED=$((PASSED + 1)) ;;
    WARN) WARNED=$((WARNED + 1)) ;;
    *)
      verdict=FAIL
      FAILED=$((FAILED + 1))
      ;;
  esac
  printf '%-4s  %s\n' "$verdict" "$(mask "$*" | sed '2,$s/^/      /')"
}

report_lines() { # report_lines < "VERDICT<TAB>message" lines
  local line
  while IFS= read -r line; do
    [ -n "$line" ] && report "${line%%$'\t'*}" "${line#*$'\t'}"
  done
}

section() { printf '\n%s\n' "$1"; }

# Setup problems (no Python, an unreadable .env) end the run: nothing can be checked.
# shellcheck disable=SC2329 # called by deploy.sh's functions
fail() {
  report FAIL "$*"
  summarize
}

# shellcheck disable=SC2329 # called by deploy.sh's wrangler_run
show_command() { :; } # the checks print verdicts, not the commands behind them

summarize() {
  printf '\n%s checks: %s passed, %s warnings, %s failed\n' \
    "$((PASSED + WARNED + FAILED))" "$PASSED" "$WARNED" "$FAILED"
  [ "$FAILED" -eq 0 ] && exit 0
  exit 1
}

# --- configuration --------------------------------------------------------------------------

KV_IDS=()
HYPERDRIVE_IDS=()

check_configs() {
  section "Configuration (wrangler.toml)"
  local line
  while IFS= read -r line; do
    case "$line" in
      ID$'\t'kv_namespaces$'\t'*) KV_IDS+=("${line##*$'\t'}") ;;
      ID$'\t'hyperdrive$'\t'*) HYPERDRIVE_IDS+=("${line##*$'\t'}") ;;
      *) report "${line%%$'\t'*}" "${line#*$'\t'}" ;;
    esac
  done < <(helper toml-check "$ROOT")
}

check_cloudflare() {
  section "Cloudflare (wrangler)"
  if ! (find_wrangler) >/dev/null 2>&1; then
    report FAIL "wrangler is not installed (./dev-setup.sh runs npm ci): secrets and resources not checked"
    return
  fi
  find_wrangler
  if [ -n "${CLOUDFLARE_API_TOKEN:-}" ]; then export CLOUDFLARE_API_TOKEN; fi
  if [ -n "${CLOUDFLARE_ACCOUNT_ID:-}" ]; then export CLOUDFLARE_ACCOUNT_ID; fi
  local out="$WORK/out" version account id title worker line host port database user
  if ! wrangler_run "$out" --version; then
    report FAIL "wrangler --version failed: $(wrangler_output "$out")"
    return
  fi
  version="$(grep -Eo '[0-9]+\.[0-9]+\.[0-9]+' "$out" | head -n 1)"
  if [ "${version%%.*}" != 4 ]; then
    report FAIL "wrangler ${version:-of unknown version} is not wrangler 4: secrets and resources not checked"
    return
  fi
  wrangler_run "$out" whoami --json
  if ! account="$(helper whoami "$out" "${CLOUDFLARE_ACCOUNT_ID:-}" 2>&1)"; then
    report FAIL "$account
(secrets and resources not checked)"
    return
  fi
  CLOUDFLARE_ACCOUNT_ID="${account%%$'\t'*}"
  export CLOUDFLARE_ACCOUNT_ID
  report PASS "wrangler $version, logged in (account $CLOUDFLARE_ACCOUNT_ID)"

  if [ "${#KV_IDS[@]}" -eq 0 ]; then
    report FAIL "KV namespace: wrangler.toml has no real SYNC_CACHE id to look up"
  elif ! wrangler_run "$out" kv namespace list; then
    report FAIL "wrangler kv namespace list failed: $(wrangler_output "$out")"
  else
    for id in "${KV_IDS[@]}"; do
      if title="$(helper kv-title "$out" "$id" 2>/dev/null)"; then
        report PASS "KV namespace $id ($title) exists"
      else
        report FAIL "KV namespace $id (SYNC_CACHE in wrangler.toml) is not in this account: run ./deploy.sh"
      fi
    done
  fi

  if [ "${#HYPERDRIVE_IDS[@]}" -eq 0 ]; then
    report FAIL "Hyperdrive: wrangler.toml has no real HYPERDRIVE id to look up"
  fi
  for id in ${HYPERDRIVE_IDS[@]+"${HYPERDRIVE_IDS[@]}"}; do
    if ! wrangler_run "$out" hyperdrive get "$id"; then
      report FAIL "Hyperdrive config $id (HYPERDRIVE in wrangler.toml) is not in this account: $(wrangler_output "$out" | tail -n 3)"
    elif ! line="$(helper hyperdrive-origin "$out" 2>&1)"; then
      report FAIL "$line"
    else
      IFS=$'\t' read -r _ title host port database user <<<"$line"
      if [ "$port" = 6543 ]; then
        report WARN "Hyperdrive $id ($title) points at $host:6543, Supabase's transaction pooler: use the direct connection (port 5432)"
      else
        report PASS "Hyperdrive $id ($title) -> $user@$host:$port/$database"
      fi
    fi
  done

  for worker in "${WORKER_NAMES[@]}"; do
    if ! wrangler_run "$out" secret list --name "$worker" --format json; then
      report FAIL "$worker: wrangler secret list failed (is it deployed?): $(wrangler_output "$out" | head -n 3)"
      continue
    fi
    report_lines < <(helper secrets-check "$out" "$worker" 2>&1) # not a pipe: keep the counts
  done
}

# --- the live workers -----------------------------------------------------------------------

check_workers() {
  section "Workers"
  if [ "$URLS_KNOWN" = false ]; then
    report FAIL "the worker URLs are unknown: set WORKERS_SUBDOMAIN (or COORDINATOR_URL, SYNC_WORKER_URL, WEBHOOK_HANDLER_URL) in .env"
    return
  fi
  local i line
  for i in 0 1 2; do
    line="$(helper probe health "${WORKER_URLS[$i]}")"
    report "${line%%$'\t'*}" "${WORKER_NAMES[$i]} ${WORKER_URLS[$i]}/health: ${line#*$'\t'}"
  done
  if [ -z "${ADMIN_TOKEN:-}" ]; then
    report FAIL "ADMIN_TOKEN is not set in .env: the OAuth, hooks and sync checks need it"
    return
  fi
  line="$(export ADMIN_TOKEN && helper probe oauth "$COORDINATOR")"
  report "${line%%$'\t'*}" "Keap OAuth connection: ${line#*$'\t'}"
  line="$(export ADMIN_TOKEN && helper probe hooks "$COORDINATOR")"
  report "${line%%$'\t'*}" "Keap REST hooks: ${line#*$'\t'}"
  line="$(export ADMIN_TOKEN && helper probe sync "$SYNC_WORKER")"
  report "${line%%$'\t'*}" "last sync: ${line#*$'\t'}"
}

validate() {
  local mode=full
  ENV_FILE="$ROOT/.env"
  while [ $# -gt 0 ]; do
    case "$1" in
      full | health-only | config-only) mode="$1" ;;
      --env-file)
        ENV_FILE="${2:?--env-file needs a file}"
        shift
        ;;
      -h | --help)
        sed -n '2,15p' "$ROOT/validate-deployment.sh" | sed 's/^# \{0,1\}//'
        exit 0
        ;;
      *)
        printf 'unknown argument %s (try --help)\n' "$1" >&2
        exit 2
        ;;
    esac
    shift
  done
  prepare_run
  printf 'Validating the deployment (%s)\n' "$mode"

  find_python
  if [ -f "$ENV_FILE" ]; then
    load_env "$ENV_FILE"
  else
    report WARN "$(display_path "$ENV_FILE") not found: using the environment only"
  fi
  SECRET_VALUES+=("${ADMIN_TOKEN:-}" "${KEAP_CLIENT_SECRET:-}" "${KEAP_API_KEY:-}" "${KEAP_WEBHOOK_SECRET:-}" "${STATE_SECRET:-}")
  derive_urls >/dev/null

  if [ "$mode" != health-only ]; then
    check_configs
    check_cloudflare
  fi
  if [ "$mode" != config-only ]; then
    check_workers
  fi
  summarize
}

validate "$@"
