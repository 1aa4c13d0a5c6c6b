#!/usr/bin/env bash
# Install what the dashboard's browser test (tests/it/dashboard.rs) needs: Debian's Chromium and the npm
# packages of tests/browser (playwright-core, exactly as package-lock.json pins it). Idempotent: what is
# in place is kept; `npm ci` runs again only when the lock file changed.
#
# Usage: dev/browser.sh
#   Prints the Chromium path; the test reads it from FIRESIGHT_TEST_CHROMIUM or uses /usr/bin/chromium.
#
# Settings (environment):
#   FIRESIGHT_DEV_DIR  state dir (default <repo>/.dev)
set -euo pipefail

# Resolve paths from this file, not from $PWD, so the script works from anywhere.
SCRIPT_DIR=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd -- "$SCRIPT_DIR/.." && pwd)
STATE=${FIRESIGHT_DEV_DIR:-$REPO_ROOT/.dev}
LOG_DIR=$STATE/logs
BROWSER_TESTS=$REPO_ROOT/tests/browser
# The lock file's hash, recorded once `npm ci` succeeded: a changed lock installs again.
STAMP=$BROWSER_TESTS/node_modules/.firesight-lock-sha256

log() { printf '[browser] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

tail_log() {
    if [[ -f $1 ]]; then
        printf -- '--- last lines of %s ---\n' "$1" >&2
        tail -n 25 -- "$1" >&2 || true
    fi
}

# Install a Debian package when its command is missing (as dev/services.sh does; we run as root).
ensure_cmd() {
    local cmd=$1 pkg=$2
    command -v "$cmd" >/dev/null && return 0
    [[ $(id -u) -eq 0 ]] || die "'$cmd' is missing; install Debian package $pkg"
    log "installing $pkg (for '$cmd'; log: $LOG_DIR/apt.log)"
    mkdir -p -- "$STATE" "$LOG_DIR"
    flock "$STATE/.apt.lock" sh -c "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $pkg" \
        >>"$LOG_DIR/apt.log" 2>&1 || {
        tail_log "$LOG_DIR/apt.log"
        die "apt-get install $pkg failed; see log: $LOG_DIR/apt.log"
    }
}

ensure_cmd chromium chromium
ensure_cmd node nodejs
ensure_cmd npm npm

node_major=$(node -p 'process.versions.node.split(".")[0]')
((node_major >= 20)) || die "Node.js $(node --version) is too old for playwright-core; it needs 20 or later"

want=$(sha256sum <"$BROWSER_TESTS/package-lock.json" | cut -d' ' -f1)
have=""
[[ -f $STAMP ]] && have=$(<"$STAMP")
if [[ $have != "$want" ]]; then
    mkdir -p -- "$LOG_DIR"
    log "npm ci in tests/browser (log: $LOG_DIR/npm-ci.log)"
    (cd -- "$BROWSER_TESTS" && npm ci --no-audit --no-fund) >"$LOG_DIR/npm-ci.log" 2>&1 || {
        tail_log "$LOG_DIR/npm-ci.log"
        die "npm ci failed; see log: $LOG_DIR/npm-ci.log"
    }
    printf '%s\n' "$want" >"$STAMP"
fi

printf 'FIRESIGHT_TEST_CHROMIUM=%s\n' "$(command -v chromium)"
