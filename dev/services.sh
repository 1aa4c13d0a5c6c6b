#!/usr/bin/env bash
# Install and run the real local services firesight's integration tests use:
#   - OpenSearch 2.19 single node: real server jars from Maven Central, run by
#     codelibs' OpenSearchRunner (there is no Docker engine and no tarball
#     download here, only package registries).
#   - PostgreSQL 15: the Debian cluster 15/main, plus a test role/database.
#   - moto_server (AWS API mock) from PyPI, in a private venv, started through
#     dev/moto_server.py (Kinesis resharding as AWS documents it).
#
# Usage: dev/services.sh up|down|status|env
#   up      install what is missing, start what is not running, wait until
#           every service answers, print "name URL log" lines. Idempotent.
#   down    stop what `up` started (by recorded pid; PostgreSQL only if `up`
#           was the one that started it).
#   status  print each service up/down (exit 3 if any is down).
#   env     print `export VAR=value` lines: eval "$(dev/services.sh env)".
#
# Settings (environment):
#   FIRESIGHT_DEV_DIR                  state dir (default <repo>/.dev)
#   FIRESIGHT_DEV_OPENSEARCH_PORT      OpenSearch HTTP port (default 9201)
#   FIRESIGHT_DEV_MOTO_PORT            moto_server port (default 5055)
#   FIRESIGHT_DEV_OPENSEARCH_JAVA_OPTS JVM options (default -Xms512m -Xmx768m)
#   FIRESIGHT_DEV_WAIT_TIMEOUT         seconds to wait for each service (default 180)
set -euo pipefail

# Resolve paths from this file, not from $PWD, so the script works from anywhere.
SCRIPT_DIR=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd -- "$SCRIPT_DIR/.." && pwd)
STATE=${FIRESIGHT_DEV_DIR:-$REPO_ROOT/.dev}

OS_PORT=${FIRESIGHT_DEV_OPENSEARCH_PORT:-9201}
MOTO_PORT=${FIRESIGHT_DEV_MOTO_PORT:-5055}
OS_JAVA_OPTS=${FIRESIGHT_DEV_OPENSEARCH_JAVA_OPTS:--Xms512m -Xmx768m}
WAIT_TIMEOUT=${FIRESIGHT_DEV_WAIT_TIMEOUT:-180}

# Exact pin: moto's API surface shifts between minors; bump deliberately.
MOTO_VERSION=5.2.5
OS_CLUSTER_NAME=firesight-dev
OS_POM=$SCRIPT_DIR/opensearch/pom.xml

PG_VERSION=15
PG_CLUSTER=main
PG_USER=firesight
PG_PASSWORD=firesight
PG_DB=firesight_test

RUN_DIR=$STATE/run
LOG_DIR=$STATE/logs
OS_DIR=$STATE/opensearch
OS_LIB=$OS_DIR/lib
OS_PID=$RUN_DIR/opensearch.pid
OS_LOG=$LOG_DIR/opensearch.log
OS_URL=http://127.0.0.1:$OS_PORT
VENV=$STATE/venv
MOTO_PID=$RUN_DIR/moto.pid
MOTO_LOG=$LOG_DIR/moto.log
MOTO_URL=http://127.0.0.1:$MOTO_PORT
# Marker: present only while PostgreSQL runs because `up` started it, so
# `down` never stops a cluster somebody else was already using.
PG_MARKER=$RUN_DIR/postgres.started-by-up

# Progress goes to stderr so that stdout of `up` is only the summary and
# stdout of `env` is only export lines.
log() { printf '[%s] %s\n' "$1" "${*:2}" >&2; }
die() { log "$1" "ERROR: ${*:2}"; exit 1; }

# Show the end of a log when something fails, so the cause is on screen.
tail_log() {
    if [[ -f $1 ]]; then
        printf -- '--- last lines of %s ---\n' "$1" >&2
        tail -n 25 -- "$1" >&2 || true
    fi
}

# --- process helpers ----------------------------------------------------------

# Print the recorded pid if it is alive and its command line still contains
# $2 (guards against a stale pid file whose pid was reused by something else).
live_pid() {
    local pidfile=$1 pattern=$2 pid
    [[ -s $pidfile ]] || return 1
    pid=$(<"$pidfile")
    [[ $pid =~ ^[0-9]+$ ]] || return 1
    kill -0 "$pid" 2>/dev/null || return 1
    tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline" | grep -qF -- "$pattern" || return 1
    printf '%s\n' "$pid"
}

