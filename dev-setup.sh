#!/usr/bin/env bash
# Local development: set up, run the three workers + Keap sandbox + Postgres, test.
#
#   ./dev-setup.sh            set up (virtualenv, Python and npm dependencies, local state)
#   ./dev-setup.sh start-all  set up if needed, start everything in the background, wait until healthy
#   ./dev-setup.sh stop-all   stop exactly what start-all started
#   ./dev-setup.sh status     what is running and how healthy it is
#   ./dev-setup.sh test-all   set up if needed and run the whole test suite (lint included)
#   ./dev-setup.sh clean      stop, then remove local state (add --all to drop .venv and node_modules)
#
# start-all gives up after START_TIMEOUT seconds (default 90), stopping what it started.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$ROOT"
VENV="$ROOT/.venv"
PY="$VENV/bin/python"
STATE="${LOCAL_STATE_DIR:-$ROOT/.state}"
PIDFILE="$STATE/runtime.pid"
LOGFILE="$STATE/runtime.log"
PORTS=(8787 8788 8789)
NAMES=(sync-coordinator sync-worker webhook-handler)

say() { printf '==> %s\n' "$*"; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

need() {
  command -v "$1" >/dev/null 2>&1 || die "$1 is missing: $2"
}

python_ok() {
  "$1" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' 2>/dev/null
}

find_python() {
  for candidate in "${PYTHON:-}" python3.13 python3.12 python3.11 python3; do
    [ -n "$candidate" ] || continue
    if command -v "$candidate" >/dev/null 2>&1 && python_ok "$candidate"; then
      command -v "$candidate"
      return 0
    fi
  done
  return 1
}

# Stamps live beside what they describe, so a fresh state folder does not reinstall.
stamp_ok() { # stamp_ok STAMPFILE FILE...: true when FILEs are unchanged since the stamp was written
  local stamp="$1"
  shift
  [ -f "$stamp" ] && [ "$(cat "$@" | sha256sum | cut -d' ' -f1)" = "$(cat "$stamp")" ]
}

stamp_write() {
  local stamp="$1"
  shift
  cat "$@" | sha256sum | cut -d' ' -f1 >"$stamp"
}

setup() {
  mkdir -p "$STATE"
  if [ ! -x "$PY" ] || ! python_ok "$PY"; then
    local python
    python="$(find_python)" || die "Python 3.11 or newer is needed (set PYTHON=/path/to/python3.11+)"
    say "creating virtualenv in .venv with $python"
    rm -rf "$VENV"
    "$python" -m venv "$VENV" || die "could not create a virtualenv (Debian: apt-get install python3-venv)"
  fi
  if ! stamp_ok "$VENV/.stamp" pyproject.toml; then
    say "installing Python dependencies"
    "$PY" -m pip install --quiet --upgrade pip >/dev/null
    "$PY" -m pip install --quiet -e ".[dev]" || die "pip install failed (is PyPI reachable?)"
    stamp_write "$VENV/.stamp" pyproject.toml
  fi
  if [ -f package.json ]; then
    need npm "install Node.js 20+ and npm (wrangler needs them)"
    if [ ! -x node_modules/.bin/wrangler ] || ! stamp_ok node_modules/.stamp package.json package-lock.json; then
      say "installing npm dependencies (wrangler)"
      npm ci --no-audit --no-fund --loglevel=error >/dev/null || die "npm ci failed (is the npm registry reachable?)"
      stamp_write node_modules/.stamp package.json package-lock.json
    fi
  fi
  say "set up: .venv, node_modules, state in ${STATE#"$ROOT"/}"
}

running_pid() {
  [ -f "$PIDFILE" ] || return 1
  local pid
  pid="$(cat "$PIDFILE")"
  kill -0 "$pid" 2>/dev/null && echo "$pid"
}

health_code() {
  curl -s -o /dev/null -w '%{http_code}' --max-time 5 "http://127.0.0.1:$1/health" || true
}

start_all() {
  setup
  if pid="$(running_pid)"; then
    say "already running (pid $pid)"
    status
    return 0
  fi
  for port in "${PORTS[@]}" 8790; do
    if (echo >"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      die "port $port is already in use by another program; stop it first"
    fi
  done
  say "starting the local runtime (log: ${LOGFILE#"$ROOT"/})"
  nohup "$PY" -m local >"$LOGFILE" 2>&1 &
  pid=$!
  echo "$pid" >"$PIDFILE"
  local timeout="${START_TIMEOUT:-90}" # seconds until start-all gives up
  local deadline=$((SECONDS + timeout))
  while :; do
    local healthy=0
    for port in "${PORTS[@]}"; do
      [ "$(health_code "$port")" = 200 ] && healthy=$((healthy + 1))
    done
    [ "$healthy" -eq "${#PORTS[@]}" ] && break
    if ! kill -0 "$pid" 2>/dev/null; then
      start_failed "$pid" "the local runtime exited during start-up (log above)"
    fi
    if [ "$SECONDS" -ge "$deadline" ]; then
      start_failed "$pid" "not healthy after $timeout s (log above); stopped what start-all started"
    fi
    sleep 0.5
  done
  say "all three workers are healthy"
  for i in "${!PORTS[@]}"; do
    printf '    %-17s http://127.0.0.1:%s\n' "${NAMES[$i]}" "${PORTS[$i]}"
  done
  printf '    %-17s http://127.0.0.1:%s\n' "keap-sandbox" 8790
  printf '    admin token       in %s (ADMIN_TOKEN)\n' "${STATE#"$ROOT"/}/local-secrets.json"
  say "first sync from the Keap sandbox into Postgres"
  LOCAL_STATE_DIR="$STATE" "$PY" -m local status --wait 120 2>/dev/null || say "could not read /sync/status (see $LOGFILE)"
  if ! kill -0 "$pid" 2>/dev/null; then
    start_failed "$pid" "the local runtime stopped during start-up (log above)"
  fi
  printf '    stop with         ./dev-setup.sh stop-all\n'
}

start_failed() { # start_failed PID MESSAGE: show why, stop what start-all started, fail
  printf -- '--- last lines of %s ---\n' "$LOGFILE" >&2
  tail -n 30 "$LOGFILE" >&2 || true
  printf -- '---\n' >&2
  stop_runtime "$1"
  die "$2"
}

stop_runtime() { # stop_runtime PID: TERM, up to 30 s to finish, then KILL; then its Postgres
  local pid="$1"
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 60); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.5
    done
    if kill -0 "$pid" 2>/dev/null; then
      say "did not stop in 30 s; killing it"
      kill -KILL "$pid" 2>/dev/null || true
    fi
  fi
  rm -f "$PIDFILE"
  # A runtime killed without a chance to clean up leaves its Postgres behind.
  if [ -x "$PY" ] && [ -f "$STATE/postgres/postmaster.pid" ]; then
    LOCAL_STATE_DIR="$STATE" "$PY" -m local stop-postgres || true
  fi
}

stop_all() {
  if pid="$(running_pid)"; then
    say "stopping the local runtime (pid $pid)"
    stop_runtime "$pid"
  else
    say "the local runtime is not running"
    stop_runtime ""
  fi
}

status() {
  if pid="$(running_pid)"; then
    say "local runtime running (pid $pid)"
  else
    say "local runtime not running"
  fi
  for i in "${!PORTS[@]}"; do
    printf '    %-17s http://127.0.0.1:%s/health -> %s\n' "${NAMES[$i]}" "${PORTS[$i]}" "$(health_code "${PORTS[$i]}")"
  done
}

find_chromium() {
  for candidate in "${CHROMIUM:-}" chromium chromium-browser google-chrome; do
    [ -n "$candidate" ] && command -v "$candidate" >/dev/null 2>&1 && { command -v "$candidate"; return 0; }
  done
  return 1
}

ensure_chromium() { # the status page test reads the page in a real headless browser
  find_chromium >/dev/null && return 0
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    say "installing Debian's chromium (for the status page test)"
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; } >/dev/null \
      || die "apt-get install chromium failed"
  else
    die "the tests need Chromium: install it (Debian: sudo apt-get install chromium) or set CHROMIUM=/path/to/chrome"
  fi
}

test_all() {
  setup
  ensure_chromium
  say "ruff"
  "$VENV/bin/ruff" check . || die "ruff check found problems"
  "$VENV/bin/ruff" format --check . >/dev/null || die "ruff format: files need formatting (run .venv/bin/ruff format .)"
  say "pytest"
  "$PY" -m pytest "$@"
}

clean() {
  stop_all
  say "removing local state"
  rm -rf "$STATE" build .pytest_cache .ruff_cache
  if [ "${1:-}" = "--all" ]; then
    say "removing .venv and node_modules"
    rm -rf "$VENV" node_modules
  fi
}

command="${1:-setup}"
[ $# -gt 0 ] && shift
case "$command" in
  setup) setup ;;
  start-all) start_all ;;
  stop-all) stop_all ;;
  status) status ;;
  test-all) test_all "$@" ;;
  clean) clean "$@" ;;
  -h | --help | help) sed -n '2,12p' "$0" ;;
  *) die "unknown command '$command' (try: start-all, stop-all, status, test-all, clean)" ;;
esac