# Start "$@" detached: its own session (setsid) so it survives this script and
# the terminal, stdin closed, output appended to $log, fd 9 (our lock) closed
# so a long-lived service never holds the lock.
launch() {
    local name=$1 pidfile=$2 logfile=$3
    shift 3
    printf '=== %s started by dev/services.sh at %s ===\n' "$name" "$(date -Is)" >>"$logfile"
    # Non-interactive bash has no job control, so the child is not a process
    # group leader and setsid execs in place: $! is the service's own pid.
    setsid nohup "$@" >>"$logfile" 2>&1 </dev/null 9>&- &
    printf '%s\n' "$!" >"$pidfile"
}

# Poll "$@" once a second until it succeeds. Fail early if the process we
# started has exited; fail with the log path on timeout.
wait_until() {
    local name=$1 pidfile=$2 pattern=$3 logfile=$4 what=$5
    shift 5
    local deadline=$((SECONDS + WAIT_TIMEOUT))
    until "$@"; do
        if [[ -n $pidfile ]] && ! live_pid "$pidfile" "$pattern" >/dev/null; then
            tail_log "$logfile"
            die "$name" "process exited before $what; see log: $logfile"
        fi
        if ((SECONDS >= deadline)); then
            tail_log "$logfile"
            die "$name" "no answer from $what within ${WAIT_TIMEOUT}s; see log: $logfile"
        fi
        sleep 1
    done
}

# SIGTERM (both services shut down cleanly on it), then SIGKILL after 30s.
stop_pid() {
    local name=$1 pidfile=$2 pattern=$3 pid i
    if ! pid=$(live_pid "$pidfile" "$pattern"); then
        rm -f -- "$pidfile"
        log "$name" "not running"
        return 0
    fi
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 60; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.5
    done
    if kill -0 "$pid" 2>/dev/null; then
        log "$name" "pid $pid ignored SIGTERM for 30s; sending SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f -- "$pidfile"
    log "$name" "stopped (pid $pid)"
}

# True if something already accepts TCP connections on 127.0.0.1:$1.
port_busy() { (: <"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# A fresh machine of this kind has these, but install them if missing rather
# than fail (we run as root; apt is one of the reachable registries).
ensure_cmd() {
    local cmd=$1 pkg=$2
    command -v "$cmd" >/dev/null && return 0
    [[ $(id -u) -eq 0 ]] || die setup "'$cmd' is missing; install Debian package $pkg"
    log setup "installing $pkg (for '$cmd')"
    # Serialise apt: the per-service jobs run in parallel.
    flock "$STATE/.apt.lock" sh -c "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $pkg" \
        >>"$LOG_DIR/apt.log" 2>&1 || die setup "apt-get install $pkg failed; see log: $LOG_DIR/apt.log"
}

# --- OpenSearch ---------------------------------------------------------------

os_answers() {
    curl -sf --max-time 5 "$OS_URL/" 2>/dev/null | grep -Eq '"number" *: *"2\.19\.'
}

os_install() {
    ensure_cmd java openjdk-17-jre-headless
    ensure_cmd mvn maven
    # The stamp records the pom's hash: editing the pom re-fetches the jars.
    local want have=""
    want=$(sha256sum <"$OS_POM" | cut -d' ' -f1)
    [[ -f $OS_LIB/.complete ]] && have=$(<"$OS_LIB/.complete")
    [[ $have == "$want" ]] && return 0
    log opensearch "fetching OpenSearch jars from Maven Central (log: $LOG_DIR/opensearch-install.log)"
    rm -rf -- "$OS_LIB" "$OS_LIB.tmp"
    # Copy into a temp dir and rename, so an interrupted fetch never looks done.
    if ! mvn -B -q -f "$OS_POM" dependency:copy-dependencies \
        -DoutputDirectory="$OS_LIB.tmp" >"$LOG_DIR/opensearch-install.log" 2>&1; then
        tail_log "$LOG_DIR/opensearch-install.log"
        die opensearch "maven fetch failed; see log: $LOG_DIR/opensearch-install.log"
    fi
    printf '%s\n' "$want" >"$OS_LIB.tmp/.complete"
    mv -- "$OS_LIB.tmp" "$OS_LIB"
}

# Node settings. The runner copies a commented-out default opensearch.yml
# only when the file is absent, so we own this file and rewrite it each `up`.
# Its CLI-derived settings (http.port, cluster.name, paths) override this file.
os_write_config() {
    mkdir -p -- "$OS_DIR/config" "$OS_DIR/tmp"
    cat >"$OS_DIR/config/opensearch.yml" <<'EOF'
# Written by dev/services.sh on every `up`; edits here are overwritten.
# Loopback only: HTTP and transport must not be reachable from outside.
network.host: 127.0.0.1
# One node, no discovery/bootstrap dance, no production bootstrap checks.
discovery.type: single-node
# A fullish dev disk must not flip indices to read-only under the tests.
cluster.routing.allocation.disk.threshold_enabled: false
EOF
}

os_up() {
    local t0=$SECONDS pid
    if pid=$(live_pid "$OS_PID" OpenSearchRunner); then
        log opensearch "already running (pid $pid)"
    else
        rm -f -- "$OS_PID"
        # The runner silently moves to the next free port if ours is taken,
        # which would leave tests talking to the wrong server: refuse instead.
        port_busy "$OS_PORT" && die opensearch "port $OS_PORT is in use by a process not started by this script (no live pid in $OS_PID)"
        os_install
        os_write_config
        local -a jvm_opts
        read -r -a jvm_opts <<<"$OS_JAVA_OPTS"
        log opensearch "starting on $OS_URL"
        # -baseHttpPort is N-1: the runner gives node i the port base+i.
        launch opensearch "$OS_PID" "$OS_LOG" \
            java "${jvm_opts[@]}" -Djava.io.tmpdir="$OS_DIR/tmp" -Dlog4j2.formatMsgNoLookups=true \
            -cp "$OS_LIB/*" org.codelibs.opensearch.runner.OpenSearchRunner \
            -basePath "$OS_DIR/cluster" -confPath "$OS_DIR/config" \
            -numOfNode 1 -baseHttpPort "$((OS_PORT - 1))" -clusterName "$OS_CLUSTER_NAME"
    fi
    wait_until opensearch "$OS_PID" OpenSearchRunner "$OS_LOG" "$OS_URL/ (OpenSearch 2.19.x)" os_answers
    wait_until opensearch "$OS_PID" OpenSearchRunner "$OS_LOG" "$OS_URL/_cluster/health (yellow)" \
        curl -sf --max-time 35 -o /dev/null "$OS_URL/_cluster/health?wait_for_status=yellow&timeout=30s"
    # Single node: replicas can never be assigned, so new indices default to
    # none and go green. Index creation only honours this as a dynamic
    # cluster setting, not from opensearch.yml; re-asserting it is harmless.
    curl -sf --max-time 30 -o /dev/null -X PUT "$OS_URL/_cluster/settings" \
        -H 'Content-Type: application/json' \
        -d '{"persistent":{"cluster.default_number_of_replicas":0}}' ||
        die opensearch "could not set cluster.default_number_of_replicas; see log: $OS_LOG"
    log opensearch "ready in $((SECONDS - t0))s"
}

# --- PostgreSQL ---------------------------------------------------------------

# Column $1 of `pg_lsclusters` for our cluster (3 = port, 4 = status, 7 = log).
pg_field() { pg_lsclusters -h "$PG_VERSION" "$PG_CLUSTER" 2>/dev/null | awk -v f="$1" '{print $f}'; }
pg_port() { local p; p=$(pg_field 3 2>/dev/null || true); printf '%s\n' "${p:-5432}"; }
pg_log() { local l; l=$(pg_field 7 2>/dev/null || true); printf '%s\n' "${l:-/var/log/postgresql/postgresql-$PG_VERSION-$PG_CLUSTER.log}"; }
pg_url() { printf 'postgres://%s:%s@127.0.0.1:%s/%s\n' "$PG_USER" "$PG_PASSWORD" "$(pg_port)" "$PG_DB"; }

# The test role and database exist and the password works over TCP.
pg_answers() {
    PGPASSWORD=$PG_PASSWORD PGCONNECT_TIMEOUT=5 psql -X -qAt -h 127.0.0.1 -p "$(pg_port)" \
        -U "$PG_USER" -d "$PG_DB" -c 'select 1' >/dev/null 2>&1
}

# Run SQL from stdin as the postgres superuser over the local socket (peer
# auth). cd / because postgres cannot read root's cwd.
pg_superuser_sql() {
    (cd / && runuser -u postgres -- psql -X -q -v ON_ERROR_STOP=1 -p "$(pg_port)" -d postgres)
}

pg_up() {
    local t0=$SECONDS port
    ensure_cmd pg_ctlcluster "postgresql-$PG_VERSION"
    if [[ -z $(pg_field 1) ]]; then
        log postgres "creating cluster $PG_VERSION/$PG_CLUSTER"
        pg_createcluster "$PG_VERSION" "$PG_CLUSTER" >>"$LOG_DIR/postgres-setup.log" 2>&1
    fi
    port=$(pg_port)
    if [[ $(pg_field 4) == online ]]; then
        log postgres "already running (cluster $PG_VERSION/$PG_CLUSTER, port $port)"
    else
        log postgres "starting cluster $PG_VERSION/$PG_CLUSTER on port $port"
        # 9>&-: the postmaster would otherwise inherit our lock fd and hold
        # the lock for as long as it runs.
        pg_ctlcluster "$PG_VERSION" "$PG_CLUSTER" start 9>&- || {
            tail_log "$(pg_log)"
            die postgres "pg_ctlcluster start failed; see log: $(pg_log)"
        }
        touch -- "$PG_MARKER"
    fi
    wait_until postgres "" "" "$(pg_log)" "pg_isready -h 127.0.0.1 -p $port" \
        pg_isready -q -h 127.0.0.1 -p "$port"
    # Idempotent: create or (re)assert the role's attributes and password,
    # then create the database only if it is missing (\gexec runs the
    # generated statement; CREATE DATABASE cannot run inside DO).
    pg_superuser_sql >>"$LOG_DIR/postgres-setup.log" 2>&1 <<SQL || die postgres "role/database setup failed; see log: $LOG_DIR/postgres-setup.log"
DO \$\$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$PG_USER') THEN
    CREATE ROLE $PG_USER LOGIN CREATEDB PASSWORD '$PG_PASSWORD';
  ELSE
    ALTER ROLE $PG_USER LOGIN CREATEDB PASSWORD '$PG_PASSWORD';
  END IF;
END
\$\$;
SELECT 'CREATE DATABASE $PG_DB OWNER $PG_USER'
WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = '$PG_DB')\gexec
SQL
    wait_until postgres "" "" "$LOG_DIR/postgres-setup.log" "password login to $PG_DB over TCP" pg_answers
    log postgres "ready in $((SECONDS - t0))s"
}

pg_down() {
    if [[ ! -f $PG_MARKER ]]; then
        log postgres "left running: it was not started by dev/services.sh up"
        return 0
    fi
    if [[ $(pg_field 4) == online ]]; then
        pg_ctlcluster "$PG_VERSION" "$PG_CLUSTER" stop
        log postgres "stopped cluster $PG_VERSION/$PG_CLUSTER"
    else
        log postgres "not running"
    fi
    rm -f -- "$PG_MARKER"
}

# --- moto_server --------------------------------------------------------------

moto_answers() { curl -sf --max-time 5 -o /dev/null "$MOTO_URL/moto-api/"; }

moto_install() {
    local stamp=$VENV/.firesight-moto-$MOTO_VERSION
    [[ -f $stamp && -x $VENV/bin/moto_server ]] && return 0
    ensure_cmd python3 python3
    log moto "installing moto[server]==$MOTO_VERSION into $VENV (log: $LOG_DIR/moto-install.log)"
    # A venv without a working python (e.g. interrupted creation) is rebuilt.
    if ! "$VENV/bin/python" -c 'import sys' 2>/dev/null; then
        rm -rf -- "$VENV"
        python3 -m venv "$VENV" >"$LOG_DIR/moto-install.log" 2>&1 ||
            die moto "python3 -m venv failed (Debian: apt-get install python3-venv); see log: $LOG_DIR/moto-install.log"
    fi
    rm -f -- "$VENV"/.firesight-moto-*
    # --no-compile: byte-compiling the whole tree (sympy, cfn-lint, botocore
    # come with moto[server]) doubles the install time; moto_server only
    # imports a small part of it, compiled lazily on first start.
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check --no-compile "moto[server]==$MOTO_VERSION" \
        >>"$LOG_DIR/moto-install.log" 2>&1 || {
        tail_log "$LOG_DIR/moto-install.log"
        die moto "pip install failed; see log: $LOG_DIR/moto-install.log"
    }
    touch -- "$stamp"
}

moto_up() {
    local t0=$SECONDS pid
    if pid=$(live_pid "$MOTO_PID" moto_server); then
        log moto "already running (pid $pid)"
    else
        rm -f -- "$MOTO_PID"
        port_busy "$MOTO_PORT" && die moto "port $MOTO_PORT is in use by a process not started by this script (no live pid in $MOTO_PID)"
        moto_install
        log moto "starting on $MOTO_URL"
        # Through dev/moto_server.py: moto_server with Kinesis resharding as AWS documents it.
        launch moto "$MOTO_PID" "$MOTO_LOG" "$VENV/bin/python" "$SCRIPT_DIR/moto_server.py" -H 127.0.0.1 -p "$MOTO_PORT"
    fi
    wait_until moto "$MOTO_PID" moto_server "$MOTO_LOG" "$MOTO_URL/moto-api/" moto_answers
    log moto "ready in $((SECONDS - t0))s"
}

# --- commands -----------------------------------------------------------------

# One lock for up/down so two concurrent runs don't both start a service.
# Every long-lived child must be started with 9>&- (see launch, pg_up).
take_lock() {
    mkdir -p -- "$RUN_DIR" "$LOG_DIR"
    exec 9>"$STATE/.lock"
    flock -w 300 9 || die lock "another dev/services.sh is still running, or something it started holds the lock (see: fuser -v $STATE/.lock)"
}

cmd_up() {
    take_lock
    local t0=$SECONDS failed=0 name
    local -A jobs=()
    # The three are independent: run them in parallel so the Maven fetch,
    # the pip install and the JVM start overlap.
    os_up & jobs[opensearch]=$!
    pg_up & jobs[postgres]=$!
    moto_up & jobs[moto]=$!
    for name in opensearch postgres moto; do
        wait "${jobs[$name]}" || failed=1
    done
    if ((failed)); then
        log up "FAILED: at least one service is not up (see errors above); total $((SECONDS - t0))s"
        return 1
    fi
    log up "all services up in $((SECONDS - t0))s"
    printf '%-11s %-60s log: %s\n' \
        opensearch "$OS_URL" "$OS_LOG" \
        postgres "$(pg_url)" "$(pg_log)" \
        moto "$MOTO_URL" "$MOTO_LOG"
}

cmd_down() {
    take_lock
    stop_pid opensearch "$OS_PID" OpenSearchRunner
    stop_pid moto "$MOTO_PID" moto_server
    pg_down
}

cmd_status() {
    local all=0 pid
    if pid=$(live_pid "$OS_PID" OpenSearchRunner) && os_answers; then
        printf '%-11s up    %s (pid %s)\n' opensearch "$OS_URL" "$pid"
    else
        printf '%-11s down\n' opensearch; all=3
    fi
    if command -v pg_isready >/dev/null && pg_isready -q -h 127.0.0.1 -p "$(pg_port)" && pg_answers; then
        printf '%-11s up    %s\n' postgres "$(pg_url)"
    else
        printf '%-11s down\n' postgres; all=3
    fi
    if pid=$(live_pid "$MOTO_PID" moto_server) && moto_answers; then
        printf '%-11s up    %s (pid %s)\n' moto "$MOTO_URL" "$pid"
    else
        printf '%-11s down\n' moto; all=3
    fi
    return "$all"
}

cmd_env() {
    printf 'export FIRESIGHT_TEST_OPENSEARCH_URL=%s\n' "$OS_URL"
    printf 'export FIRESIGHT_TEST_POSTGRES_URL=%s\n' "$(pg_url)"
    printf 'export FIRESIGHT_TEST_MOTO_URL=%s\n' "$MOTO_URL"
    # moto's venv also has botocore, whose SigV4 the signature-checking proxy of the tests uses.
    printf 'export FIRESIGHT_TEST_PYTHON=%s\n' "$VENV/bin/python"
}

case ${1:-} in
    up) cmd_up ;;
    down) cmd_down ;;
    status) cmd_status ;;
    env) cmd_env ;;
    *)
        printf 'usage: %s up|down|status|env\n' "$0" >&2
        exit 2
        ;;
esac
